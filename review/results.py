"""Batch results for analysts: a summary and a Parquet export, through DuckDB.

DuckDB reads ``results.jsonl`` directly; nothing is loaded into Python memory row by row. A
streaming pass first checks that every line is a batch record, so a damaged file is reported as
its file and line number (B014), never as a DuckDB error; the export is written to a temporary
file that never outlives a failure (the records hold PHI).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from review.errors import ReviewError


def check_results(results: Path) -> None:
    """Every non-blank line is a JSON object with ``key`` and ``status`` (B014 names the first
    that is not). One line in memory at a time; the message never quotes the line."""
    try:
        with open(results, "rb") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except UnicodeDecodeError as exc:
                    problem = f"is not UTF-8 (byte {exc.start})"
                except json.JSONDecodeError as exc:
                    problem = f"is not valid JSON (column {exc.colno}: {exc.msg})"
                else:
                    if isinstance(record, dict) and "key" in record and "status" in record:
                        continue
                    problem = "is not a batch record (a JSON object with key and status)"
                raise ReviewError(
                    "B014",
                    f"line {lineno} {problem}; the file was cut or edited: remove or fix that "
                    "line (`review batch ... --resume` cuts a torn last line), then rerun",
                    source=str(results),
                )
    except OSError as exc:
        raise ReviewError(
            "B014",
            f"cannot read it ({exc.strerror or type(exc).__name__}); check it is readable",
            source=str(results),
        ) from None


def _connect(folder: Path):
    results = folder / "results.jsonl"
    if not results.is_file():
        raise ReviewError(
            "B005",
            "no results.jsonl here; run `review batch INPUT --out DIR` first",
            source=str(folder),
        )
    try:
        import duckdb
    except ImportError:
        raise ReviewError("B006", "results need DuckDB: pip install -e '.[results]'") from None
    check_results(results)
    conn = duckdb.connect()
    quoted = str(results).replace("'", "''")
    _run(
        conn,
        results,
        f"CREATE VIEW results AS SELECT * FROM read_json_auto('{quoted}', format='newline_delimited', "
        "union_by_name=true, maximum_object_size=134217728)",
    )
    return conn, results


def _run(conn, results: Path, sql: str):
    """A query; DuckDB's own message is left out (it can quote values, and values hold PHI)."""
    import duckdb

    try:
        return conn.execute(sql)
    except duckdb.Error as exc:
        raise ReviewError(
            "B015",
            f"DuckDB cannot read the records ({type(exc).__name__}); check the file was written "
            "by `review batch`, or rerun the batch into a new --out",
            source=str(results),
        ) from None


def summary(folder: Path) -> dict[str, list[tuple]]:
    """Decisions, supported codes, most frequent failing rules and error codes."""
    conn, results = _connect(folder)

    def rows(sql: str) -> list[tuple]:
        return _run(conn, results, sql).fetchall()

    columns = {row[0] for row in rows("DESCRIBE results")}
    out: dict[str, list[tuple]] = {}
    out["status"] = rows("SELECT status, count(*) FROM results GROUP BY 1 ORDER BY 2 DESC, 1")
    if "decision" in columns:
        out["decisions"] = rows(
            "SELECT decision, count(*) FROM results WHERE status = 'ok' GROUP BY 1 ORDER BY 2 DESC, 1"
        )
        out["supported_codes"] = rows(
            "SELECT coalesce(supported_code, 'none'), count(*) FROM results WHERE status = 'ok' GROUP BY 1 ORDER BY 2 DESC, 1"
        )
        out["failing_rules"] = rows(
            "SELECT rule, count(*) FROM (SELECT unnest(failing_rules) AS rule FROM results WHERE status = 'ok') "
            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10"
        )
    if "error" in columns:
        out["errors"] = rows(
            "SELECT error.code, count(*) FROM results WHERE status = 'error' GROUP BY 1 ORDER BY 2 DESC, 1"
        )
    return out


def export_parquet(folder: Path, target: Path | None = None) -> Path:
    """One row per case with the flat columns (the full recommendation stays a JSON column)."""
    import duckdb

    conn, _ = _connect(folder)
    target = target or folder / "results.parquet"
    tmp = target.with_name(target.name + ".tmp")
    quoted = str(tmp).replace("'", "''")
    placed = False
    try:
        conn.execute(
            f"COPY (SELECT * FROM results ORDER BY case_id) TO '{quoted}' (FORMAT PARQUET)"
        )
        tmp.replace(target)
        placed = True
    except (duckdb.Error, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ReviewError(
            "B013",
            f"cannot write the export ({reason}); check the folder exists and is writable and "
            "the target is not a folder",
            source=str(target),
        ) from None
    finally:
        if not placed:
            with contextlib.suppress(OSError):
                tmp.unlink()
    return target

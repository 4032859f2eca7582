"""Batch results for analysts: a summary and a Parquet export, through DuckDB.

DuckDB reads ``results.jsonl`` directly; nothing is loaded into Python memory row by row.
"""

from __future__ import annotations

from pathlib import Path

from review.errors import ReviewError


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
    conn = duckdb.connect()
    quoted = str(results).replace("'", "''")
    conn.execute(
        f"CREATE VIEW results AS SELECT * FROM read_json_auto('{quoted}', format='newline_delimited', "
        "union_by_name=true, maximum_object_size=134217728)"
    )
    return conn


def summary(folder: Path) -> dict[str, list[tuple]]:
    """Decisions, supported codes, most frequent failing rules and error codes."""
    conn = _connect(folder)
    columns = {row[0] for row in conn.execute("DESCRIBE results").fetchall()}
    out: dict[str, list[tuple]] = {}
    out["status"] = conn.execute(
        "SELECT status, count(*) FROM results GROUP BY 1 ORDER BY 2 DESC, 1"
    ).fetchall()
    if "decision" in columns:
        out["decisions"] = conn.execute(
            "SELECT decision, count(*) FROM results WHERE status = 'ok' GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        out["supported_codes"] = conn.execute(
            "SELECT coalesce(supported_code, 'none'), count(*) FROM results WHERE status = 'ok' GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        out["failing_rules"] = conn.execute(
            "SELECT rule, count(*) FROM (SELECT unnest(failing_rules) AS rule FROM results WHERE status = 'ok') "
            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10"
        ).fetchall()
    if "error" in columns:
        out["errors"] = conn.execute(
            "SELECT error.code, count(*) FROM results WHERE status = 'error' GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
    return out


def export_parquet(folder: Path, target: Path | None = None) -> Path:
    """One row per case with the flat columns (the full recommendation stays a JSON column)."""
    conn = _connect(folder)
    target = target or folder / "results.parquet"
    tmp = target.with_name(target.name + ".tmp")
    quoted = str(tmp).replace("'", "''")
    conn.execute(f"COPY (SELECT * FROM results ORDER BY case_id) TO '{quoted}' (FORMAT PARQUET)")
    tmp.replace(target)
    return target

"""``manifest.json``: versions, hashes, the input's identity, settings, counts, timings and how the
run ended (replaced atomically: ``running``, ``finished``, ``limited``, ``interrupted`` or
``failed`` with a reason). ``--resume`` refuses to continue a run made from another input, rules,
lexicons, settings, extractor, prompt or package version unless ``--force`` (recorded here)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from review import __version__
from review.batch.inputs import input_head
from review.batch.options import BatchOptions
from review.batch.results import write_error
from review.errors import ReviewError
from review.extract.registry import ExtractorSpec, extractor_spec

MANIFEST = "manifest.json"


def write_manifest(out: Path, data: dict[str, Any]) -> None:
    """Replace ``manifest.json`` atomically; the temporary file never outlives a failure."""
    tmp = out / (MANIFEST + ".tmp")
    payload = (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")
    placed = False
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, out / MANIFEST)
        placed = True
    except OSError as exc:
        raise write_error(out / MANIFEST, exc, "cannot write manifest.json") from None
    finally:
        if not placed:
            with contextlib.suppress(OSError):
                tmp.unlink()


def read_manifest(out: Path) -> dict[str, Any] | str:
    """The previous run's manifest, or why it cannot be used (a short reason)."""
    path = out / MANIFEST
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return "manifest.json is missing"
    except (OSError, ValueError) as exc:
        return f"manifest.json is unreadable ({type(exc).__name__})"
    if not isinstance(data, dict) or not data.keys() >= _MANIFEST_KEYS:
        return "manifest.json is not a batch manifest"
    return data


_MANIFEST_KEYS = {"version", "input", "policy", "rules_sha256", "lexicons_sha256", "settings"}


def resume_changes(old: dict[str, Any], new: dict[str, Any], input_path: Path) -> list[str]:
    """What differs between the run that wrote the results and this one, each "what old -> new".
    Fields an older manifest does not record are not compared."""
    changes: list[str] = []

    def check(name: str, before: Any, after: Any) -> None:
        if before != after:
            changes.append(f"{name} {_short(before)} -> {_short(after)}")

    old_input = old.get("input_resolved") or str(Path(old["input"]).resolve())
    check("input", old_input, new["input_resolved"])
    old_print = old.get("input_fingerprint") or {}
    new_print = new["input_fingerprint"]
    if old_print.get("kind") != new_print["kind"] and old_print:
        changes.append(f"input kind {old_print.get('kind')} -> {new_print['kind']}")
    elif old_print.get("kind") == "file":
        size = int(old_print.get("head_bytes", 0))
        head = input_head(input_path, size) if input_path.is_file() else b""
        if len(head) != size or hashlib.sha256(head).hexdigest() != old_print.get("head_sha256"):
            changes.append(f"input content (first {size} bytes) changed")
    for name in ("policy", "rules_sha256", "lexicons_sha256"):
        check(name, old.get(name), new[name])
    old_settings, new_settings = old.get("settings") or {}, new["settings"]
    for key in sorted(set(old_settings) | set(new_settings)):
        check(f"settings.{key}", old_settings.get(key), new_settings.get(key))
    old_options, new_options = old.get("options") or {}, new["options"]
    old_extractor = _extractor(old_options.get("extractor", "offline"))
    new_extractor = _extractor(new_options["extractor"])
    # an alias and its version are one extractor ("offline" is "offline.v1")
    check(
        "extractor",
        old_extractor.id if old_extractor else old_options.get("extractor"),
        new_extractor.id if new_extractor else new_options["extractor"],
    )
    if (old_extractor is None or old_extractor.uses_llm) or (
        new_extractor is None or new_extractor.uses_llm
    ):
        check("prompt", old_options.get("prompt"), new_options["prompt"])
        for name in ("prompt_sha256", "llm"):
            if name in old:
                check(name, old.get(name), new.get(name))
    check("version", old.get("version"), new["version"])
    return changes


def _short(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:12]
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def check_resume(
    out: Path, manifest: dict[str, Any], input_path: Path, options: BatchOptions
) -> list[dict[str, Any]]:
    """Refuse to mix records from two different runs (B009/B010) unless forced; returns the
    manifest's ``forced_resumes`` history, with this resume added when it was forced."""
    previous = read_manifest(out)
    if isinstance(previous, str):
        if not options.force:
            raise ReviewError(
                "B010",
                f"{previous} but results.jsonl has records, so which run made them is unknown; "
                "pass --resume --force to continue anyway, or choose a new --out",
                source=str(out),
            )
        changes, history = [previous], []
    else:
        changes = resume_changes(previous, manifest, input_path)
        history = list(previous.get("forced_resumes") or [])
        if changes and not options.force:
            raise ReviewError(
                "B009",
                "this run differs from the one that wrote results.jsonl: "
                + "; ".join(changes)
                + "; resuming would mix their records; pass --resume --force to continue "
                "anyway, or choose a new --out",
                source=str(out),
            )
    if changes:
        history.append(
            {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "changed": changes}
        )
    return history


def _extractor(name: object) -> ExtractorSpec | None:
    """The registry's entry for a name a manifest recorded (None: a name it no longer knows)."""
    try:
        return extractor_spec(str(name))
    except ReviewError:
        return None


def build_manifest(
    input_path: Path, identity: dict[str, Any], options: BatchOptions, policy, config
) -> dict[str, Any]:
    """What the manifest says from the start of a run; the run adds how it ended."""
    from review.lexicon import lexicons_sha256

    manifest = {
        "version": __version__,
        "input": str(input_path),
        **identity,
        "policy": policy.id,
        "rules_sha256": policy.sha256,
        "lexicons_sha256": lexicons_sha256(),
        "options": options.model_dump(exclude={"llm_config"}),
        "settings": policy.settings.model_dump(mode="json"),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if options.uses_llm:
        from review.extract.llm.prompts import load_prompt

        manifest["prompt_sha256"] = load_prompt(options.prompt).sha256
        if config.llm is not None:
            manifest["llm"] = config.llm.model_dump(
                include={"model", "temperature", "seed", "structured_output"}
            )
    return manifest

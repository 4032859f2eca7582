"""Versioned prompts (``prompts/<task>/vN.yaml``), loaded, checked and rendered as messages.

A released version is never edited in place: ``prompts/<task>/RELEASED`` pins the sha256 of
every released version and ``review prompts check`` fails when a released file changed. A change
makes a new version. Rendering needs no LLM library: messages are (role, content) pairs.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from pathlib import Path

import yaml
from pydantic import Field, PrivateAttr, ValidationError

from review.errors import ResourceError, did_you_mean
from review.extract.llm.schema import LLMFacts
from review.resources import bundled_dir
from review.schema import Document, ParsedDocument, Strict
from review.yamlfile import load_yaml


class FewShot(Strict):
    document_id: str
    kind: str = "procedure_note"
    note: str
    output: LLMFacts


class Prompt(Strict):
    id: str
    version: int
    description: str
    system: str
    instructions: str
    examples: list[FewShot] = Field(default_factory=list)
    sha256: str = ""
    _rendered: list[tuple[str, str]] | None = PrivateAttr(default=None)

    @property
    def ref(self) -> str:
        return f"{self.id}/v{self.version}"

    def messages(self, parsed: list[ParsedDocument]) -> list[tuple[str, str]]:
        """System text, few-shot pairs, then the case's documents as numbered sentences."""
        return [*self._preamble(), ("human", render_documents(parsed))]

    def _preamble(self) -> list[tuple[str, str]]:
        """The system text and rendered few-shot pairs: the same for every case, built once."""
        if self._rendered is None:
            from review.parse.documents import parse_documents

            out = [("system", f"{self.system.strip()}\n\n{self.instructions.strip()}")]
            for example in self.examples:
                doc = Document(id=example.document_id, kind=example.kind, text=example.note)
                out.append(("human", render_documents(parse_documents([doc]))))
                out.append(("ai", example.output.model_dump_json(exclude_defaults=True)))
            self._rendered = out
        return self._rendered


def render_documents(parsed: list[ParsedDocument]) -> str:
    """Each document as numbered sentences the model cites as (document_id, sentence id)."""
    blocks = []
    for doc in parsed:
        header = f"<document id={json.dumps(doc.document_id)} kind={json.dumps(doc.kind)}"
        header += f" date={json.dumps(str(doc.date))}>" if doc.date else ">"
        lines = [header]
        for sentence in doc.sentences:
            text = " ".join(doc.text[sentence.start : sentence.end].split())
            lines.append(f"[{sentence.id}] {text}")
        lines.append("</document>")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def prompts_root() -> Path:
    env = os.environ.get("REVIEW_PROMPTS_DIR")
    return Path(env) if env else bundled_dir("prompts")


def available_prompts() -> list[str]:
    root = prompts_root()
    return (
        sorted(f"{p.parent.name}/{p.stem}" for p in root.glob("*/v*.yaml")) if root.is_dir() else []
    )


@cache
def load_prompt(ref: str = "extract_facts/v1") -> Prompt:
    path = prompts_root() / f"{ref}.yaml"
    if not path.is_file():
        known = available_prompts()
        raise ResourceError(
            "P001",
            f"no prompt {ref!r}"
            + did_you_mean(ref, known, f"; known: {', '.join(known) or 'none'}"),
            source=str(path),
        )
    raw = path.read_bytes()
    try:
        prompt = Prompt.model_validate(load_yaml(raw.decode("utf-8")))
    except (yaml.YAMLError, ValidationError, UnicodeDecodeError) as exc:
        raise ResourceError(
            "P002", f"invalid prompt file: {str(exc).splitlines()[0]}", source=str(path)
        ) from None
    if f"{prompt.id}/v{prompt.version}" != ref:
        raise ResourceError(
            "P003", f"file declares {prompt.id}/v{prompt.version}, expected {ref}", source=str(path)
        )
    prompt.sha256 = hashlib.sha256(raw).hexdigest()
    return prompt


def check_prompt(ref: str) -> list[str]:
    """Problems with one prompt file (empty when it is fine)."""
    from review.parse.documents import parse_documents

    problems = []
    prompt = load_prompt(ref)
    released = _released(prompts_root() / prompt.id)
    if f"v{prompt.version}" in released and released[f"v{prompt.version}"] != prompt.sha256:
        problems.append(
            f"[P004] {ref}: released version was edited in place; restore it and make v{prompt.version + 1}"
        )
    for i, example in enumerate(prompt.examples):
        doc = parse_documents(
            [Document(id=example.document_id, kind=example.kind, text=example.note)]
        )[0]
        sentences = {s.id: doc.text[s.start : s.end] for s in doc.sentences}
        for path, citation in _citations(example.output):
            where = f"{ref}: examples[{i}].{path}"
            if citation.document_id != example.document_id:
                problems.append(
                    f"[P005] {where}: cites document {citation.document_id!r}, the example is {example.document_id!r}"
                )
            elif citation.quote not in example.note:
                problems.append(
                    f"[P006] {where}: quote {citation.quote!r} is not verbatim in the example note"
                )
            elif not any(
                citation.quote in sentences.get(n, "") for n in citation.sentence_ids
            ) and citation.quote not in " ".join(
                sentences.get(n, "") for n in sorted(citation.sentence_ids)
            ):
                problems.append(
                    f"[P007] {where}: quote is not in the cited sentences {citation.sentence_ids}"
                )
    return problems


def _released(folder: Path) -> dict[str, str]:
    path = folder / "RELEASED"
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            version, digest = line.split()
            out[version] = digest
    return out


def _citations(answer: LLMFacts):
    for name, value in answer:
        items = value if isinstance(value, list) else []
        for j, item in enumerate(items):
            citation = getattr(item, "citation", item)
            if hasattr(citation, "quote"):
                yield f"{name}[{j}]", citation

"""The error catalogue (review/errors.py): every code the package uses is defined there once, with
one meaning and a hint; nothing in the catalogue is dead; a code not in it cannot be raised; and
docs/errors.md is the catalogue as ``review errors`` prints it.

The package is read as source (``ast``), not imported, so a raise site in a module no test reaches
is still checked."""

from __future__ import annotations

import ast
import pickle
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import review
from review import errors
from review.errors import CATALOGUE, ENTRIES, FAMILIES, CaseError, ResourceError, ReviewError

PACKAGE = Path(review.__file__).parent
REPO = PACKAGE.parent
CODE = re.compile(r"[A-Z]\d{3}")
BRACKETED = re.compile(r"\[([A-Z]\d{3})\]")


def _modules() -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


MODULES = _modules()


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _error_classes() -> set[str]:
    """ReviewError and every class anywhere in the package that derives from it."""
    found = {"ReviewError"}
    while True:
        more = {
            node.name
            for _, tree in MODULES
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef) and any(_name(b) in found for b in node.bases)
        } - found
        if not more:
            return found
        found |= more


ERROR_CLASSES = _error_classes()


def _codes(node: ast.expr | None) -> list[str] | None:
    """The literal code(s) an argument can take (both arms of ``a if c else b``), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        body, orelse = _codes(node.body), _codes(node.orelse)
        return body + orelse if body is not None and orelse is not None else None
    return None


def _text(node: ast.expr | None) -> str:
    """The literal text of a message expression (f-string and ``+`` parts; the rest dropped)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            _text(part) if isinstance(part, ast.Constant) else "{}" for part in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text(node.left) + _text(node.right)
    return ""


def _arg(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    if len(call.args) > index:
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


@dataclass(frozen=True)
class Site:
    where: str
    codes: tuple[str, ...] | None  # None: the code is not a literal
    message: str


def _constructions() -> list[Site]:
    """Every construction of an error class in the package."""
    sites = []
    for path, tree in MODULES:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in ERROR_CLASSES:
                codes = _codes(_arg(node, 0, "code"))
                sites.append(
                    Site(
                        f"{path.relative_to(REPO)}:{node.lineno}",
                        tuple(codes) if codes is not None else None,
                        _text(_arg(node, 1, "message")),
                    )
                )
    return sites


def _other_sites() -> list[Site]:
    """Codes given without an error object: a batch work item's ``error_code=`` and the FHIR
    endpoint's ``_outcome(status, code, message)``."""
    sites = []
    for path, tree in MODULES:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            keywords = {k.arg: k.value for k in node.keywords}
            if "error_code" in keywords and (codes := _codes(keywords["error_code"])):
                sites.append(Site(where, tuple(codes), _text(keywords.get("error"))))
            if _name(node.func) == "_outcome" and (codes := _codes(_arg(node, 1, "code"))):
                sites.append(Site(where, tuple(codes), _text(_arg(node, 2, "message"))))
    return sites


CONSTRUCTIONS = _constructions()
SITES = CONSTRUCTIONS + _other_sites()


def _codes_in_source() -> dict[str, str]:
    """Every code the package's source mentions outside the catalogue, with one place: a string
    that is a code (not an element of a list/set/dict literal, where an ICD-10 code could hide)
    or a ``[CODE]`` inside any string."""
    in_collections = {
        id(element)
        for _, tree in MODULES
        for node in ast.walk(tree)
        if isinstance(node, ast.List | ast.Tuple | ast.Set | ast.Dict)
        for element in (node.keys + node.values if isinstance(node, ast.Dict) else node.elts)
    }
    found: dict[str, str] = {}
    for path, tree in MODULES:
        if path == Path(errors.__file__):
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            if CODE.fullmatch(node.value) and id(node) not in in_collections:
                found.setdefault(node.value, where)
            for code in BRACKETED.findall(node.value):
                found.setdefault(code, where)
    return found


USED = _codes_in_source()


# --------------------------------------------------------------------------- the source


def test_the_scan_finds_the_raise_sites():
    """If the scan found nothing, every test below would pass vacuously."""
    assert {"CaseError", "RulesError", "ResourceError", "AuditError"} <= ERROR_CLASSES
    assert len(CONSTRUCTIONS) > 100
    assert {"C001", "R999", "F006", "B003", "P004", "A004"} <= set(USED)


def test_every_error_construction_has_a_literal_catalogued_code():
    not_literal = [s.where for s in CONSTRUCTIONS if s.codes is None]
    assert not not_literal, (
        f"give these a literal code (the catalogue check needs one): {not_literal}"
    )
    unknown = [
        f"{s.where} {code}"
        for s in CONSTRUCTIONS
        for code in s.codes or ()
        if code not in CATALOGUE
    ]
    assert not unknown, f"codes raised but not in review/errors.py: {unknown}"


def test_every_code_the_package_mentions_is_catalogued():
    unknown = {code: where for code, where in USED.items() if code not in CATALOGUE}
    assert not unknown, f"codes used but not in review/errors.py: {unknown}"


def test_no_catalogued_code_is_dead():
    dead = [e.code for e in ENTRIES if not e.reserved and e.code not in USED]
    assert not dead, f"nothing uses these; remove them or mark them reserved with a reason: {dead}"
    revived = [e.code for e in ENTRIES if e.reserved and e.code in USED]
    assert not revived, f"marked reserved but used (drop the mark): {revived}"


# --------------------------------------------------------------------------- the catalogue


def test_no_code_is_defined_twice():
    assert not [code for code, n in Counter(e.code for e in ENTRIES).items() if n > 1]
    defined = [
        node.args[0].value
        for node in ast.walk(ast.parse(Path(errors.__file__).read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and _name(node.func) == "ErrorCode"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ]
    assert not [code for code, n in Counter(defined).items() if n > 1]
    assert len(defined) == len(ENTRIES) == len(CATALOGUE)


def test_each_meaning_has_one_code():
    def key(title: str) -> str:
        return " ".join(re.sub(r"^(a|an|the) ", "", title.lower()).split())

    same = [t for t, n in Counter(key(e.title) for e in ENTRIES).items() if n > 1]
    assert not same, f"one meaning, several codes: {same}"


def test_entries_are_well_formed_and_sorted():
    assert [e.code for e in ENTRIES] == sorted(CATALOGUE)
    docstring = ast.get_docstring(ast.parse(Path(errors.__file__).read_text(encoding="utf-8")))
    for entry in ENTRIES:
        assert CODE.fullmatch(entry.code), entry
        assert entry.code[0] in FAMILIES, entry
        for text in (entry.title, entry.hint):
            assert text.strip() and "\n" not in text, entry
        assert entry.hint.endswith("."), entry
    for letter in FAMILIES:
        assert f"``{letter}``" in docstring, f"family {letter} is not described in the docstring"


# Each split code's messages: every site whose message holds the fragment uses that code, and
# only that one (a code that meant several things was split; this keeps the split).
MEANINGS: dict[str, list[str | tuple[str, str]]] = {
    "C003": ["malformed JSON", ("malformed YAML", "review/case.py")],  # a policy's is R004
    "C004": ["fix this field (see the case contract"],
    "C005": ["note file not found"],
    "C012": ["expected a JSON object", "line is not a JSON object"],
    "C013": ["is not a CPT or HCPCS code"],
    "C014": ["units must be at least 1"],
    "C015": ["is not shaped like an ICD-10-CM code"],
    "C016": ["note record needs a string 'text'"],
    "C017": ["nested too deeply"],
    "C018": ["has a 'path' but the case has no folder"],
    "E002": ["invalid LLM setting", "cannot read LLM config"],
    "E005": ["--compare writes text or json"],
    "F005": ["is not a whole number of units"],
    "F008": ["names no Claim.diagnosis"],
    "L003": ["unknown category", "unknown target type or category"],
    "R023": ["no default policy", "no policy in the registry applies", "policies apply to"],
    "R024": ["on overlapping dates"],
    "R025": ["by code but does not list them in kinds"],
    "R026": ["is not a policy folder here"],
    "R027": ["before it starts"],
}


@pytest.mark.parametrize("code", sorted(MEANINGS))
def test_a_split_code_keeps_one_meaning(code):
    for fragment in MEANINGS[code]:
        fragment, module = fragment if isinstance(fragment, tuple) else (fragment, "")
        used = {
            c
            for s in SITES
            if fragment in s.message and s.where.startswith(module)
            for c in s.codes or ()
        }
        assert used == {code}, f"{fragment!r}: {used}"


def _lexicons(tmp_path, monkeypatch, old: str, new: str) -> None:
    folder = tmp_path / "lexicons"
    shutil.copytree(PACKAGE / "lexicons", folder)
    context = folder / "context.yaml"
    text = context.read_text(encoding="utf-8")
    assert old in text
    context.write_text(text.replace(old, new, 1), encoding="utf-8")
    import review.lexicon as lexicon

    monkeypatch.setattr(lexicon, "lexicon_dir", lambda: folder)


@pytest.mark.parametrize(
    ("old", "new", "code", "fragment"),
    [
        ('"#num @ago_unit ago"', '"#num @ago_unt ago"', "L005", "unknown word class"),
        ("category: HISTORICAL", "category: HISTORICL", "L003", "unknown category"),
    ],
)
def test_a_bad_token_pattern_and_an_unknown_category_have_their_own_codes(
    tmp_path, monkeypatch, old, new, code, fragment
):
    from review.lexicon import load_context

    _lexicons(tmp_path, monkeypatch, old, new)
    with pytest.raises(ResourceError) as info:
        load_context.__wrapped__()
    assert info.value.code == code and fragment in info.value.message


# --------------------------------------------------------------------------- the error object


@pytest.mark.parametrize("code", ["X999", "C0O4", "c004", "", "C999"])
def test_an_unknown_code_cannot_be_raised(code):
    with pytest.raises(ValueError, match="not in the catalogue"):
        CaseError(code, "some message", source="case.json")


def test_an_error_keeps_its_one_line_and_gives_the_catalogue_hint():
    error = CaseError(
        "C013", "'2055' is not a CPT or HCPCS code", source="a/case.json", field="claim"
    )
    assert str(error) == "[C013] a/case.json: claim: '2055' is not a CPT or HCPCS code"
    assert str(ReviewError("R999", "boom")) == "[R999] boom"
    assert str(ReviewError("B012", "x", field="--out")) == "[B012] --out: x"
    assert error.hint == CATALOGUE["C013"].hint and error.title == CATALOGUE["C013"].title
    assert error.hint != ReviewError("C001", "x").hint


def test_an_error_survives_pickling():
    from review.workbench.store import AuditError

    error = AuditError("A002", "not a workbench audit trail", source="a.sqlite")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is AuditError
    assert (again.code, again.message, again.source, again.field) == (
        "A002",
        error.message,
        "a.sqlite",
        None,
    )
    assert str(again) == str(error)


# --------------------------------------------------------------------------- the reference page


def test_docs_errors_md_is_the_output_of_review_errors():
    from review.cli import app

    result = CliRunner().invoke(app, ["errors"])
    assert result.exit_code == 0, result.output
    committed = (REPO / "docs" / "errors.md").read_text(encoding="utf-8")
    assert committed == result.stdout, (
        "docs/errors.md is stale: run `review errors > docs/errors.md`"
    )


def test_the_page_lists_every_code_once_in_order():
    from review.cli.errors import render_markdown

    rows = re.findall(r"^\| `([A-Z]\d{3})` \| (.+?) \| (.+) \|$", render_markdown(), re.MULTILINE)
    assert [code for code, _, _ in rows] == sorted(CATALOGUE)
    assert all(CATALOGUE[code].hint == hint for code, _, hint in rows)


def test_the_readme_links_the_page_and_names_only_catalogued_codes():
    for doc in (REPO / "README.md", PACKAGE / "lexicons" / "README.md"):
        text = doc.read_text(encoding="utf-8")
        named = set(re.findall(r"[\[`]([A-Z]\d{3})[\]`]", text))
        assert named - set(CATALOGUE) == set(), doc
    assert "(docs/errors.md)" in (REPO / "README.md").read_text(encoding="utf-8")

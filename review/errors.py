"""One error tree and one catalogue. Every error a user can cause carries a stable code and says
what to do.

The CLI prints ``str(error)`` as one line (``[CODE] source: field: message``) and exits 2 for input
errors; the batch runner turns the error into a record for that case (carrying the code) and goes
on. Each code is defined once, in :data:`CATALOGUE`, with one meaning (its title) and a one-line
hint; constructing a :class:`ReviewError` with a code that is not there fails at once, so a typo
cannot ship. ``review errors`` prints the catalogue (committed as ``docs/errors.md``).

Code families (the letter; the number is only an index, never reused for another meaning):

- ``A`` the workbench's audit trail
- ``B`` batch runs and their results
- ``C`` case input
- ``E`` extractor and LLM configuration (and the CLI options that choose them)
- ``F`` FHIR input and the FHIR endpoint (review/fhir)
- ``L`` lexicons and other packaged resources
- ``P`` prompt files
- ``R`` rules and policy folders; ``R999`` is an internal error (a bug: exit 1)
- ``V`` evaluation against labelled cases
- ``W`` the workbench
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

FAMILIES: dict[str, str] = {
    "A": "the workbench's audit trail",
    "B": "batch runs and their results",
    "C": "case input",
    "E": "extractor and LLM configuration",
    "F": "FHIR input and the FHIR endpoint",
    "L": "lexicons and other packaged resources",
    "P": "prompt files",
    "R": "rules and policy folders (R999: an internal error)",
    "V": "evaluation against labelled cases",
    "W": "the workbench",
}


@dataclass(frozen=True)
class ErrorCode:
    """One catalogue entry: the code, what it means (one title per code) and what to do."""

    code: str
    title: str
    hint: str
    reserved: str = ""  # why the code is kept although nothing raises it (else empty)


# fmt: off
ENTRIES: tuple[ErrorCode, ...] = (
    ErrorCode("A001", "no audit trail file at that path", "Give the --db path the workbench was started with (a file, not a folder)."),
    ErrorCode("A002", "not a workbench audit trail", "Give the workbench's audit file, or a new path to start a new trail."),
    ErrorCode("A003", "the audit trail's hash chain is broken", "The file was changed outside the workbench: restore it from a backup before recording more reviews."),
    ErrorCode("A004", "the audit trail does not reach the expected head", "Rows were removed or rewritten since that head was printed: restore the file from a backup."),
    ErrorCode("A005", "invalid `review audit verify` expectations", "Give --expect-head as the 64-character hex head an earlier `review audit verify` printed, and --expect-rows only with it."),
    ErrorCode("A006", "an audit trail written before hash chaining", "Open it once with `review serve --db PATH` to add the chain, then verify it."),
    ErrorCode("A007", "cannot write the audit trail", "Check the disk and the file's permissions, then try again; nothing was recorded."),
    ErrorCode("A008", "an unsupported --db for the audit trail", "Give a file path (SQLite) or postgresql+psycopg://USER@HOST/DB (psycopg 3)."),
    ErrorCode("A009", "cannot connect to the audit database", "Check that the server is running and the host, port, database, user and password (PGPASSWORD or ~/.pgpass)."),
    ErrorCode("A010", "the database role cannot set up the audit trail", "Let the workbench's role own the database (createdb --owner ROLE) or the schema it uses."),
    ErrorCode("B001", "batch input not found", "Give a folder of case folders or a .jsonl(.gz) file."),
    ErrorCode("B002", "the output folder already holds results", "Pass --resume to continue that run, or choose a new --out."),
    ErrorCode("B003", "a case id given twice in the batch input", "Give every case in the input its own case_id."),
    ErrorCode("B004", "the ray engine is not installed", "Install it with pip install -e '.[ray]', or use --engine local."),
    ErrorCode("B005", "no results.jsonl in the results folder", "Run `review batch INPUT --out DIR` first, then give DIR."),
    ErrorCode("B006", "DuckDB is not installed", "Install it with pip install -e '.[results]'."),
    ErrorCode("B007", "a batch worker process died", "Rerun with --resume; the records written so far are kept."),
    ErrorCode("B008", "another batch run holds the output folder", "Wait for that run to end, or choose another --out."),
    ErrorCode("B009", "resuming with settings that differ from the run's", "Rerun with the original settings, pass --resume --force to continue anyway, or choose a new --out."),
    ErrorCode("B010", "resuming results whose run is unknown", "Pass --resume --force to continue anyway, or choose a new --out."),
    ErrorCode("B011", "cannot read the batch input", "Check the input is readable and complete (re-copy it), then rerun with --resume."),
    ErrorCode("B012", "--out is not a folder path", "Give a folder for --out; it is created if missing."),
    ErrorCode("B013", "cannot write the batch output or export", "Check the folder exists and is writable and the disk has space, then rerun."),
    ErrorCode("B014", "cannot read results.jsonl", "Fix or remove the line named (or make the file readable), then rerun."),
    ErrorCode("B015", "DuckDB cannot read the results", "Check results.jsonl was written by `review batch`, or rerun the batch into a new --out."),
    ErrorCode("B016", "cases read from the input have no record", "Rerun with --resume to review them."),
    ErrorCode("C000", "a batch input error without a specific code", "Read the record's message and fix the input; please report it, every input error should have its own code."),
    ErrorCode("C001", "no such case file or folder", "Give a case folder, a case JSON or YAML file, or a note file."),
    ErrorCode("C002", "not UTF-8", "Re-export the file as UTF-8."),
    ErrorCode("C003", "malformed JSON or YAML", "Fix the syntax at the position given, or re-export the file."),
    ErrorCode("C004", "a case field does not follow the case contract", "Fix the field named (see the case contract in README)."),
    ErrorCode("C005", "a document's note file is missing", "Check the document's 'path' in case.json names a file in the case folder."),
    ErrorCode("C006", "the case has no note text", "Add at least one document with the note text."),
    ErrorCode("C007", "a document id given twice in one case", "Give each document of the case its own id."),
    ErrorCode("C008", "a note over the length limit", "Split the note into several documents under the limit."),
    ErrorCode("C009", "a folder with no case.json and no notes", "Add a case.json (see README) or .txt note files to the folder."),
    ErrorCode("C010", "cannot write the output file", "Check the folder exists and is writable and the path is not a folder."),
    ErrorCode("C011", "a path that leaves its case or input folder", "Copy the file or folder in instead of linking to it or naming a path outside."),
    ErrorCode("C012", "the case is not a JSON object", "Give an object with case_id and documents (see the case contract in README)."),
    ErrorCode("C013", "not a CPT or HCPCS code", "Give a 5-character CPT or HCPCS code, e.g. 20552."),
    ErrorCode("C014", "units out of range", "Give the units as a whole number from 1 to 9,999."),
    ErrorCode("C015", "a diagnosis not shaped like an ICD-10-CM code", "Give ICD-10-CM codes such as M79.18."),
    ErrorCode("C016", "a JSONL record that is neither a note nor a case", "Give each line a string 'text' (a note) or 'documents' (a case)."),
    ErrorCode("C017", "a case nested too deeply", "Check the export: a case is a shallow JSON object."),
    ErrorCode("C018", "a document names a file but the case has no folder", "Inline the note text, or put the case in a folder with its note files."),
    ErrorCode("E001", "no LLM endpoint configured", "Set the REVIEW_LLM_* variables named, or pass --llm-config FILE."),
    ErrorCode("E002", "invalid LLM settings", "Fix the setting named in the --llm-config file or the REVIEW_LLM_* variables."),
    ErrorCode("E003", "unknown extractor", "Choose one of the extractors the message lists."),
    ErrorCode("E004", "a rate budget smaller than the worker processes", "Give a budget of at least --workers, or fewer --workers."),
    ErrorCode("E005", "--compare with an output format it cannot write", "Use --format text or --format json with --compare."),
    ErrorCode("F001", "not a FHIR Bundle", "Send the Claim/$submit Bundle."),
    ErrorCode("F002", "a Bundle with no Claim", "Put the Claim first in the Claim/$submit Bundle."),
    ErrorCode("F003", "not valid FHIR R4", "Fix the resource at the path named."),
    ErrorCode("F004", "a code from an unsupported code system", "Code diagnoses in ICD-10-CM and services in CPT or HCPCS."),
    ErrorCode("F005", "a quantity that is not a whole number", "Give Claim.item.quantity as a whole number of units."),
    ErrorCode("F006", "a request body over the size limit", "Send the notes as text, under the limit."),
    ErrorCode("F007", "no such ClaimResponse", "Submit the Claim first, then ask for the id it answered with."),
    ErrorCode("F008", "a diagnosisSequence that names no Claim.diagnosis", "Make each item.diagnosisSequence name a Claim.diagnosis sequence."),
    ErrorCode("F009", "a ClaimResponse read by its blind second reviewer", "Review the case blind in the workbench; a supervisor or the first reviewer can read the decision."),
    ErrorCode("L001", "a lexicon file is missing", "Reinstall the package."),
    ErrorCode("L002", "an invalid lexicon file", "Fix the field named (see review/lexicons/README.md)."),
    ErrorCode("L003", "an unknown category or target type in context.yaml", "Use a known name; the message suggests the closest."),
    ErrorCode("L004", "a phrase in two context entries", "Keep the phrase in one entry: a span takes one rule."),
    ErrorCode("L005", "an invalid token pattern", "Use known word classes, no empty alternative, and at least one required token."),
    ErrorCode("P001", "no such prompt", "Give a prompt the message lists (`review prompts list`)."),
    ErrorCode("P002", "an invalid prompt file", "Fix the prompt file's YAML or the field named."),
    ErrorCode("P003", "a prompt file that declares another id or version", "Make the file's id and version match its name."),
    ErrorCode("P004", "a released prompt version edited in place", "Restore the released version and make the change in a new version."),
    ErrorCode("P005", "a prompt example that cites another document", "Cite the example's own document id."),
    ErrorCode("P006", "a prompt example quote not in its note", "Quote the example note verbatim."),
    ErrorCode("P007", "a prompt example quote not in the cited sentences", "Cite the sentences that hold the quote."),
    ErrorCode("R001", "no such policy", "Give a registry id (`review rules policies`) or a folder holding rules.yaml."),
    ErrorCode("R002", "a policy file is missing", "Restore the file in the policy folder."),
    ErrorCode("R003", "the rules declare another policy", "Make the policy id in the rules match the policy's folder."),
    ErrorCode("R004", "malformed policy YAML", "Fix the YAML syntax at the position given."),
    ErrorCode("R005", "a policy file field that does not fit its schema", "Fix the field named."),
    ErrorCode("R006", "a rule id defined twice", "Give each rule its own id."),
    ErrorCode("R007", "a rule's policy_text not verbatim in the policy", "Quote the policy sentence exactly."),
    ErrorCode("R008", "an expression that is not valid CEL", "Fix the CEL syntax of the expression named."),
    ErrorCode("R010", "no such rule", "Give a rule id of the policy (`review rules list`)."),
    ErrorCode("R012", "an expression that uses an unknown name", "Use a name the message lists; the closest is suggested."),
    ErrorCode("R013", "evidence cited from an unknown fact", "Cite a fact field the extractors report."),
    ErrorCode("R014", "a rule with no reason for an outcome", "Add a reason for each outcome named."),
    ErrorCode("R015", "a reason that names an unknown symbol", "Use a symbol the rules can see; the closest is suggested."),
    ErrorCode("R016", "a code list entry that is not an ICD-10-CM code", "Fix or remove the code (check it in the ICD-10-CM release named)."),
    ErrorCode("R017", "an invalid rule test case", "Fix the test case: known exclusion groups and symbols, fields as the schema says."),
    ErrorCode("R020", "an expression that failed to evaluate", "Make the expression handle this case's data (a missing field, a wrong type)."),
    ErrorCode("R021", "an expression that does not type-check", "Make the expression type-check and give a bool."),
    ErrorCode("R022", "settings that name an exam feature or service kind the extractors do not know", "Use a name the extractors report; the closest is suggested."),
    ErrorCode("R023", "no single policy applies to the case", "Name the policy in the case, give --policy, or set default_policy in registry.yaml."),
    ErrorCode("R024", "two registry entries that overlap", "Give one an effective_to before the other's effective_from, or narrow applies_to."),
    ErrorCode("R025", "an exclusion group that bills kinds it does not list", "Add those kinds to the group's kinds."),
    ErrorCode("R026", "a default_policy that names no policy folder", "Set default_policy in registry.yaml to a policy folder's id."),
    ErrorCode("R027", "a policy that ends before it starts", "Fix effective_from and effective_to in the policy's settings.yaml."),
    ErrorCode("R028", "a policy id both bundled and in the user policy directory", "Rename one of the folders and the id its files declare."),
    ErrorCode("R999", "internal error", "Rerun with --debug and report it with the traceback."),
    ErrorCode("V001", "no such folder of labelled cases", "Give a folder of labelled cases (case.json with expected.yaml)."),
    ErrorCode("V002", "no labelled cases found", "Add an expected.yaml beside each case.json."),
    ErrorCode("V003", "invalid labels", "Fix the expected.yaml field named."),
    ErrorCode("V004", "not an eval run file", "Give a file written by `review eval --out`."),
    ErrorCode("W001", "refusing to serve the workbench beyond this machine", "Use --host 127.0.0.1, or add --allow-remote behind your own access control."),
    ErrorCode("W002", "not a folder of cases", "Give a case folder or a folder of case folders."),
    ErrorCode("W003", "no batch results for the workbench", "Run `review batch INPUT --out DIR` first, then give --results DIR."),
    ErrorCode("W004", "neither or both of --cases and --results", "Give exactly one of --cases DIR or --results DIR."),
    ErrorCode("W005", "the workbench's dependencies are not installed", "Install them with pip install -e '.[workbench]'."),
    ErrorCode("W006", "a CSRF secret that is too short", "Set REVIEW_WORKBENCH_SECRET to a long random value, or unset it for a random key per start."),
    ErrorCode("W007", "a --clocks file that cannot be used", "Fix the file named: `default` and `lines_of_business`, each with `expedited` and `standard` durations such as 72h or 7d (README, Reviewer workbench)."),
    ErrorCode("W008", "--allow-remote without a sign-in mode", "Add --auth local (create accounts first with `review users add`) or --auth oidc (REVIEW_OIDC_* settings), or serve on 127.0.0.1 without --allow-remote."),
    ErrorCode("W009", "invalid account details", "Give a lowercase username, a role among nurse, physician, supervisor, admin, and a password of at least 12 characters."),
    ErrorCode("W010", "the username exists already", "Choose another username, or leave the existing account as it is (`review users list`)."),
    ErrorCode("W011", "no such user", "Check the username with `review users list --db ...`."),
    ErrorCode("W012", "--auth local with no accounts", "Create one first: review users add USERNAME --role nurse --db ... (the same --db as serve)."),
    ErrorCode("W013", "invalid session timeouts", "Give a positive --session-idle no longer than --session-max."),
    ErrorCode("W014", "OIDC settings that cannot be used", "Set REVIEW_OIDC_ISSUER, REVIEW_OIDC_CLIENT_ID, REVIEW_OIDC_REDIRECT_URI and REVIEW_OIDC_ROLES (or put them in the settings file) and the secret in REVIEW_OIDC_CLIENT_SECRET; https except on loopback (README, For a team)."),
    ErrorCode("W015", "the identity provider cannot be reached or used", "Check the issuer URL, that ISSUER/.well-known/openid-configuration answers over https from this server, and its client settings; then sign in again."),
    ErrorCode("W016", "an OIDC sign-in refused", "Start the sign-in again from the workbench; if it keeps failing, check this server's clock and the provider's client settings (redirect URI, client id)."),
    ErrorCode("W017", "a signed-in account with no workbench role", "Ask an administrator to give the account a provider group or role that the OIDC settings map to nurse, physician, supervisor or admin."),
    ErrorCode("W018", "a disabled account signing in through the identity provider", "Ask an administrator to enable it again: review users enable USERNAME --db ... (the workbench username is on the sign-in page)."),
    ErrorCode("W019", "an OIDC account whose workbench username belongs to a local account", "Rename or remove the local account with that username (review users list); OIDC usernames start with oidc-."),
)
# fmt: on

CATALOGUE: dict[str, ErrorCode] = {entry.code: entry for entry in ENTRIES}


class ReviewError(Exception):
    """Base of every error the product raises on purpose. ``code`` must be in :data:`CATALOGUE`
    (a ``ValueError`` otherwise); ``hint`` and ``title`` are its entry's."""

    exit_code = 2

    def __init__(
        self, code: str, message: str, *, source: str | None = None, field: str | None = None
    ):
        if code not in CATALOGUE:
            raise ValueError(
                f"error code {code!r} is not in the catalogue (review/errors.py){did_you_mean(code, CATALOGUE)}"
            )
        self.code = code
        self.message = message
        self.source = source
        self.field = field
        super().__init__(str(self))

    def __reduce__(
        self,
    ) -> tuple[Any, ...]:  # pickle (process pools) by the fields, not by the formatted line
        return _rebuild, (type(self), self.code, self.message, self.source, self.field)

    @property
    def title(self) -> str:
        return CATALOGUE[self.code].title

    @property
    def hint(self) -> str:
        return CATALOGUE[self.code].hint

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.source, self.field) if part)
        prefix = f"[{self.code}] {where}: " if where else f"[{self.code}] "
        return prefix + self.message


class CaseError(ReviewError):
    """The case input cannot be read or does not follow the case contract."""


class RulesError(ReviewError):
    """A policy folder (rules, settings, code lists) is invalid."""


class ResourceError(ReviewError):
    """A packaged resource (lexicon, prompt) is missing or invalid."""


def _rebuild(
    cls: type[ReviewError], code: str, message: str, source: str | None, field: str | None
) -> ReviewError:
    return cls(code, message, source=source, field=field)


def did_you_mean(name: str, candidates: Iterable[str], otherwise: str = "") -> str:
    """ "; did you mean 'x'?" for the closest candidate, else ``otherwise``."""
    hint = difflib.get_close_matches(name, list(candidates), n=1)
    return f"; did you mean {hint[0]!r}?" if hint else otherwise

"""The workbench web app (FastAPI + Jinja2; no external scripts, fonts or CDNs).

Safety:
- CSRF, two independent checks on every state-changing request (anything but GET/HEAD/OPTIONS):
  1. Origin: the ``Origin`` header (or, when a client sends none, the origin of ``Referer``) must
     be exactly this server's origin, ``scheme://host[:port]`` as the request addressed it, with
     the host among the allowed hosts. Missing both, ``Origin: null``, or any other origin
     (another port on 127.0.0.1 is another origin) -> 403. Pages are served with
     ``Referrer-Policy: same-origin``: under ``no-referrer`` Chromium sends ``Origin: null`` on
     form posts, and ``same-origin`` still sends nothing to any other site.
  2. Token: each browser gets a random session id in an HttpOnly, SameSite=Strict cookie, and
     its forms carry ``HMAC-SHA256(server secret, session id)``. A POST passes only when the token
     it carries (form field ``csrf_token`` or ``X-CSRF-Token`` header) equals the HMAC of *its*
     session cookie, compared in constant time. Cookies on localhost are shared across ports, so
     a page on another local port can plant a session cookie, but without the secret it cannot
     compute the matching token. The secret is random per app instance
     (``secrets.token_bytes``), or ``REVIEW_WORKBENCH_SECRET`` (at least 32 characters) so several
     workers agree; it is never logged or shown. A restart with a random secret invalidates open
     forms: the post is refused with "reload the page".
  The cookie is ``__Host-wb_session`` (Secure, Path=/, no Domain) when the request came over
  https. Over plain http a browser refuses to set a ``__Host-`` (or Secure) cookie, so there the
  name is the unprefixed ``wb_session``; the HMAC, not the name, is what defeats a planted cookie.
- The audit trail (:mod:`.store`) is verified whenever a page renders (cached until the file
  changes). While it fails verification every page shows a banner naming the first broken row,
  and new reviews are refused with 409: appending to a trail that no longer verifies would mix
  trustworthy and untrustworthy rows, and the nurse's entry is kept in the form for when it is
  restored. Letters and exports still work.
- Every page gets a Content-Security-Policy forbidding any other origin, with a per-response nonce
  for the inline style and script; note text is autoescaped by Jinja2.
- A Host header check (loopback names only, unless --allow-remote) against DNS rebinding.
- Responses are ``Cache-Control: no-store``: they hold notes (PHI).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.middleware.trustedhost import TrustedHostMiddleware

from review.errors import ReviewError
from review.report.html import build_view, environment
from review.workbench.cases import CaseEntry, CaseSource
from review.workbench.chain import Break
from review.workbench.letter import draft_letter, missing_items
from review.workbench.store import AuditError, AuditRow, AuditStore, Snapshot, latest_of, utc_now

TEMPLATES = Path(__file__).parent / "templates"
SESSION_COOKIE = "wb_session"
SECURE_SESSION_COOKIE = "__Host-wb_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SECRET_ENV = "REVIEW_WORKBENCH_SECRET"
MIN_SECRET = 32
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SESSION_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
DEFAULT_PORTS = {"http": 80, "https": 443}
DEFAULT_HOSTS = ["127.0.0.1", "localhost", "testserver"]

DECISIONS = ("pend", "deny", "approve")


def _procedure_codes() -> tuple[str, ...]:
    """The codes a reviewer may choose: every registry policy's procedure codes (policy data)."""
    from review.policy.load import available_policies, load_policy

    return tuple(
        sorted({c for p in available_policies() for c in load_policy(p).settings.procedure_codes})
    )


CODES = _procedure_codes()
REVIEW_STATUSES = ("unreviewed", "accepted", "overridden")
SORTS = {
    "status": "review status",
    "decision": "decision",
    "code": "supported code",
    "date": "date of service",
    "case": "case id",
}
MAX_REASON = 4000
MAX_REVIEWER = 120


def csp(nonce: str) -> str:
    return (
        "default-src 'self'; "
        f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def load_secret(secret: bytes | str | None = None) -> bytes:
    """The CSRF key: ``secret``, else ``REVIEW_WORKBENCH_SECRET``, else 32 random bytes."""
    if secret is None:
        secret = os.environ.get(SECRET_ENV) or None
    if secret is None:
        return secrets.token_bytes(32)
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET:
        raise ReviewError(
            "W006",
            f"the CSRF secret is {len(key)} bytes, shorter than {MIN_SECRET}; set it to a long "
            "random value, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))', or "
            "unset it for a random key per start",
            source=SECRET_ENV,
        )
    return key


def session_cookie_name(scheme: str) -> str:
    """``__Host-`` needs Secure, which a browser refuses to set over plain http."""
    return SECURE_SESSION_COOKIE if scheme == "https" else SESSION_COOKIE


def csrf_token(secret: bytes, session_id: str) -> str:
    """HMAC-SHA256(secret, session id), URL-safe base64 without padding."""
    mac = hmac.new(secret, b"tpi-review workbench csrf v1\x00" + session_id.encode(), "sha256")
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def _origin_parts(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the default port filled in; None when unreadable."""
    try:
        parts = urlsplit(f"//{netloc}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or scheme not in DEFAULT_PORTS:
        return None
    return scheme, host.lower(), port or DEFAULT_PORTS[scheme]


def _claimed_origin(value: str, *, is_origin: bool) -> tuple[tuple[str, str, int] | None, str]:
    """The origin an Origin (exactly ``scheme://host[:port]``) or Referer (a URL) header names,
    and how to show it in a message (never a path or query: they can name a case)."""
    value = value.strip()
    try:
        parts = urlsplit(value)
        readable = (
            parts.scheme
            and parts.netloc
            and parts.username is None
            and parts.password is None
            and not (is_origin and (parts.path or parts.query or parts.fragment))
        )
        if readable:
            shown = f"{parts.scheme}://{parts.netloc}"[:100]
            return _origin_parts(parts.scheme.lower(), parts.netloc), shown
    except ValueError:
        pass
    return None, "null" if value == "null" else "not a plain origin"


def _host_allowed(host: str, allowed: list[str]) -> bool:
    for pattern in allowed:
        pattern = pattern.lower().strip("[]")
        if pattern == "*" or pattern == host:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


def forbidden(detail: str) -> HTTPException:
    return HTTPException(status_code=403, detail=detail)


class CsrfGuard:
    """The FastAPI dependency behind both checks (see the module docstring)."""

    def __init__(self, secret: bytes, allowed_hosts: list[str]):
        self.secret = secret
        self.allowed_hosts = allowed_hosts

    def token_for(self, session_id: str) -> str:
        return csrf_token(self.secret, session_id)

    def check_origin(self, request: Request) -> None:
        host_header = request.headers.get("host", "")
        scheme = request.url.scheme
        own = _origin_parts(scheme, host_header)
        origin = request.headers.get("origin")
        referer = request.headers.get("referer")
        if origin is None and not referer:
            raise forbidden(
                "refused: the request carries neither an Origin nor a Referer header, so it cannot "
                "be shown to come from this workbench's own pages; submit the form from the "
                "workbench page in a browser"
            )
        header, value = ("Origin", origin) if origin is not None else ("Referer", referer or "")
        sent, shown = _claimed_origin(value, is_origin=header == "Origin")
        if own is None or sent != own or not _host_allowed(own[1], self.allowed_hosts):
            raise forbidden(
                f"refused: the request's {header} is {shown}, not this workbench "
                f"({scheme}://{host_header}); changes are accepted only from the workbench's own "
                "pages"
            )

    async def __call__(self, request: Request) -> None:
        if request.method in SAFE_METHODS:
            return
        self.check_origin(request)
        session_id = request.cookies.get(session_cookie_name(request.url.scheme)) or ""
        sent: Any = request.headers.get(CSRF_HEADER)
        if sent is None:
            ctype = request.headers.get("content-type", "")
            if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                form = await request.form()
                sent = form.get(CSRF_FIELD)
        if not (
            SESSION_SHAPE.match(session_id)
            and isinstance(sent, str)
            and hmac.compare_digest(self.token_for(session_id).encode(), sent.encode())
        ):
            raise forbidden("CSRF token missing or invalid: reload the page and try again")


def audit_alert(broken: Break | None, db_path: str | Path) -> str | None:
    """The banner every page shows while the audit trail fails verification."""
    if broken is None:
        return None
    if broken.row_id is None:
        where = "The audit trail failed verification"
    else:
        case = f" (case {broken.case_id})" if broken.case_id else ""
        where = f"The audit trail failed verification at row {broken.row_id}{case}"
    return (
        f"{where}: {broken.problem}. New reviews are refused until it is restored from a trusted "
        f"copy; `review audit verify --db {db_path}` names the first broken row."
    )


def create_app(
    source: CaseSource,
    db_path: str | Path,
    *,
    allowed_hosts: list[str] | None = None,
    secret: bytes | str | None = None,
) -> FastAPI:
    """The app for one case source and one audit database.

    ``allowed_hosts``: Host header values accepted (default: loopback names and the test
    client's ``testserver``). ``secret``: the CSRF key (default ``REVIEW_WORKBENCH_SECRET``,
    else random for this app).
    """
    hosts = allowed_hosts or DEFAULT_HOSTS
    guard = CsrfGuard(load_secret(secret), hosts)
    store = AuditStore(db_path)
    env = environment(str(TEMPLATES))
    app = FastAPI(
        title="TPI review workbench",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(guard)],
    )
    app.state.source = source
    app.state.store = store
    from review.workbench.fhir_api import create_fhir_app

    # the FHIR JSON API for payer systems: its own sub-app, outside the browser-form CSRF rule
    app.mount("/fhir", create_fhir_app(source, store))
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        https = request.url.scheme == "https"
        cookie = session_cookie_name(request.url.scheme)
        session_id = request.cookies.get(cookie) or ""
        fresh = not SESSION_SHAPE.match(session_id)
        if fresh:
            session_id = secrets.token_urlsafe(32)
        request.state.csrf_token = guard.token_for(session_id)
        request.state.nonce = secrets.token_urlsafe(16)
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = csp(request.state.nonce)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        if fresh:
            response.set_cookie(
                cookie, session_id, httponly=True, samesite="strict", path="/", secure=https
            )
        return response

    # ------------------------------------------------------------------ helpers

    def page(
        request: Request,
        template: str,
        status_code: int = 200,
        *,
        snap: Snapshot | None = None,
        **context,
    ) -> HTMLResponse:
        """Render a page; every page verifies the audit trail and shows a banner when it fails."""
        snap = snap or store.snapshot()
        html = env.get_template(template).render(
            nonce=request.state.nonce,
            csrf_token=request.state.csrf_token,
            source=source,
            audit_alert=audit_alert(snap.check.broken, store.path),
            **context,
        )
        return HTMLResponse(html, status_code=status_code)

    def entry_or_404(slug: str) -> CaseEntry:
        entry = source.get(slug)
        if entry is None:
            raise HTTPException(status_code=404, detail="no such case in this workbench")
        return entry

    def state_of(entry: CaseEntry, latest: dict[str, AuditRow]) -> dict[str, Any]:
        row = latest.get(entry.key)
        rec = entry.rec
        return {
            "entry": entry,
            "review": row,
            "review_status": {"accept": "accepted", "override": "overridden"}[row.action]
            if row
            else "unreviewed",
            "decision": row.to_decision if row else (rec.decision if rec else None),
            "code": row.to_code if row else (rec.supported_code if rec else None),
        }

    # ------------------------------------------------------------------ queue

    @app.get("/", response_class=HTMLResponse)
    def queue(
        request: Request,
        decision: str = "",
        code: str = "",
        review: str = "",
        sort: str = "status",
        order: str = "asc",
    ) -> HTMLResponse:
        snap = store.snapshot()
        latest = latest_of(snap.rows)
        rows = [state_of(e, latest) for e in source.reviewable]
        counts = {
            "total": len(rows),
            "decision": {d: sum(r["entry"].rec.decision == d for r in rows) for d in DECISIONS},
            "review": {s: sum(r["review_status"] == s for r in rows) for s in REVIEW_STATUSES},
            "errors": len(source.errors),
        }
        codes = sorted({r["entry"].rec.supported_code or "none" for r in rows} | set(CODES))
        shown = [
            r
            for r in rows
            if (not decision or r["entry"].rec.decision == decision)
            and (not code or (r["entry"].rec.supported_code or "none") == code)
            and (not review or r["review_status"] == review)
        ]
        sort = sort if sort in SORTS else "status"
        keyfun = {
            "status": lambda r: (REVIEW_STATUSES.index(r["review_status"]), r["entry"].case_id),
            "decision": lambda r: (DECISIONS.index(r["entry"].rec.decision), r["entry"].case_id),
            "code": lambda r: (r["entry"].rec.supported_code or "~", r["entry"].case_id),
            "date": lambda r: (r["entry"].date_of_service or "", r["entry"].case_id),
            "case": lambda r: (r["entry"].case_id, r["entry"].key),
        }[sort]
        shown.sort(key=keyfun, reverse=order == "desc")
        # Pended cases always come first, whatever the sort within each block.
        shown.sort(key=lambda r: r["entry"].rec.decision != "pend")
        return page(
            request,
            "queue.html.j2",
            snap=snap,
            rows=shown,
            counts=counts,
            codes=codes,
            filters={
                "decision": decision,
                "code": code,
                "review": review,
                "sort": sort,
                "order": order,
            },
            decisions=DECISIONS,
            review_statuses=REVIEW_STATUSES,
            sorts=SORTS,
            errors=source.errors,
        )

    # ------------------------------------------------------------------ case page

    def case_page(
        request: Request,
        entry: CaseEntry,
        *,
        problems: list[str] | None = None,
        form: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        if entry.rec is None:
            return page(request, "error.html.j2", 404, entry=entry, message=entry.error)
        snap = store.snapshot()
        view = build_view(entry.rec, entry.documents or {})
        return page(
            request,
            "case.html.j2",
            status_code,
            snap=snap,
            **view,
            entry=entry,
            state=state_of(entry, latest_of(snap.rows)),
            audit=[row for row in snap.rows if row.case_key == entry.key],
            problems=problems or [],
            form=form or {},
            decisions=DECISIONS,
            codes=CODES,
            notes_available=entry.documents is not None,
        )

    @app.get("/case/{slug}", response_class=HTMLResponse)
    def case(request: Request, slug: str) -> HTMLResponse:
        return case_page(request, entry_or_404(slug))

    @app.post("/case/{slug}/review")
    async def review_post(request: Request, slug: str) -> Response:
        entry = entry_or_404(slug)
        if entry.rec is None:
            raise HTTPException(status_code=404, detail="this case has no recommendation")
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        form.pop(CSRF_FIELD, None)
        snap = store.snapshot()
        if snap.check.broken is not None:
            return case_page(request, entry, problems=[NOT_RECORDED], form=form, status_code=409)
        action = form.get("action", "")
        reviewer = " ".join(form.get("reviewer", "").split())
        reason = form.get("reason", "").strip()
        problems = []
        if action not in ("accept", "override"):
            problems.append("Choose Accept or Override.")
        if not reviewer:
            problems.append("Reviewer name is required.")
        elif len(reviewer) > MAX_REVIEWER:
            problems.append(f"Reviewer name is longer than {MAX_REVIEWER} characters.")
        if not reason:
            problems.append("A reason is required.")
        elif len(reason) > MAX_REASON:
            problems.append(f"The reason is longer than {MAX_REASON} characters.")
        rec = entry.rec
        current = state_of(entry, latest_of(snap.rows))
        to_decision, to_code = rec.decision, rec.supported_code
        if action == "override":
            to_decision = form.get("decision", "")
            raw_code = form.get("supported_code", "")
            to_code = raw_code or None
            if to_decision not in DECISIONS:
                problems.append("Choose the decision: approve, pend or deny.")
            if raw_code not in ("", *CODES):
                problems.append(f"Choose the supported code: {', '.join(CODES)} or none.")
            if not problems and (to_decision, to_code) == (current["decision"], current["code"]):
                problems.append(
                    "The override changes neither the decision nor the code; use Accept instead."
                )
        if problems:
            return case_page(request, entry, problems=problems, form=form, status_code=400)
        try:
            store.insert(
                reviewer=reviewer,
                case_key=entry.key,
                case_id=entry.case_id,
                action=action,
                from_decision=current["decision"],
                from_code=current["code"],
                to_decision=to_decision,
                to_code=to_code,
                reason=reason,
                provenance=rec.provenance.model_dump(mode="json"),
                rec_sha256=hashlib.sha256(rec.model_dump_json().encode("utf-8")).hexdigest(),
            )
        except AuditError as exc:
            if exc.code == "A003":  # the chain broke between the check above and the write
                return case_page(
                    request, entry, problems=[NOT_RECORDED], form=form, status_code=409
                )
            problem = f"This review was not recorded: {exc.message}. Your entry is kept below."
            return case_page(request, entry, problems=[problem], form=form, status_code=503)
        return RedirectResponse(f"/case/{entry.slug}#audit", status_code=303)

    # ------------------------------------------------------------------ documentation request

    def pended_or_404(slug: str) -> CaseEntry:
        entry = entry_or_404(slug)
        if entry.rec is None or entry.rec.decision != "pend":
            raise HTTPException(
                status_code=404, detail="a documentation request is drafted for pended cases only"
            )
        return entry

    def letter_file(entry: CaseEntry, text: str) -> PlainTextResponse:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", entry.case_id) or "case"
        return PlainTextResponse(
            text.replace("\r\n", "\n"),
            headers={
                "Content-Disposition": f'attachment; filename="documentation-request-{name}.txt"'
            },
        )

    @app.get("/case/{slug}/letter", response_class=HTMLResponse)
    def letter(request: Request, slug: str) -> HTMLResponse:
        entry = pended_or_404(slug)
        return page(
            request,
            "letter.html.j2",
            entry=entry,
            rec=entry.rec,
            items=missing_items(entry.rec),
            letter=draft_letter(entry.rec, date_of_service=entry.date_of_service),
        )

    @app.get("/case/{slug}/letter.txt")
    def letter_txt(slug: str) -> PlainTextResponse:
        entry = pended_or_404(slug)
        return letter_file(entry, draft_letter(entry.rec, date_of_service=entry.date_of_service))

    @app.post("/case/{slug}/letter.txt")
    async def letter_txt_edited(request: Request, slug: str) -> PlainTextResponse:
        entry = pended_or_404(slug)
        text = (await request.form()).get("letter")
        if not isinstance(text, str) or not text.strip():
            raise HTTPException(status_code=400, detail="the letter is empty")
        return letter_file(entry, text)

    # ------------------------------------------------------------------ exports

    def reviewed(rows: list[AuditRow]) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.case_key] = counts.get(row.case_key, 0) + 1
        by_key = {e.key: e for e in source.entries}
        out = []
        for key, row in latest_of(rows).items():
            entry = by_key.get(key)
            rec = entry.rec if entry else None
            out.append(
                {
                    "case_key": key,
                    "case_id": row.case_id,
                    "recommended_decision": rec.decision if rec else None,
                    "recommended_code": rec.supported_code if rec else None,
                    "final_decision": row.to_decision,
                    "final_code": row.to_code,
                    "action": row.action,
                    "reviewer": row.reviewer,
                    "reviewed_at": row.at,
                    "reason": row.reason,
                    "audit_id": row.id,
                    "reviews": counts[key],
                    "rules_sha256": json.loads(row.provenance).get("rules_sha256"),
                }
            )
        out.sort(key=lambda r: (r["case_id"], r["case_key"]))
        return out

    @app.get("/export.json")
    def export_json() -> Response:
        snap = store.snapshot()
        body = {
            "exported_at": utc_now(),
            "source": source.root,
            "audit": {
                "verified": snap.check.ok,
                "rows": len(snap.rows),
                "head": snap.check.head if snap.check.ok else None,
                "problem": snap.problem,
            },
            "decisions": reviewed(snap.rows),
        }
        return Response(
            json.dumps(body, indent=2, ensure_ascii=False) + "\n",
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="reviewed-decisions.json"'},
        )

    @app.get("/export.csv")
    def export_csv() -> Response:
        rows = reviewed(store.snapshot().rows)
        buf = io.StringIO()
        fields = list(rows[0]) if rows else EXPORT_FIELDS
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _spreadsheet_safe(v) for k, v in row.items()})
        return Response(
            buf.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="reviewed-decisions.csv"'},
        )

    return app


NOT_RECORDED = (
    "This review was not recorded: the audit trail failed verification (see the banner above). "
    "Your entry is kept below; submit it again once the audit file is restored."
)

EXPORT_FIELDS = [
    "case_key",
    "case_id",
    "recommended_decision",
    "recommended_code",
    "final_decision",
    "final_code",
    "action",
    "reviewer",
    "reviewed_at",
    "reason",
    "audit_id",
    "reviews",
    "rules_sha256",
]


def _spreadsheet_safe(value: Any) -> Any:
    """Free text starting like a formula is prefixed with ' so a spreadsheet shows it as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def query(filters: dict[str, str], **changes: str) -> str:
    merged = {**filters, **changes}
    return urlencode({k: v for k, v in merged.items() if v})

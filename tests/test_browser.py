"""The workbench in a real browser: Debian's headless Chromium driven by Playwright's Python package.

The server runs with uvicorn in a thread on a free loopback port over the bundled examples (with
``--auth none``, and again with ``--auth local``: a nurse signs in, takes a case and overrides it,
refers a medical-necessity denial, fails to confirm it; a physician confirms it; and with ``--auth
oidc`` against oidc-provider-mock on another site, where both sign in on the provider's page). The
test opens the queue, a pended case, clicks a criterion (its evidence gets the highlight), submits
an override (the form's CSRF token, the session cookie and Chromium's own Origin header must all
pass), reloads and finds the audit entry, and saves a screenshot of the case page to the
pytest tmp dir (and to ``docs/workbench.png``, the README's, when REVIEW_UPDATE_SCREENSHOT=1). Never runs ``playwright install``: it uses
/usr/bin/chromium (``apt-get install -y chromium``) and skips without it.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.is_file():
    pytest.skip(
        "no /usr/bin/chromium (Debian: apt-get install -y chromium)", allow_module_level=True
    )
pytest.importorskip("fastapi", reason="the workbench extra is not installed")
pytest.importorskip("uvicorn", reason="the workbench extra is not installed")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright (Python package) is not installed"
)

from live_server import serve  # noqa: E402

from review.workbench.app import create_app  # noqa: E402
from review.workbench.cases import load_cases  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCREENSHOT = ROOT / "docs" / "workbench.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("workbench") / "audit.sqlite"
    app = create_app(load_cases(EXAMPLES), db)
    with serve(app) as base:
        yield base, db


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=30_000
            )
        except sync_api.Error as exc:  # an unusable browser build: say so, do not fail obscurely
            pytest.skip(f"cannot launch {CHROMIUM}: {str(exc).splitlines()[0]}")
        yield b
        b.close()


def test_triage_a_pended_case_in_chromium(server, browser, tmp_path):
    base, db = server
    expect = sync_api.expect
    page = browser.new_page(viewport={"width": 1440, "height": 960})
    requests: list[str] = []
    posts: list[dict[str, str]] = []
    problems: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("request", lambda r: posts.append(r.headers) if r.method == "POST" else None)
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(str(e)))

    # the queue: counts at the top, pended cases first
    page.goto(base + "/")
    expect(page.locator("#count-total .n")).to_have_text("4")
    expect(page.locator("#count-pend .n")).to_have_text("2")
    decisions = page.locator("tr.queue-row").evaluate_all(
        "rows => rows.map(r => r.dataset.decision)"
    )
    assert decisions[:2] == ["pend", "pend"] and len(decisions) == 4

    # open the pended case with no conservative care documented
    page.get_by_role("link", name="EX-002", exact=True).click()
    page.wait_for_url(re.compile(r"/case/pend-no-conservative-care$"))
    expect(page.locator("h1.banner-decision")).to_have_text("Pend for nurse review")
    expect(page.locator("#c-TPI-M05")).to_have_attribute("data-status", "not_met")

    # click a criterion: its evidence is highlighted and scrolled into view
    marks = page.locator('mark.ev[data-rule~="TPI-M05"]')
    assert marks.count() >= 1
    expect(marks.first).not_to_have_class(re.compile(r"\bhl\b"))
    page.locator('#c-TPI-M05 a.rule-link[data-rule-link="TPI-M05"]').click()
    for i in range(marks.count()):
        expect(marks.nth(i)).to_have_class(re.compile(r"\bhl\b"))
    assert page.locator("mark.ev.hl").count() == marks.count()
    expect(marks.first).to_be_in_viewport()
    expect(page.locator("#c-TPI-M05")).to_have_class(re.compile(r"\bactive\b"))
    assert page.evaluate("location.hash") == "#" + marks.first.get_attribute("id")
    # another criterion moves the highlight
    page.locator('#c-TPI-M04 a.rule-link[data-rule-link="TPI-M04"]').click()
    expect(page.locator('mark.ev[data-rule~="TPI-M04"]').first).to_have_class(re.compile(r"\bhl\b"))

    # the screenshot for the README: the case page with the criterion's evidence highlighted
    page.locator('#c-TPI-M05 a.rule-link[data-rule-link="TPI-M05"]').click()
    page.locator("#c-TPI-M05").evaluate("el => el.scrollIntoView({block: 'center'})")
    expect(marks.first).to_be_in_viewport()
    shot = tmp_path / "workbench-case.png"
    page.screenshot(path=str(shot))
    page.screenshot(path=str(tmp_path / "workbench-case-full.png"), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("REVIEW_UPDATE_SCREENSHOT") == "1":  # a clean checkout stays clean
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)

    # override with a reason; reload and see the audit entry
    reason = "Provider faxed PT notes: 6 weeks of therapy without relief."
    page.locator("#f-decision").select_option("approve")
    page.locator("#f-code").select_option("20552")
    page.locator("#f-reviewer").fill("Test Nurse")
    page.locator("#f-reason").fill(reason)
    page.locator("#btn-override").click()
    page.wait_for_url(re.compile(r"/case/pend-no-conservative-care(#audit)?$"))
    page.reload()
    row = page.locator("tr.audit-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Test Nurse")
    expect(row).to_contain_text(reason)
    expect(row).to_contain_text("pend / 20552")
    expect(row).to_contain_text("approve / 20552")
    expect(page.locator("#review-status")).to_have_text("overridden")
    # the workbench's own Origin came with the post (Referrer-Policy same-origin: under
    # no-referrer Chromium sends "Origin: null", which the CSRF check refuses)
    assert [h.get("origin") for h in posts] == [base]
    assert page.locator("#audit-alert").count() == 0
    from review.workbench.trail import verify_file

    assert verify_file(db).rows == 1

    # the browser asked nothing of any other host, and the CSP let our inline code run
    assert requests and all(u.startswith(base + "/") for u in requests), requests
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    page.close()


def test_override_without_reason_is_refused_in_the_browser(server, browser):
    base, _db = server
    page = browser.new_page()
    page.goto(base + "/case/downcode-20553-two-muscles")
    # bypass the browser's own `required` check: the server must refuse too
    page.evaluate(
        "document.querySelectorAll('#review-form [required]').forEach(e => e.removeAttribute('required'))"
    )
    page.locator("#f-reviewer").fill("Test Nurse")
    with page.expect_response(lambda r: r.url.endswith("/review")) as info:
        page.locator("#btn-accept").click()
    assert info.value.status == 400
    sync_api.expect(page.locator("#problems")).to_contain_text("A reason is required.")
    sync_api.expect(page.locator("tr.audit-row")).to_have_count(0)
    page.close()


# --------------------------------------------------------------------------- --auth local


@pytest.fixture(scope="module")
def team_server(tmp_path_factory):
    """The workbench with --auth local: a nurse and a physician account."""
    from review.workbench.accounts import Accounts
    from review.workbench.store import AuditStore

    db = tmp_path_factory.mktemp("team") / "audit.sqlite"
    store = AuditStore(db)
    accounts = Accounts(store)
    accounts.add_user("nurse1", "nurse1 correct horse", ["nurse"], "Nora Nurse")
    accounts.add_user("doc1", "doc1 correct horse", ["physician"], "Dr. Phil")
    app = create_app(load_cases(EXAMPLES), store, auth="local")
    with serve(app) as base:
        yield base, db


def chromium_sign_in(browser, base: str, username: str):
    context = browser.new_context()  # its own cookie jar: one person per context
    page = context.new_page()
    page.goto(base + "/")
    page.wait_for_url(re.compile(r"/signin\?next=/$"))
    page.locator("#f-username").fill(username)
    page.locator("#f-password").fill(f"{username} correct horse")
    page.locator("#btn-signin").click()
    page.wait_for_url(base + "/")
    sync_api.expect(page.locator("#whoami")).to_have_attribute("data-username", username)
    return context, page


def test_nurse_and_physician_sign_in_refer_and_confirm_in_chromium(team_server, browser):
    base, db = team_server
    expect = sync_api.expect
    from review.workbench.store import verify_file

    def trail() -> list[tuple]:
        import sqlite3

        con = sqlite3.connect(db)
        try:
            return con.execute(
                "SELECT action, reviewer, case_key, to_decision FROM audit ORDER BY id"
            ).fetchall()
        finally:
            con.close()

    # a wrong password is refused on the sign-in page
    context = browser.new_context()
    page = context.new_page()
    page.goto(base + "/signin")
    page.locator("#f-username").fill("nurse1")
    page.locator("#f-password").fill("not the password at all")
    with page.expect_response(
        lambda r: r.url.endswith("/signin") and r.request.method == "POST"
    ) as info:
        page.locator("#btn-signin").click()
    assert info.value.status == 401
    expect(page.locator("#problems")).to_contain_text("Wrong username or password")
    context.close()

    # the nurse signs in, takes a pended case and overrides it with a reason
    nurse_ctx, nurse = chromium_sign_in(browser, base, "nurse1")
    nurse.get_by_role("link", name="EX-004", exact=True).click()
    nurse.wait_for_url(re.compile(r"/case/downcode-20553-two-muscles$"))
    nurse.locator("#btn-take").click()
    nurse.wait_for_url(re.compile(r"/case/downcode-20553-two-muscles(#\w+)?$"))
    expect(nurse.locator("#assignee")).to_have_text("nurse1")
    assert nurse.locator("#f-reviewer").count() == 0  # the signed-in username is recorded
    nurse.locator("#f-decision").select_option("approve")
    nurse.locator("#f-code").select_option("20552")
    nurse.locator("#f-reason").fill("Two muscles documented; 20552 is right, approve it.")
    nurse.locator("#btn-override").click()
    nurse.wait_for_url(re.compile(r"/case/downcode-20553-two-muscles#audit$"))
    expect(nurse.locator("#review-status")).to_have_text("overridden")
    # "mine" in the queue
    nurse.goto(base + "/?assigned=mine")
    assert nurse.locator("tr.queue-row").evaluate_all(
        "rows => rows.map(r => r.dataset.caseId)"
    ) == ["EX-004"]

    # the nurse denies another case on medical-necessity grounds: it becomes a referral
    nurse.goto(base + "/case/pend-no-conservative-care")
    nurse.locator("#f-decision").select_option("deny")
    nurse.locator("#f-code").select_option("")
    nurse.locator("#f-ground").select_option("medical_necessity")
    nurse.locator("#f-reason").fill("Trigger points not shown to be medically necessary.")
    nurse.locator("#btn-override").click()
    nurse.wait_for_url(re.compile(r"/case/pend-no-conservative-care#audit$"))
    expect(nurse.locator("#review-status")).to_have_text("referred")
    expect(nurse.locator("#signoff-physician-only")).to_be_visible()
    assert nurse.locator("#signoff-form").count() == 0
    # a confirm the nurse forges from the page (the form is not shown to her) is refused
    referral = nurse.locator("#signoff").get_attribute("data-referral")
    status = nurse.evaluate(
        """async (referral) => {
            const body = new URLSearchParams({
                csrf_token: document.querySelector('input[name=csrf_token]').value,
                choice: 'confirm', referral, reason: 'confirming it myself'});
            const r = await fetch('/case/pend-no-conservative-care/signoff', {method: 'POST', body});
            return [r.status, await r.text()];
        }""",
        referral,
    )
    assert status[0] == 403 and "sign_off" in status[1]  # the role check, not the CSRF guard
    before = trail()
    assert [a for a, *_ in before] == ["assign", "override", "refer"]

    # the physician signs in, finds it in the physician queue and confirms the denial
    doc_ctx, doc = chromium_sign_in(browser, base, "doc1")
    doc.locator("#nav-physician").click()
    doc.wait_for_url(re.compile(r"/\?review=referred$"))
    doc.get_by_role("link", name="EX-002", exact=True).click()
    doc.locator("#s-reason").fill("Agree: no necessity documented.")
    doc.locator("#btn-confirm").click()
    doc.wait_for_url(re.compile(r"/case/pend-no-conservative-care#audit$"))
    expect(doc.locator("#review-status")).to_have_text("confirmed")
    expect(doc.locator("tr.audit-row").last).to_contain_text("doc1")
    assert trail() == [
        *before,
        ("confirm", "doc1", "pend-no-conservative-care", "deny"),
    ]
    assert verify_file(db).rows == 4

    # sign out: the next page asks for a sign-in again
    doc.locator("#btn-signout").click()
    doc.wait_for_url(re.compile(r"/signin$"))
    doc.goto(base + "/case/pend-no-conservative-care")
    doc.wait_for_url(re.compile(r"/signin\?next="))
    nurse_ctx.close()
    doc_ctx.close()


# --------------------------------------------------------------------------- --auth oidc


@pytest.fixture(scope="module")
def oidc_server(tmp_path_factory):
    """The workbench with --auth oidc against oidc-provider-mock. The provider is addressed as
    ``localhost`` and the workbench as ``127.0.0.1``: two sites, so the browser treats the
    provider's redirect back as cross-site, as it is in production (SameSite rules apply)."""
    pytest.importorskip("authlib", reason="the workbench extra is not installed")
    from oidc_mock import running_provider

    from review.workbench.oidc import OIDCSettings

    db = tmp_path_factory.mktemp("oidc") / "audit.sqlite"
    with running_provider() as provider:
        issuer = provider.url.replace("127.0.0.1", "localhost")
        provider.url = issuer
        provider.user("nora-sub", name="Nora Nurse", roles=["tpi-nurses"])
        provider.user("phil-sub", name="Dr. Phil", roles=["tpi-physicians"])

        def build(base: str):
            settings = OIDCSettings.model_validate(
                {
                    "issuer": issuer,
                    "client_id": "tpi-workbench",
                    "client_secret": "not-a-real-secret-browser-0123",
                    "redirect_uri": base + "/signin/callback",
                    "roles": {"tpi-nurses": ["nurse"], "tpi-physicians": ["physician"]},
                }
            )
            return create_app(load_cases(EXAMPLES), db, auth="oidc", oidc=settings)

        with serve(build=build) as base:
            yield base, db, issuer


def chromium_oidc_sign_in(browser, base: str, issuer: str, sub: str):
    from review.workbench.oidc_signin import oidc_username

    context = browser.new_context()
    page = context.new_page()
    page.goto(base + "/")
    page.wait_for_url(re.compile(r"/signin\?next=/$"))
    page.locator("#btn-oidc").click()
    page.wait_for_url(re.compile(re.escape(issuer) + r"/oauth2/authorize\?"))
    page.locator('input[name="sub"]').fill(sub)  # the mock provider's form: who signs in
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(base + "/")
    username = oidc_username(issuer, sub)
    sync_api.expect(page.locator("#whoami")).to_have_attribute("data-username", username)
    return context, page, username


def test_oidc_nurse_and_physician_sign_in_through_the_provider_in_chromium(oidc_server, browser):
    base, db, issuer = oidc_server
    expect = sync_api.expect
    from review.workbench.store import verify_file

    def trail() -> list[tuple]:
        import sqlite3

        con = sqlite3.connect(db)
        try:
            return con.execute(
                "SELECT action, reviewer, case_key, to_decision FROM audit ORDER BY id"
            ).fetchall()
        finally:
            con.close()

    # the nurse signs in at the provider, takes a case and overrides it with a reason
    nurse_ctx, nurse, nora = chromium_oidc_sign_in(browser, base, issuer, "nora-sub")
    expect(nurse.locator("#whoami")).to_contain_text("Nora Nurse")
    nurse.get_by_role("link", name="EX-004", exact=True).click()
    nurse.wait_for_url(re.compile(r"/case/downcode-20553-two-muscles$"))
    nurse.locator("#btn-take").click()
    nurse.wait_for_url(re.compile(r"/case/downcode-20553-two-muscles(#\w+)?$"))
    expect(nurse.locator("#assignee")).to_have_text(nora)
    nurse.locator("#f-decision").select_option("approve")
    nurse.locator("#f-code").select_option("20552")
    nurse.locator("#f-reason").fill("Two muscles documented; 20552 is right, approve it.")
    nurse.locator("#btn-override").click()
    nurse.wait_for_url(re.compile(r"/case/downcode-20553-two-muscles#audit$"))
    expect(nurse.locator("#review-status")).to_have_text("overridden")

    # a medical-necessity denial becomes a referral; the nurse's forged confirm is refused
    nurse.goto(base + "/case/pend-no-conservative-care")
    nurse.locator("#f-decision").select_option("deny")
    nurse.locator("#f-code").select_option("")
    nurse.locator("#f-ground").select_option("medical_necessity")
    nurse.locator("#f-reason").fill("Trigger points not shown to be medically necessary.")
    nurse.locator("#btn-override").click()
    nurse.wait_for_url(re.compile(r"/case/pend-no-conservative-care#audit$"))
    expect(nurse.locator("#review-status")).to_have_text("referred")
    referral = nurse.locator("#signoff").get_attribute("data-referral")
    before = trail()
    status = nurse.evaluate(
        """async (referral) => {
            const body = new URLSearchParams({
                csrf_token: document.querySelector('input[name=csrf_token]').value,
                choice: 'confirm', referral, reason: 'confirming it myself'});
            const r = await fetch('/case/pend-no-conservative-care/signoff', {method: 'POST', body});
            return [r.status, await r.text()];
        }""",
        referral,
    )
    assert status[0] == 403 and "sign_off" in status[1]
    assert trail() == before
    assert [(a, who) for a, who, *_ in before] == [
        ("assign", nora),
        ("override", nora),
        ("refer", nora),
    ]

    # the physician signs in at the provider and confirms the denial
    doc_ctx, doc, phil = chromium_oidc_sign_in(browser, base, issuer, "phil-sub")
    doc.locator("#nav-physician").click()
    doc.wait_for_url(re.compile(r"/\?review=referred$"))
    doc.get_by_role("link", name="EX-002", exact=True).click()
    doc.locator("#s-reason").fill("Agree: no necessity documented.")
    doc.locator("#btn-confirm").click()
    doc.wait_for_url(re.compile(r"/case/pend-no-conservative-care#audit$"))
    expect(doc.locator("#review-status")).to_have_text("confirmed")
    assert trail() == [*before, ("confirm", phil, "pend-no-conservative-care", "deny")]
    assert verify_file(db).rows == 4

    # sign out: the next page asks for a sign-in again
    doc.locator("#btn-signout").click()
    doc.wait_for_url(re.compile(r"/signin$"))
    doc.goto(base + "/case/pend-no-conservative-care")
    doc.wait_for_url(re.compile(r"/signin\?next="))
    nurse_ctx.close()
    doc_ctx.close()

"""The workspace in a real browser (Debian's Chromium through Playwright): a day's work from
sign-in with a second factor to sign-out, role and CSRF checks that fail closed, hostile
strings shown as text, a screenshot of every page at 1366x768 and an axe-core check of each.

One server and one store for the module: an invented world from the demo (three countries,
2020), with an analyst enrolled for a second factor, an administrator and a liaison officer
for the Netherlands (whose referrals the demo routed).

Screenshots go to ``test-artifacts/workspace/`` (ignored by git), or to the folder named by
``TIPWATCH_SCREENSHOTS``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tipwatch import services
from tipwatch.services.access import Actor, Role
from tipwatch.settings import get_settings, reload_settings
from tipwatch.store import Store

from .conftest import fresh_totp

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

PASSWORD = "correct horse battery staple"
OPERATOR = Actor("operator", Role.ADMIN)
REPO = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("TIPWATCH_SCREENSHOTS", REPO / "test-artifacts" / "workspace"))
AXE = "/static/vendor/axe-4.14.1.min.js"

HOSTILE = {
    "report_id": "<script>alert(1)</script>",
    "platform": '"><img src=x onerror=alert(2)>',
    "additional_info": '{{7*7}} <svg onload=alert(3)> javascript:alert(4) =HYPERLINK("x")',
    "account": "<b onmouseover=alert(5)>u</b>",
}


@dataclass
class Served:
    url: str
    store: Store
    folder: Path
    secrets: dict[str, str]
    nl_referral: str
    de_referral: str
    account: str
    md5: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _hostile_referral(folder: Path) -> Path:
    record = {
        "report_id": HOSTILE["report_id"],
        "incident_type": "Child Pornography (possession, manufacture, and distribution)",
        "incident_time": "2020-03-20T10:00:00Z",
        "platform": HOSTILE["platform"],
        "additional_info": HOSTILE["additional_info"],
        "supplied_geolocation": {"country_code": "DE"},
        "reported": [{"esp_identifier": HOSTILE["account"], "esp_service": "Example.invalid"}],
    }
    path = folder / "hostile.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    import uvicorn
    from sqlalchemy import select

    from tipwatch.demo.run import run_demo
    from tipwatch.store.schema import attributions, referral_files, referral_identifiers
    from tipwatch.web.app import create_app

    folder = tmp_path_factory.mktemp("workspace")
    os.environ["TIPWATCH_API_PACKAGE_DIR"] = str(folder / "packages")
    reload_settings()
    run_demo(
        folder / "demo", scale=0.002, countries=["NL", "DE", "FR"], years=(2020,), assessment=False
    )
    store = Store.open(str(folder / "demo" / "tipwatch.db"))
    services.referrals.ingest(store, OPERATOR, [_hostile_referral(folder)])
    services.triage.run_triage(store, OPERATOR, config=services.triage.load_triage_config())
    secrets: dict[str, str] = {}
    analyst = services.identity.add_user(store, OPERATOR, "ana", "analyst", PASSWORD, totp=True)
    secrets["ana"] = analyst["totp_enrolment"]["secret"]
    admin = services.identity.add_user(store, OPERATOR, "adm", "admin", PASSWORD)
    secrets["adm"] = admin["totp_enrolment"]["secret"]
    services.identity.add_user(store, OPERATOR, "lia", "liaison", PASSWORD, country="NL")
    with store.read() as conn:
        a = attributions.c
        nl = conn.execute(select(a.report_id).where(a.country == "NL").limit(1)).scalar_one()
        de = conn.execute(
            select(a.report_id).where(a.country == "DE").order_by(a.report_id).limit(1)
        ).scalar_one()
        f = referral_files.c
        md5 = conn.execute(select(f.md5).where(f.md5.is_not(None)).limit(1)).scalar_one()
        i = referral_identifiers.c
        account = conn.execute(
            select(i.value).where(i.kind == "account").order_by(i.value).limit(1)
        ).scalar_one()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    try:
        yield Served(f"http://127.0.0.1:{port}", store, folder, secrets, nl, de, account, md5)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()
        os.environ.pop("TIPWATCH_API_PACKAGE_DIR", None)
        reload_settings()


@pytest.fixture(autouse=True)
def _package_dir(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    # The shared settings fixture clears TIPWATCH_* for each test: name the package folder
    # again, so that packages sent from the pages land in the test's folder.
    monkeypatch.setenv("TIPWATCH_API_PACKAGE_DIR", str(served.folder / "packages"))
    reload_settings()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    try:
        yield page
    finally:
        assert dialogs == [], f"a script ran from page content: {dialogs}"
        context.close()


def check(page: Any, name: str) -> None:
    """Screenshot the page (1366x768 viewport, whole page), check it does not overflow
    sideways, and run axe-core: no serious or critical violation."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name}: the page is {overflow}px wider than the window"
    page.add_script_tag(url=AXE)
    found = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target).join(' | '));
        }"""
    )
    assert found == [], f"{name}: {found}"


def sign_in(page: Any, served: Served, name: str, *, code: bool = True) -> None:
    """The two steps: the password, then (for a user with a second factor) the code; without
    ``code`` a wrong one is given."""
    page.goto(served.url + "/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    if name in served.secrets:
        page.locator("#totp").wait_for()
        page.fill(
            "#totp",
            fresh_totp(served.store, name, served.secrets[name]) if code else "000000",
        )
        page.click("button[type=submit]")


def test_a_day_of_work(tab: Any, served: Served) -> None:
    page = tab
    # With a wrong second factor the analyst enrolled for one is refused.
    sign_in(page, served, "ana", code=False)
    assert page.locator(".error").is_visible()
    check(page, "01-sign-in-refused")
    sign_in(page, served, "ana")
    page.wait_for_url("**/today")
    page.wait_for_url("**/today")
    assert page.title() == "Today · tipwatch"
    check(page, "02-today")
    page.select_option("#t-metric", "blocked_requests")
    page.click(".today-metric button")
    assert (
        "metric=blocked_requests" in page.url
        and "(blocked_requests)" in page.locator("main").inner_text()
    )

    # The queue: filter by tier, claim the first referral in one click (htmx), open it.
    page.click("nav >> text=Queue")
    check(page, "03-queue")
    page.select_option("#f-tier", "high")
    page.click(".filters button[type=submit]")
    assert "tier=high" in page.url
    tiers = page.locator("table.queue tbody .tier").all_inner_texts()
    assert tiers and set(tiers) == {"high"}
    first = page.locator("table.queue tbody tr").first
    report_id = first.locator("td.id a").inner_text()
    first.locator("button", has_text="Claim").click()
    page.locator("table.queue tbody tr").first.locator("text=(claimed)").wait_for()
    assert "ana" in page.locator("table.queue tbody tr").first.locator("td.assignee").inner_text()
    case = services.cases.show_case(served.store, OPERATOR, report_id)
    assert case["assignee"] == "ana"

    first.locator("td.id a").click()
    page.wait_for_url(f"**/referrals/{report_id}")
    assert page.title() == f"Referral {report_id} · tipwatch"
    assert page.locator("#h-files").is_visible() and page.locator("#h-attribution").is_visible()
    assert page.locator("img, video").count() == 0  # no media, ever, by default
    # A note, then its new version; the status moves on.
    page.fill("#new-note", "Checked the uploader's other accounts.")
    page.click("text=Add note")
    page.locator(".note .body", has_text="other accounts").wait_for()
    page.click("text=Edit (a new version; earlier ones stay)")
    page.fill("#edit-1", "Checked the uploader's other accounts: two more found.")
    page.click("text=Save new version")
    page.locator(".note .body", has_text="two more found").wait_for()
    page.select_option("#c-status", "in_review")
    page.click("text=Set status")
    page.locator(".case strong", has_text="in_review").wait_for()
    assert page.locator("#h-history ~ table").inner_text().count("case.") >= 2
    check(page, "04-dossier")
    notes = services.cases.list_notes(served.store, OPERATOR, "referral", report_id, history=True)
    assert [n["version"] for n in notes] == [1, 2]

    # Search by account and by hash: the term goes in the body, never in the URL.
    page.click("nav >> text=Search")
    page.fill("#q", served.account)
    page.click(".searchbox button")
    assert "found" in (page.locator(".found").inner_text() + "found")
    assert served.account not in page.url
    assert page.locator("tbody td.id a").count() >= 1
    assert "account" in page.locator(".found").inner_text()
    check(page, "05-search-account")
    page.fill("#q", served.md5)
    page.click(".searchbox button")
    assert "hash" in page.locator(".found").inner_text()
    assert page.locator("tbody td.id a").count() >= 1
    check(page, "06-search-hash")

    # A country with its chart: labelled, with the baseline band and event lines.
    page.goto(served.url + "/countries/NL")
    chart = page.locator("svg.chart")
    assert chart.get_attribute("role") == "img"
    assert "referrals in NL" in (chart.locator("title").first.text_content() or "")
    assert chart.locator("rect").count() >= 1 and chart.locator("path").count() == 1
    check(page, "07-country")

    # Routing: preview, send, recall.
    page.click("nav >> text=Routing")
    page.fill("#r-country", "DE")
    page.click("button[value=preview]")
    heading = page.locator("#h-preview").inner_text()
    count = int(re.search(r"(\d+) referrals", heading).group(1))  # type: ignore[union-attr]
    assert count > 0
    check(page, "08-routing-preview")
    page.click("button[value=send]")
    sent = page.locator("p.found").inner_text()
    package_id = int(re.search(r"Package (\d+) sent", sent).group(1))  # type: ignore[union-attr]
    row = page.locator(f"#package-{package_id}")
    assert f"{count}" in row.inner_text()
    row.locator("input[name=reason]").fill("sent to the wrong office")
    row.locator("button", has_text="Recall").click()
    page.locator(f"#package-{package_id}", has_text="recalled").wait_for()
    check(page, "09-routing-recalled")

    for section, name in (("Alerts", "10-alerts"), ("Groups", "11-groups")):
        page.click(f"nav >> text={section}")
        check(page, name)
    page.click("nav >> text=Hash lists")
    assert page.locator("h2", has_text="demo-vics").is_visible()
    check(page, "12-lists")
    page.click("nav >> text=Countries")
    check(page, "13-countries")
    page.goto(served.url + "/password")
    check(page, "14-password")

    page.click("text=Sign out")
    page.wait_for_url("**/login")
    page.goto(served.url + "/queue")
    assert page.url.endswith("/login")


def test_admin_pages_and_alert_acknowledgement(tab: Any, served: Served) -> None:
    page = tab
    sign_in(page, served, "adm")
    page.wait_for_url("**/today")
    page.click("nav >> text=Alerts")
    forms = page.locator("form[action='/alerts/ack']")
    waiting = forms.count()
    assert waiting > 0, "the demo world has surge episodes to acknowledge"
    forms.first.locator("input[name=note]").fill("Seen; the lockdown explains it.")
    forms.first.locator("button").click()
    page.locator("td", has_text="adm, ").first.wait_for()
    assert page.locator("form[action='/alerts/ack']").count() == waiting - 1
    page.click("nav >> text=Audit")
    page.click("text=Verify the chain")
    assert "intact" in page.locator("[role=status]").inner_text()
    check(page, "15-audit")
    page.fill("#au-action", "referral.show")
    page.click(".filters button")
    assert "action=referral.show" in page.url
    page.click("nav >> text=Users")
    assert page.locator("td", has_text="lia").first.is_visible()
    check(page, "16-users")
    # The administrator sees who has viewed a dossier: the analyst, then the administrator.
    services.workspace.dossier_page(
        served.store,
        Actor("ana", Role.ANALYST),
        served.nl_referral,
        config=services.triage.load_triage_config(),
    )
    page.goto(f"{served.url}/referrals/{served.nl_referral}")
    check(page, "17-dossier-admin")
    page.click("text=Views of this dossier in the audit log")
    viewers = page.locator("table tbody").inner_text()
    assert "ana (analyst)" in viewers and "adm (admin)" in viewers


def test_hostile_strings_render_as_text(tab: Any, served: Served) -> None:
    from urllib.parse import quote

    page = tab
    sign_in(page, served, "adm")
    page.wait_for_url("**/today")
    page.goto(f"{served.url}/referrals/{quote(HOSTILE['report_id'], safe='')}")
    assert HOSTILE["report_id"] in page.locator("h1").inner_text()
    body = page.locator("#h-fields ~ dl").inner_text()
    assert HOSTILE["platform"] in body and HOSTILE["additional_info"] in body
    assert HOSTILE["account"] in body
    assert page.locator("img, svg:not(.chart) script, b[onmouseover]").count() == 0
    check(page, "18-dossier-hostile")


def test_liaison_sees_only_its_country(tab: Any, served: Served) -> None:
    page = tab
    sign_in(page, served, "lia")
    page.wait_for_url("**/routing")
    # No queue for a liaison officer; another country's referral is not there at all.
    page.goto(f"{served.url}/queue")
    assert page.locator("h1").inner_text() == "Not allowed"
    check(page, "20-not-allowed")
    page.goto(f"{served.url}/referrals/{served.de_referral}")
    assert page.locator("h1").inner_text() == "Not found"
    check(page, "21-not-found")
    page.goto(f"{served.url}/referrals/{served.nl_referral}")
    assert served.nl_referral in page.locator("h1").inner_text()
    assert page.locator("text=Set status").count() == 0
    page.click("nav >> text=Routing")
    assert page.locator("#r-country").count() == 0  # no routing form for a liaison officer
    check(page, "19-routing-liaison")
    row = page.locator("form[action$='/ack']").first
    row.locator("input[name=outcome]").fill("Opened an investigation")
    row.locator("button").click()
    page.locator("td", has_text="by lia: Opened an investigation").wait_for()


def test_forms_without_their_token_are_refused(tab: Any, served: Served) -> None:
    page = tab
    sign_in(page, served, "ana")
    page.wait_for_url("**/today")
    before = services.cases.show_case(served.store, OPERATOR, served.de_referral)
    url = f"{served.url}/referrals/{served.de_referral}/status"
    for token in ({}, {"csrf_token": "not-the-token"}):
        answer = page.request.post(url, form={"status": "closed", "reason": "x", **token})
        assert answer.status == 403 and "security token" in answer.text()
    assert services.cases.show_case(served.store, OPERATOR, served.de_referral) == before
    # The sign-in form, too, needs the token its page gave.
    answer = page.request.post(
        served.url + "/login", form={"name": "ana", "password": PASSWORD, "csrf_token": "x"}
    )
    assert answer.status == 403


def _client_signed_in(served: Served, name: str) -> Any:
    """A client of the served store's app over HTTP (in process), signed in in two steps."""
    from fastapi.testclient import TestClient

    from tipwatch.web.app import create_app

    def token(html: str, field: str = "csrf_token") -> str:
        found = re.search(rf'name="{field}" value="([^"]+)"', html)
        assert found, html[:500]
        return found.group(1)

    client = TestClient(create_app(served.store))
    form = client.get("/login").text
    answer = client.post(
        "/login", data={"name": name, "password": PASSWORD, "csrf_token": token(form)}
    )
    if name in served.secrets:
        answer = client.post(
            "/login/code",
            data={
                "pending": token(answer.text, "pending"),
                "totp": fresh_totp(served.store, name, served.secrets[name]),
                "csrf_token": token(answer.text),
            },
        )
    assert answer.status_code == 200 and "Sign out" in answer.text, answer.text[:1000]
    return client


def test_the_assessment_page_builds_june_2020(served: Served) -> None:
    def _token(html: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert found, html[:500]
        return found.group(1)

    client = _client_signed_in(served, "ana")
    form = client.get("/assessment")
    assert form.status_code == 200 and 'name="kind" value="quarter"' in form.text
    token = _token(form.text)
    # A period that is not one is refused as bad input, naming the field.
    bad = client.post(
        "/assessment", data={"kind": "month", "value": "2020-13", "csrf_token": token}
    )
    assert bad.status_code == 422 and "not a month" in bad.text
    # Without the form's token nothing is built.
    assert client.post("/assessment", data={"kind": "year", "value": "2020"}).status_code == 403

    started = client.post(
        "/assessment",
        data={"kind": "month", "value": "2020-06", "pdf": "yes", "csrf_token": token},
        follow_redirects=False,
    )
    assert started.status_code == 303
    job_page = started.headers["location"]
    deadline = time.monotonic() + 240
    while True:
        progress = client.get(job_page)
        assert progress.status_code == 200
        if 'http-equiv="refresh"' not in progress.text:
            break
        assert time.monotonic() < deadline, progress.text
        time.sleep(0.5)
    assert "The build failed" not in progress.text, progress.text
    assert "2020-06-01 to 2020-06-30" in progress.text

    report = client.get(job_page + "/html")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    marking = get_settings().assessment_marking
    # The title page: its handling marking, the period, and the executive summary after it.
    title_page = report.text.split('<header class="title-page">')[1].split("</header>")[0]
    assert f"<dt>Handling</dt><dd>{marking}</dd>" in title_page
    assert "2020-06-01" in title_page or "June 2020" in title_page, title_page
    assert '<h2 id="summary-h">Executive summary</h2>' in report.text
    # The document's own policy: sandboxed, no other origin, only its own script by hash.
    csp = report.headers["content-security-policy"]
    assert "sandbox" in csp and "script-src 'sha256-" in csp and "http" not in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert report.headers["x-frame-options"] == "DENY"

    pdf = client.get(job_page + "/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert "attachment" in pdf.headers["content-disposition"]

    # Another user's job is not there for them; a liaison officer may not build one.
    other = _client_signed_in(served, "lia")
    assert other.get(job_page + "/html").status_code == 404
    assert other.get("/assessment").status_code == 403


def test_the_assessment_in_the_browser(tab: Any, served: Served) -> None:
    page = tab
    errors: list[str] = []
    # Refusals by a Content-Security-Policy and script errors (not the browser's own
    # favicon request, which the workspace does not serve).
    page.on("console", lambda m: errors.append(m.text) if "Refused" in m.text else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, served, "ana")
    page.wait_for_url("**/today")
    page.click("nav >> text=Assessment")
    page.wait_for_url("**/assessment")
    check(page, "assessment")
    page.check("form[action='/assessment'] input[name=kind][value=month]")
    page.fill("#a-value", "2020-06")
    page.uncheck("input[name=pdf]")
    page.click("button:has-text('Build the assessment')")
    link = page.locator("a", has_text="Read the assessment")
    link.wait_for(timeout=180_000)  # the job's page reloads itself until the build is done
    assert page.locator("text=Built without a PDF.").is_visible()
    check(page, "assessment-job")
    page.goto(served.url + link.get_attribute("href"))
    # The document's own script ran under its policy (it marks the body), nothing was blocked.
    assert page.evaluate("() => document.body.classList.contains('screen')")
    assert page.locator("h2", has_text="Executive summary").is_visible()
    page.screenshot(path=str(SHOTS / "assessment-document.png"))
    assert errors == [], errors


def test_drafting_and_publishing_in_the_browser(tab: Any, served: Served) -> None:
    """An analyst starts a draft of the first half of 2020, writes an introduction and
    recommendations in Markdown, drops one finding and edits another (keeping its number),
    publishes twice, and reads each published version as it was published."""
    page = tab
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Refused" in m.text else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, served, "ana")
    page.wait_for_url("**/today")
    page.click("nav >> text=Assessment")
    page.fill("#d-name", "2020-H1 <b>draft</b>")
    page.check("form[action='/assessment/drafts'] input[name=kind][value=range]")
    page.fill("#d-since", "2020-01-01")
    page.fill("#d-until", "2020-06-30")
    page.click("button:has-text('Start the draft')")
    page.wait_for_url("**/assessment/draft?name=*")
    name = "2020-H1 <b>draft</b>"
    assert page.locator("h1").inner_text() == f"Draft {name}"  # the name shown as text
    assert "2020-01-01 to 2020-06-30" in page.locator("dl.fields").inner_text()
    check(page, "assessment-draft-new")

    # Two sections of the analyst's, the first with raw HTML that must stay text.
    page.fill("#s-title", "Introduction")
    page.select_option("#s-before", "summary")
    page.fill(
        "#s-text",
        "This assessment covers **the first half** of 2020.\n\n<script>alert(9)</script>",
    )
    page.click("button:has-text('Add the section')")
    page.locator("#section-1 h3", has_text="Introduction").wait_for()
    page.fill("#s-title", "Recommendations")
    page.select_option("#s-before", "end")
    page.fill("#s-text", "1. Keep the hotline staffed.\n2. Watch the webcam share.")
    page.click("button:has-text('Add the section')")
    page.locator("#section-2 h3", has_text="Recommendations").wait_for()
    draft = services.assessment.show_draft(served.store, OPERATOR, name)
    assert [(s.position, s.title, s.before) for s in draft.sections] == [
        (1, "Introduction", "summary"),
        (2, "Recommendations", "end"),
    ]
    # Edit the first section in place: same position, new text.
    page.click("text=Edit section 1")
    page.fill("#s-text-1", "This assessment covers **the first half** of 2020, for the board.")
    page.click("button:has-text('Save section 1')")
    page.locator("#section-1 .body", has_text="for the board").wait_for()

    # Findings: drop the first, edit the second; an edit without the number is refused.
    findings = services.assessment.draft_findings(served.store, OPERATOR, name)
    assert len(findings) >= 2
    dropped, edited = findings[0], next(f for f in findings[1:] if f.number)
    page.locator(f"#finding-{dropped.id} button", has_text="Drop").click()
    page.locator(f"#finding-{dropped.id} td.decision", has_text="drop").wait_for()
    assert page.locator(f"#finding-{dropped.id} del").inner_text() == dropped.text
    row = page.locator(f"#finding-{edited.id}")
    row.locator("textarea").fill("A sentence without its figure.")
    row.locator("button", has_text="Save the edit").click()
    assert page.locator("h1").inner_text() == "Not done"
    assert f"leaves out its number {edited.number}" in page.locator("main").inner_text()
    page.go_back()
    page.reload()
    new_text = f"Our reading: the measure stood at {edited.number}, see the source section."
    row = page.locator(f"#finding-{edited.id}")
    row.locator("textarea").fill(new_text)
    row.locator("button", has_text="Save the edit").click()
    page.locator(f"#finding-{edited.id}", has_text="Edited:").wait_for()
    check(page, "assessment-draft-decided")
    decided = {
        f.id: (f.decision, f.edited)
        for f in services.assessment.draft_findings(served.store, OPERATOR, name)
    }
    assert decided[dropped.id] == ("drop", "")
    assert decided[edited.id] == ("edit", new_text)

    # Publish: a job; its page names the version and leads back to the draft.
    page.click("button:has-text('Publish version 1')")
    page.locator("text=Published as version 1").wait_for(timeout=180_000)
    check(page, "assessment-draft-published")
    page.click(f"a:has-text('{name}')")
    page.locator("#version-1").wait_for()
    page.click("button:has-text('Publish version 2')")
    page.locator("text=Published as version 2").wait_for(timeout=180_000)
    page.goto(f"{served.url}/assessment/draft?name={quote(name, safe='')}")
    assert page.locator("table.versions tbody tr").count() == 2
    check(page, "assessment-draft-versions")
    href = page.locator("#version-1 a").get_attribute("href")
    assert href is not None

    # The first version as published: the analyst's sections in their places, the dropped
    # finding gone, the edited one in the analyst's words, the raw HTML shown as text.
    page.goto(served.url + href)
    html = page.content()
    body = page.locator("body").inner_text()
    assert "published version 1" in body
    assert dropped.text not in body and new_text in body
    headings = page.locator("h2").all_inner_texts()
    assert headings.index("Introduction") < headings.index("Executive summary")
    assert headings.index("Recommendations") > headings.index("Method, sources and inputs")
    assert "<strong>the first half</strong>" in html and "for the board" in body
    assert page.locator("main script").count() == 0
    kept = services.assessment.list_versions(served.store, OPERATOR, name)
    assert [v.version for v in kept] == [1, 2]
    assert kept[0].html_sha256 != kept[1].html_sha256  # each kept as its own page
    assert errors == [], errors


def test_draft_forms_need_their_token_and_the_role(served: Served) -> None:
    client = _client_signed_in(served, "ana")
    page = client.get("/assessment").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    made = client.post(
        "/assessment/drafts",
        data={"name": "token-check", "kind": "month", "value": "2020-06", "csrf_token": token},
        follow_redirects=False,
    )
    assert made.status_code == 303
    for path, data in (
        ("/assessment/drafts", {"name": "x", "kind": "month", "value": "2020-05"}),
        ("/assessment/draft/section", {"name": "token-check", "title": "T", "markdown": "m"}),
        ("/assessment/draft/finding", {"name": "token-check", "finding": "f", "action": "drop"}),
        ("/assessment/draft/publish", {"name": "token-check"}),
    ):
        answer = client.post(path, data={**data, "csrf_token": "wrong"})
        assert answer.status_code == 403 and "security token" in answer.text, path
    draft = services.assessment.show_draft(served.store, OPERATOR, "token-check")
    assert draft.sections == [] and draft.decisions == [] and draft.versions == 0
    names = [d.name for d in services.assessment.list_drafts(served.store, OPERATOR)]
    assert "x" not in names
    # A section placed nowhere known, and a draft of no period, are refused as bad input.
    bad = client.post(
        "/assessment/draft/section",
        data={"name": "token-check", "title": "T", "before": "nowhere", "csrf_token": token},
    )
    assert bad.status_code == 422 and "nowhere" in bad.text
    missing = client.get("/assessment/draft?name=no-such-draft")
    assert missing.status_code == 404 and "no-such-draft" in missing.text
    # A liaison officer can neither read nor write drafts.
    other = _client_signed_in(served, "lia")
    assert other.get("/assessment/draft?name=token-check").status_code == 403


@pytest.mark.parametrize(
    ("form", "label"),
    [
        ({"kind": "range", "since": "2020-01-01", "until": "2020-06-30"}, "H1 2020"),
        ({"kind": "year", "value": "2020"}, "2020"),
    ],
)
def test_the_assessment_page_builds_the_half_year_and_the_year(
    served: Served, form: dict[str, str], label: str
) -> None:
    """The page builds the structure of the issue from the demo for the first half of 2020
    and for the whole year: every section in order, the measures' timing and the forum
    section's emerging terms."""
    client = _client_signed_in(served, "ana")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/assessment").text)
    assert token
    started = client.post(
        "/assessment", data={**form, "csrf_token": token.group(1)}, follow_redirects=False
    )
    assert started.status_code == 303
    job_page = started.headers["location"]
    deadline = time.monotonic() + 240
    while 'http-equiv="refresh"' in (progress := client.get(job_page)).text:
        assert time.monotonic() < deadline, progress.text
        time.sleep(0.5)
    assert "The build failed" not in progress.text, progress.text
    html = client.get(job_page + "/html").text
    order = [
        "summary",
        "key-figures",
        "referrals",
        "referrals-country",
        "blocked",
        "helplines",
        "forums",
        "timing",
        "caveats",
        "method",
    ]
    found = [m for m in re.findall(r'<section id="([\w-]+)"', html) if m in order]
    assert found == order, found
    assert 'id="table-emerging"' in html and "quizathon" in html
    assert label in html.split('<header class="title-page">')[1].split("</header>")[0]

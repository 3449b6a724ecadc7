"""The Country and Groups pages in a real browser (Debian's Chromium through Playwright), on
the served demo world of ``test_workspace_browser``: a country's attribution quality beside
its chart, alerts and packages; the groups with the countries of their members; one group
with its members and the evidence of each link; a note on it added and edited as a new
version. Each page is screenshot at 1366x768 and checked by axe-core (no serious or critical
violation) and for sideways overflow."""

from __future__ import annotations

from typing import Any

from tipwatch import services

from .test_workspace_browser import (  # noqa: F401 (fixtures used by name)
    OPERATOR,
    Served,
    _package_dir,
    browser,
    check,
    served,
    sign_in,
    tab,
)

HOSTILE_NOTE = "<img src=x onerror=alert(7)> same uploader as {{7*7}}"


def test_country_page_attribution_quality(tab: Any, served: Served) -> None:  # noqa: F811
    page = tab
    sign_in(page, served, "ana")
    page.wait_for_url("**/today")
    page.goto(served.url + "/countries/NL")
    # The chart, the analysis, alerts and packages are all there.
    assert page.locator("svg.chart").count() == 1
    assert page.locator("th", has_text="Surge factor").is_visible()
    assert page.locator("h2", has_text="Alerts").is_visible()
    assert "sent" in page.locator("#h-packages + p").inner_text()
    quality = page.locator("section.quality")
    assert quality.locator("h2").inner_text() == "Attribution quality"
    counted = services.triage.attribution_quality(
        served.store,
        OPERATOR,
        "NL",
        since=_day(page.input_value("#q-since")),
        until=_day(page.input_value("#q-until")),
    )
    assert counted.attributed > 0
    assert f"{counted.attributed:,} referrals with an incident" in quality.inner_text()
    bands = quality.locator("table", has=page.locator("caption", has_text="Confidence"))
    for name, n in counted.by_confidence.items():
        assert bands.locator("tr", has_text=f"{name} (").locator("td.num").first.inner_text() == (
            f"{n:,}"
        )
    decided = quality.locator("table", has=page.locator("caption", has_text="Decided by"))
    assert decided.locator("tbody tr").count() == len(counted.by_level)
    check(page, "22-country-attribution")
    # Another metric of the country, from its own choice.
    options = page.locator("#c-metric option").all_inner_texts()
    assert options[0] == "referrals" and "helpline_contacts" in options, options
    page.select_option("#c-metric", "helpline_contacts")
    page.click(".country-metric button")
    assert "metric=helpline_contacts" in page.url
    assert page.locator("h1").inner_text() == "NL: helpline_contacts"
    assert "helpline_contacts in NL" in (page.locator("svg.chart title").first.text_content() or "")


def _day(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text)


def test_groups_a_group_and_its_notes(tab: Any, served: Served) -> None:  # noqa: F811
    page = tab
    sign_in(page, served, "ana")
    page.wait_for_url("**/today")
    page.click("nav >> text=Groups")
    rows = page.locator("table").first.locator("tbody tr")
    assert rows.count() > 0, "the demo world has offender groups"
    countries = rows.first.locator("td.countries").inner_text()
    assert countries and countries[:2].isalpha()
    check(page, "23-groups")

    rows.first.locator("a[href^='/groups/']").click()
    page.wait_for_url("**/groups/*")
    group_id = int(page.url.rsplit("/", 1)[1])
    assert page.title() == f"Group {group_id} · tipwatch"
    detail = services.triage.group(
        served.store, OPERATOR, group_id, config=services.triage.load_triage_config()
    )
    members = page.locator("table.members tbody tr")
    assert members.count() == len(detail["members"]) >= 2
    assert page.locator("#h-countries + table tbody tr").count() == len(detail["by_country"])
    keys = page.locator("table.keys tbody tr")
    assert keys.count() == max(len(detail["keys"]), 1)
    if detail["keys"]:
        top = detail["keys"][0]
        assert top["kind"] in keys.first.locator(".tie").inner_text()
        assert top["evidence"] == keys.first.locator("td.hash").inner_text()
        assert keys.first.locator("a").count() == len(top["members"])
        # Every linked pair, with each tie, behind one click.
        page.click("details.pairs summary")
        links = page.locator("table.links tbody tr")
        assert links.count() == len(detail["links"])
        first = detail["links"][0]["ties"][0]
        assert first["kind"] in links.first.locator(".tie").first.inner_text()
    check(page, "24-group")

    # A note (hostile text shows as text), then a new version of it; the first stays.
    page.fill("#new-note", HOSTILE_NOTE)
    page.click("text=Add note")
    page.locator(".note .body", has_text="same uploader").wait_for()
    assert page.locator(".note .body").first.inner_text() == HOSTILE_NOTE
    assert page.locator("main img").count() == 0
    page.click("text=Edit (a new version; earlier ones stay)")
    page.fill("#edit-1", "Same uploader: both accounts use one address.")
    page.click("text=Save new version")
    page.locator(".note .body", has_text="one address").wait_for()
    assert "version 2" in page.locator(".note .meta").first.inner_text()
    assert "ana" in page.locator(".note .meta").first.inner_text()
    page.click("text=Every version (2)")
    check(page, "25-group-notes")
    notes = services.cases.list_notes(served.store, OPERATOR, "group", str(group_id), history=True)
    assert [(n["version"], n["body"]) for n in notes] == [
        (1, HOSTILE_NOTE),
        (2, "Same uploader: both accounts use one address."),
    ]

    # Circulating material with its spread, and one such group.
    page.click("nav >> text=Groups")
    spread = page.locator("table").nth(1).locator("tbody tr")
    if spread.first.locator("a").count():
        assert "countr" in spread.first.locator("td.countries").inner_text()
        spread.first.locator("a[href^='/groups/']").click()
        page.wait_for_url("**/groups/*")
        assert page.locator("th", has_text="Shared by the members").is_visible()
        check(page, "26-group-circulating")

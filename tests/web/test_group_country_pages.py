"""The Groups and Country pages over HTTP, on SQLite and PostgreSQL: a group's members, the
countries of its members and the evidence of each link; notes on a group written and edited
as new versions (audited, escaped, refused without the form's token or the right); a
country's attribution quality.

The served world (``conftest``): r-nl-1 and r-nl-2 share an account, r-nl-2 and r-fr-1 a new
file, so the three form one offender group; NL by upload IP, FR by the account's upload IP.
"""

from __future__ import annotations

import re

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select

from tipwatch import services
from tipwatch.store.schema import audit_events, link_groups
from tipwatch.web.app import create_app

from .conftest import OPERATOR, World
from .test_workspace_pages import _sign_in, _token

HOSTILE_NOTE = '<script>alert("note")</script> <img src=x onerror=alert(1)>'


def _group_id(world: World) -> int:
    with world.store.read() as conn:
        found: int = conn.execute(
            select(link_groups.c.id).where(link_groups.c.kind == "linked")
        ).scalar_one()
    return found


def _signed_in(world: World, name: str) -> TestClient:
    client = TestClient(create_app(world.store))
    secret = world.totp.get(name)
    _sign_in(client, name, pyotp.TOTP(secret).now() if secret else None)
    return client


def test_a_group_shows_members_countries_and_why_linked(world: World) -> None:
    gid = _group_id(world)
    client = _signed_in(world, "analyst")
    listing = client.get("/groups")
    assert listing.status_code == 200
    row = re.search(rf'<tr><td><a href="/groups/{gid}">Group {gid}</a>.*?</tr>', listing.text, re.S)
    assert row, listing.text[:2000]
    # The countries of the group's members, most first.
    assert "NL 2, FR 1" in row.group(0)

    page = client.get(f"/groups/{gid}")
    assert page.status_code == 200
    assert "<title>Group " + str(gid) + " · tipwatch</title>" in page.text
    members = page.text.split('id="h-members"')[1].split("</table>")[0]
    assert [m for m in ("r-fr-1", "r-nl-1", "r-nl-2") if f">{m}</a>" in members] == [
        "r-fr-1",
        "r-nl-1",
        "r-nl-2",
    ]
    countries = page.text.split('id="h-countries"')[1].split("</table>")[0]
    assert re.search(r">NL</a></td><td class=\"num\">2<", countries)
    assert re.search(r">FR</a></td><td class=\"num\">1<", countries)
    # What the members share, strongest first, with who shares it.
    shared = page.text.split('<table class="keys">')[1].split("</table>")[0]
    keys = re.findall(r'<span class="tie">([^<]+)</span>.*?<td class="hash">([^<]+)</td>', shared)
    assert keys == [
        ("account", "account:example photo service|u-1"),
        ("new file", "md5:" + "3" * 32),
    ]
    # Each link with its evidence: the account first (the strongest tie), then the file.
    links = page.text.split('<table class="links">')[1].split("</table>")[0]
    pairs = re.findall(
        r"<tr><td class=\"id\"><a [^>]*>([^<]+)</a></td><td class=\"id\">"
        r"<a [^>]*>([^<]+)</a></td>\s*<td>(.*?)</td></tr>",
        links,
        re.S,
    )
    assert [(a, b) for a, b, _ in pairs] == [("r-nl-1", "r-nl-2"), ("r-fr-1", "r-nl-2")]
    assert "account" in pairs[0][2] and "account:example photo service|u-1" in pairs[0][2]
    assert "new file" in pairs[1][2] and "md5:" + "3" * 32 in pairs[1][2]
    # r-nl-1 and r-fr-1 share nothing directly: no pair of theirs is listed.
    assert ("r-fr-1", "r-nl-1") not in [(a, b) for a, b, _ in pairs]

    assert client.get("/groups/999999").status_code == 404


def test_group_notes_are_added_and_edited_as_new_versions(world: World) -> None:
    gid = _group_id(world)
    client = _signed_in(world, "analyst")
    page = client.get(f"/groups/{gid}")
    assert "No notes." in page.text
    token = _token(page.text)
    # Without the form's token nothing is written.
    refused = client.post(f"/groups/{gid}/notes", data={"body": "x"})
    assert refused.status_code == 403
    assert services.cases.list_notes(world.store, OPERATOR, "group", str(gid)) == []

    added = client.post(f"/groups/{gid}/notes", data={"body": HOSTILE_NOTE, "csrf_token": token})
    assert added.status_code == 200 and "No notes." not in added.text
    # Shown as text: the markup is escaped, no element made of it.
    assert "&lt;script&gt;alert(&#34;note&#34;)&lt;/script&gt;" in added.text
    assert "<img src=x" not in added.text and '<script>alert("note")' not in added.text
    (note,) = services.cases.list_notes(world.store, OPERATOR, "group", str(gid))
    assert (note["author"], note["version"], note["body"]) == ("analyst", 1, HOSTILE_NOTE)

    edit = f"/groups/{gid}/notes/{note['note_id']}"
    edited = client.post(
        edit,
        data={"body": "Same person: one account.", "expected_version": "1", "csrf_token": token},
    )
    assert edited.status_code == 200 and "Same person: one account." in edited.text
    assert "(version 2)" in edited.text and "Every version (2)" in edited.text
    versions = services.cases.list_notes(world.store, OPERATOR, "group", str(gid), history=True)
    assert [(v["version"], v["author"]) for v in versions] == [(1, "analyst"), (2, "analyst")]
    assert versions[0]["body"] == HOSTILE_NOTE  # the earlier version stays
    # A stale version is refused (someone edited meanwhile); so is a note of another object.
    stale = client.post(edit, data={"body": "late", "expected_version": "1", "csrf_token": token})
    assert stale.status_code == 409
    other = client.post(
        f"/groups/{gid + 1}/notes/{note['note_id']}",
        data={"body": "elsewhere", "csrf_token": token},
    )
    assert other.status_code == 404
    assert (
        len(services.cases.list_notes(world.store, OPERATOR, "group", str(gid), history=True)) == 2
    )

    # Someone else may not edit the analyst's note; the page offers them no form for it.
    reviewer = _signed_in(world, "reviewer")
    seen = reviewer.get(f"/groups/{gid}")
    assert "Same person: one account." in seen.text and "Save new version" not in seen.text
    denied = reviewer.post(
        edit, data={"body": "mine now", "expected_version": "2", "csrf_token": _token(seen.text)}
    )
    assert denied.status_code == 403

    # Each write is an audited service call.
    with world.store.read() as conn:
        e = audit_events.c
        events = conn.execute(
            select(e.actor, e.action, e.outcome).where(e.action == "note.write").order_by(e.id)
        ).all()
    assert [tuple(x) for x in events] == [
        ("analyst", "note.write", "ok"),
        ("analyst", "note.write", "ok"),
        ("analyst", "note.write", "failed"),
        ("analyst", "note.write", "failed"),
        ("reviewer", "note.write", "denied"),
    ]


def test_roles_without_links_see_no_group(world: World) -> None:
    gid = _group_id(world)
    for name in ("liaison", "auditor"):
        client = _signed_in(world, name)
        assert client.get(f"/groups/{gid}").status_code == 403
        page = client.get("/today")
        token = _token(page.text) if "csrf_token" in page.text else "x"
        answer = client.post(f"/groups/{gid}/notes", data={"body": "x", "csrf_token": token})
        assert answer.status_code == 403
    assert services.cases.list_notes(world.store, OPERATOR, "group", str(gid)) == []


def test_the_country_page_shows_attribution_quality(world: World) -> None:
    client = _signed_in(world, "analyst")
    page = client.get("/countries/NL")
    assert page.status_code == 200, page.text[:2000]
    quality = page.text.split('id="h-quality"')[1].split("</section>")[0]
    # Both NL referrals were decided by their upload IP, cleanly: high confidence.
    assert re.search(r"<strong>2</strong> referrals|2 referrals with an incident", quality)
    decided = quality.split("<caption>Decided by</caption>")[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>([^<]+)</td><td class=\"num\">(\d+)</td>", decided)
    assert sum(int(n) for _, n in rows) == 2
    bands = quality.split("<caption>Confidence</caption>")[1].split("</table>")[0]
    counts = dict(re.findall(r"<tr><td>(\w+) \([^)]*\)</td><td class=\"num\">(\d+)</td>", bands))
    assert set(counts) == {"high", "medium", "low"} and sum(map(int, counts.values())) == 2
    expected = services.triage.attribution_quality(world.store, OPERATOR, "NL")
    assert int(counts["high"]) == expected.by_confidence["high"]
    # The period's one unattributable referral (r-none) is counted, for every country.
    assert re.search(r"with no country \(all countries\)</th><td class=\"num\">1<", quality)
    # A period with no NL incident counts none; a period given backwards is refused.
    empty = client.get("/countries/NL?since=2021-01-01&until=2021-12-31")
    assert "0 referrals with an incident" in empty.text
    backwards = client.get("/countries/NL?since=2021-01-02&until=2021-01-01")
    assert backwards.status_code == 422 and "starts" in backwards.text

"""The API's group detail and a country's attribution quality, on SQLite and PostgreSQL,
through the real app (the served world of ``conftest``: r-nl-1 ~ r-nl-2 by account, r-nl-2 ~
r-fr-1 by a new file)."""

from __future__ import annotations

from sqlalchemy import select

from tipwatch.store.schema import link_groups

from .conftest import World


def test_a_group_by_id(world: World) -> None:
    with world.store.read() as conn:
        gid = conn.execute(select(link_groups.c.id)).scalar_one()
    answer = world.client.get(f"/api/v1/groups/{gid}", headers=world.auth("analyst"))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["group_id"], body["kind"], body["size"]) == (gid, "linked", 3)
    assert body["by_country"] == {"NL": 2, "FR": 1}
    assert [m["report_id"] for m in body["members"]] == ["r-fr-1", "r-nl-1", "r-nl-2"]
    assert [(k["kind"], k["members"]) for k in body["keys"]] == [
        ("account", ["r-nl-1", "r-nl-2"]),
        ("new file", ["r-fr-1", "r-nl-2"]),
    ]
    assert [(x["a"], x["b"]) for x in body["links"]] == [("r-nl-1", "r-nl-2"), ("r-fr-1", "r-nl-2")]
    assert body["links"][1]["ties"] == [
        {"kind": "new file", "evidence": "md5:" + "3" * 32, "strength": 0.8}
    ]
    fewer = world.client.get(
        f"/api/v1/groups/{gid}", params={"max_members": 2}, headers=world.auth("analyst")
    ).json()
    assert [m["report_id"] for m in fewer["members"]] == ["r-fr-1", "r-nl-1"]
    missing = world.client.get(f"/api/v1/groups/{gid + 100}", headers=world.auth("analyst"))
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == f"no link group {gid + 100}"
    # The list of groups carries the countries of the members too; circulating still routes.
    listed = world.client.get("/api/v1/groups", headers=world.auth("analyst")).json()
    assert listed[0]["by_country"] == {"NL": 2, "FR": 1}
    assert (
        world.client.get("/api/v1/groups/circulating", headers=world.auth("analyst")).json() == []
    )
    assert (
        world.client.get(f"/api/v1/groups/{gid}", headers=world.auth("liaison")).status_code == 403
    )


def test_a_countrys_attribution_quality(world: World) -> None:
    answer = world.client.get("/api/v1/countries/nl/attribution", headers=world.auth("analyst"))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["country"], body["attributed"]) == ("NL", 2)
    assert body["by_level"] == {"file_upload_ip": 1, "account_upload_ip": 1}
    assert body["by_confidence"] == {"high": 2, "medium": 0, "low": 0}
    assert body["confidence_bands"] == {"high": 0.7, "medium": 0.5, "low": 0.0}
    assert (body["possible_proxy"], body["proxy_decided"]) == (0, 0)
    assert (body["unattributed"], body["not_triaged"]) == (1, 0)
    assert (body["since"], body["until"]) == (None, None)
    later = world.client.get(
        "/api/v1/countries/NL/attribution",
        params={"since": "2020-03-21", "until": "2020-03-31"},
        headers=world.auth("analyst"),
    ).json()
    assert (later["attributed"], later["since"], later["until"]) == (1, "2020-03-21", "2020-03-31")
    bad = world.client.get("/api/v1/countries/XX/attribution", headers=world.auth("analyst"))
    assert bad.status_code == 422 and "unknown country code 'XX'" in bad.json()["error"]["message"]
    backwards = world.client.get(
        "/api/v1/countries/NL/attribution",
        params={"since": "2020-04-01", "until": "2020-03-01"},
        headers=world.auth("analyst"),
    )
    assert backwards.status_code == 422
    for role in ("liaison", "auditor", "ingest"):
        refused = world.client.get("/api/v1/countries/NL/attribution", headers=world.auth(role))
        assert refused.status_code == 403, role

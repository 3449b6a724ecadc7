"""Attribution on referrals with a known right answer, one case per precedence level."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tipwatch.triage.attribution import LEVELS, attribute
from tipwatch.triage.geoip import GeoIPDatabase, IPLocation, country_of_record

from .mmdb import DOC_NETWORKS, write_mmdb

NL_IP, DE_IP, FR_IP, PL_IP = "192.0.2.10", "192.0.2.200", "198.51.100.7", "203.0.113.5"
PROXY_IP, EU_ONLY_IP = "203.0.113.70", "203.0.113.130"


@pytest.fixture(scope="module")
def geo(tmp_path_factory: pytest.TempPathFactory) -> GeoIPDatabase:
    path = tmp_path_factory.mktemp("geo") / "geo.mmdb"
    return GeoIPDatabase(write_mmdb(path, DOC_NETWORKS))


def party(**fields: Any) -> dict[str, Any]:
    return {"esp_identifier": "u-1", **fields}


def ip_event(ip: str, name: str | None = "Upload", **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"ip_address": ip, **fields}
    if name:
        event["event_name"] = name
    return event


def upload_file(ip: str, file_id: str = "f1", **event: Any) -> dict[str, Any]:
    return {"file_id": file_id, "upload_ip": ip_event(ip, **event)}


# Every level below the first holds evidence for a *different* country than the expected one,
# so that picking the wrong level gives the wrong answer.
CASES: list[tuple[str, dict[str, Any], list[dict[str, Any]], str | None, str | None]] = [
    (
        "supplied beats everything",
        {
            "supplied_geolocation": {"country_code": "NL", "source": "NCMEC"},
            "reported": [party(ip_events=[ip_event(FR_IP)])],
        },
        [upload_file(DE_IP)],
        "NL",
        "supplied",
    ),
    (
        "file upload IP beats account evidence",
        {
            "reported": [
                party(
                    ip_events=[ip_event(FR_IP)],
                    estimated_location={"country_code": "PL", "verified": True},
                )
            ]
        },
        [upload_file(DE_IP)],
        "DE",
        "file_upload_ip",
    ),
    (
        "account upload IP beats estimated location",
        {
            "reported": [
                party(
                    ip_events=[ip_event(FR_IP), ip_event(NL_IP, "Login")],
                    estimated_location={"country_code": "PL", "verified": True},
                )
            ]
        },
        [],
        "FR",
        "account_upload_ip",
    ),
    (
        "verified estimated location beats unverified",
        {
            "reported": [
                party(estimated_location={"country_code": "SE", "verified": False}),
                party(
                    esp_identifier="u-2",
                    estimated_location={"country_code": "PL", "verified": True},
                ),
            ]
        },
        [],
        "PL",
        "estimated_verified",
    ),
    (
        "unverified estimated location beats address",
        {
            "reported": [
                party(
                    estimated_location={"country_code": "SE", "verified": False},
                    person={"addresses": [{"country": "IT"}]},
                )
            ]
        },
        [],
        "SE",
        "estimated_unverified",
    ),
    (
        "address beats login IP",
        {
            "reported": [
                party(
                    person={"addresses": [{"country": "IT"}]},
                    ip_events=[ip_event(NL_IP, "Login")],
                )
            ]
        },
        [],
        "IT",
        "address",
    ),
    (
        "login IP",
        {"reported": [party(ip_events=[ip_event(NL_IP, "Registration")])]},
        [],
        "NL",
        "login_ip",
    ),
    (
        "other IP events last",
        {"reported": [party(ip_events=[ip_event(FR_IP, "Purchase")])]},
        [],
        "FR",
        "other_ip",
    ),
    ("no evidence at all", {"reported": [party()]}, [], None, None),
    ("no parties at all", {}, [], None, None),
    (
        "a pseudo-code never decides: EU supplied, account upload IP decides",
        {
            "supplied_geolocation": {"country_code": "EU"},
            "reported": [party(ip_events=[ip_event(FR_IP)])],
        },
        [],
        "FR",
        "account_upload_ip",
    ),
    (
        "private, malformed and unknown addresses give nothing; estimated location decides",
        {
            "reported": [
                party(
                    ip_events=[ip_event("10.0.0.8"), ip_event("300.1.1.1"), ip_event("8.8.8.8")],
                    estimated_location={"country_code": "BE", "verified": False},
                )
            ]
        },
        [upload_file("not-an-ip")],
        "BE",
        "estimated_unverified",
    ),
    (
        "IPv6 upload address",
        {"reported": [party(ip_events=[ip_event("2001:db8::42")])]},
        [],
        "BE",
        "account_upload_ip",
    ),
    (
        "continent-only geolocation gives no country",
        {"reported": [party(ip_events=[ip_event(EU_ONLY_IP)])]},
        [],
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "doc", "files", "country", "level"), CASES, ids=[c[0] for c in CASES]
)
def test_precedence(
    geo: GeoIPDatabase,
    name: str,
    doc: dict[str, Any],
    files: list[dict[str, Any]],
    country: str | None,
    level: str | None,
) -> None:
    result = attribute(doc, files, geo)
    assert result.country == country, result.explain()
    assert result.level == level
    if country is None:
        assert result.confidence == 0
        assert result.warnings, "an unknown attribution says why"
    else:
        deciding = [e for e in result.evidence if e.level == level and e.country == country]
        assert deciding, "the deciding evidence is kept"
        assert 0 < result.confidence <= LEVELS[level]


def test_clean_evidence_has_full_confidence(geo: GeoIPDatabase) -> None:
    result = attribute({"reported": [party(ip_events=[ip_event(NL_IP)])]}, [], geo)
    assert result.confidence == LEVELS["account_upload_ip"]
    assert result.warnings == []


def test_lower_level_disagreement_lowers_confidence(geo: GeoIPDatabase) -> None:
    clean = attribute({"supplied_geolocation": {"country_code": "NL"}}, [], geo)
    disputed = attribute(
        {"supplied_geolocation": {"country_code": "NL"}}, [upload_file(DE_IP)], geo
    )
    assert clean.country == disputed.country == "NL"
    assert disputed.confidence < clean.confidence
    assert any("DE" in w for w in disputed.warnings)


def test_proxy_flag_lowers_confidence_and_is_shown(geo: GeoIPDatabase) -> None:
    clean = attribute({}, [upload_file(NL_IP)], geo)
    proxied = attribute({}, [upload_file(NL_IP, possible_proxy=True)], geo)
    assert proxied.country == "NL"
    assert proxied.confidence < clean.confidence
    assert any("proxy" in w for w in proxied.warnings)
    assert any(e.proxy and e.note and "proxy" in e.note for e in proxied.evidence)


def test_database_proxy_never_decides(geo: GeoIPDatabase) -> None:
    result = attribute({}, [upload_file(PROXY_IP), upload_file(NL_IP, "f2")], geo)
    assert result.country == "NL"


def test_vote_inside_a_level(geo: GeoIPDatabase) -> None:
    files = [upload_file(NL_IP, "f1"), upload_file(NL_IP, "f2"), upload_file(DE_IP, "f3")]
    result = attribute({}, files, geo)
    assert result.country == "NL"
    assert result.confidence == pytest.approx(LEVELS["file_upload_ip"] * 2 / 3, abs=1e-3)
    assert any("disagrees" in w and "DE" in w for w in result.warnings)


def test_tie_goes_to_first_seen(geo: GeoIPDatabase) -> None:
    files = [upload_file(DE_IP, "f1"), upload_file(NL_IP, "f2")]
    assert attribute({}, files, geo).country == "DE"


def test_without_geoip_ip_evidence_says_so() -> None:
    result = attribute({"reported": [party(ip_events=[ip_event(NL_IP)])]}, [], None)
    assert result.country is None
    assert any("no GeoIP database" in w for w in result.warnings)


def test_explain_names_the_evidence(geo: GeoIPDatabase) -> None:
    result = attribute({}, [upload_file(NL_IP)], geo)
    text = result.explain()
    assert "NL" in text and "file f1 upload IP 192.0.2.10" in text


def test_hostile_documents_do_not_break_attribution(geo: GeoIPDatabase) -> None:
    hostile: dict[str, Any] = {
        "supplied_geolocation": {"country_code": "<script>"},
        "reported": [
            "not a party",
            {"ip_events": ["nope", {"ip_address": "x" * 10_000}], "estimated_location": "NL"},
            {"person": {"addresses": ["x", {"country": "Netherlands"}]}},
        ],
    }
    result = attribute(hostile, [{"file_id": "f", "upload_ip": "nope"}], geo)
    assert result.country is None
    assert result.warnings


def test_store_path(tmp_path: Path) -> None:
    # A database file loaded by path string works like a Path.
    geo = GeoIPDatabase(str(write_mmdb(tmp_path / "g.mmdb", DOC_NETWORKS)))
    assert geo.lookup(NL_IP).country == "NL"


class _RegisteredOnlyLocator:
    """A GeoIP database whose record for every address names only the registered country."""

    def lookup(self, ip: str) -> IPLocation:
        country, note, proxy = country_of_record({"registered_country": {"iso_code": "DE"}})
        return IPLocation(ip, country, note, proxy)


def test_a_registered_country_only_answer_is_weaker_and_says_so(geo: GeoIPDatabase) -> None:
    doc: dict[str, Any] = {"reported": [party()]}
    located = attribute(doc, [upload_file(DE_IP)], geo)
    registered = attribute(doc, [upload_file(DE_IP)], _RegisteredOnlyLocator())
    assert located.country == registered.country == "DE"
    assert located.level == registered.level == "file_upload_ip"
    assert registered.confidence < located.confidence
    assert registered.confidence <= 0.6 * LEVELS["file_upload_ip"] + 1e-9
    assert any("registered country" in w for w in registered.warnings)
    assert not any("registered country" in w for w in located.warnings)

"""The referral model: canonical form, unknown fields kept, explicit unknown flags."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from tests.helpers import CP
from tipwatch.models import Flag, IncidentType, MediaFile, Referral, normalise_hash_type


def make(**fields: object) -> Referral:
    base: dict[str, object] = {
        "report_id": "1",
        "incident_type": CP,
        "incident_time": "2020-03-01T10:00:00",
    }
    base.update(fields)
    return Referral.from_data(base)


def test_times_without_zone_are_utc_and_zones_are_converted() -> None:
    r = make(incident_time="2020-03-01T10:00:00+01:00", received_at="2020-03-02T00:00:00")
    assert r.incident_time.isoformat() == "2020-03-01T09:00:00+00:00"
    assert r.received_at is not None and r.received_at.isoformat() == "2020-03-02T00:00:00+00:00"


def test_unknown_fields_are_kept_at_every_level() -> None:
    r = make(
        vendor="x",
        reported=[
            {
                "esp_identifier": "a",
                "risk_score": 7,
                "ip_events": [{"ip_address": "192.0.2.1", "asn": 64500}],
            }
        ],
    )
    assert r.extra == {"vendor": "x"}
    assert r.reported[0].extra == {"risk_score": 7}
    assert r.reported[0].ip_events[0].extra == {"asn": 64500}
    again = Referral.model_validate_json(r.model_dump_json())
    assert again == r


def test_flags_have_an_explicit_unknown_state() -> None:
    f = MediaFile(file_id="f")
    assert f.viewed_by_service is Flag.UNKNOWN and f.publicly_available is Flag.UNKNOWN
    assert Flag.from_bool(None) is Flag.UNKNOWN
    assert Flag.from_bool(False) is Flag.NO
    with pytest.raises(ValidationError):
        MediaFile.model_validate({"file_id": "f", "viewed_by_service": "perhaps"})


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("MD5", "md5"),
        ("SHA-1", "sha1"),
        ("sha256", "sha256"),
        ("PDQ", "pdq"),
        ("PhotoDNA", "PhotoDNA"),
        ("TMK", "TMK"),
    ],
)
def test_hash_type_names(name: str, key: str) -> None:
    assert normalise_hash_type(name) == key


def test_hashes_are_validated_and_lower_cased() -> None:
    f = MediaFile.model_validate(
        {"file_id": "f", "hashes": {"MD5": "AB" * 16, "vendorX": "Keep-Case"}}
    )
    assert f.hashes == {"md5": "ab" * 16, "vendorX": "Keep-Case"}
    with pytest.raises(ValidationError, match="sha256 hash must be 64 hexadecimal"):
        MediaFile.model_validate({"file_id": "f", "hashes": {"SHA256": "zz"}})


def test_incident_type_accepts_full_and_short_names() -> None:
    assert IncidentType.parse("online-enticement") is IncidentType.ONLINE_ENTICEMENT
    assert IncidentType.parse(CP.upper()) is IncidentType.CHILD_PORNOGRAPHY
    assert len(list(IncidentType)) == 8
    with pytest.raises(ValueError, match="unknown incident type"):
        IncidentType.parse("other")


def test_stated_country_prefers_supplied_geolocation() -> None:
    r = make(
        supplied_geolocation={"country_code": "nl"},
        reported=[{"estimated_location": {"country_code": "DE"}}],
    )
    assert r.stated_country == "NL"
    assert make(reported=[{"estimated_location": {"country_code": "de"}}]).stated_country == "DE"
    assert make().stated_country is None


def test_json_schema_describes_the_canonical_form() -> None:
    schema = Referral.model_json_schema()
    assert set(schema["required"]) == {"report_id", "incident_type", "incident_time"}
    media = schema["$defs"]["MediaFile"]["properties"]
    assert "viewed_by_service" in media and "extra" in media
    json.dumps(schema)

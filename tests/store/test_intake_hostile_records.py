"""One bad record never stops intake (issue 12, point 2), on SQLite and PostgreSQL alike.

Each case is a JSON Lines file of a good referral, one hostile record and another good
referral. The store keeps whatever the reader accepts (long free text is stored whole); what
it cannot keep is quarantined with its reason, the same on both backends, and the rest of the
file goes in. Ingesting the file again changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tipwatch.intake import ingest_paths
from tipwatch.models import MAX_NESTING
from tipwatch.store import Store
from tipwatch.store.quarantine import list_quarantine
from tipwatch.store.referrals import count_referrals, get_referral, list_referrals

_BASE = {"incident_type": "child-pornography", "incident_time": "2020-03-28T14:02:11Z"}


def _referral(report_id: str, **fields: Any) -> str:
    return json.dumps({**_BASE, "report_id": report_id, **fields})


def _nested(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


def _with_raw(report_id: str, name: str, raw_json: str) -> str:
    """A referral with one unknown field written as raw JSON text (deep arrays, huge numbers)."""
    return _referral(report_id)[:-1] + f', "{name}": {raw_json}}}'


def _ingest(store: Store, path: Path, hostile: str) -> Any:
    path.write_text(_referral("good-1") + "\n" + hostile + "\n" + _referral("good-2") + "\n")
    return ingest_paths(store, [path])


_REFUSED = {
    "nul-in-platform": (_referral("nul-1", platform="web\u0000chat"), "NUL character"),
    "nul-in-unknown-field": (_referral("nul-2", note="a\u0000b"), "NUL character"),
    "nul-in-file-name": (
        _referral("nul-3", files=[{"file_id": "f1", "file_name": "a\u0000.jpg"}]),
        "NUL character",
    ),
    "nested-too-deep-to-store": (
        _with_raw("deep-1", "deep", _nested(MAX_NESTING + 50)),
        f"nested more than {MAX_NESTING} levels deep",
    ),
    "nested-too-deep-to-decode": (
        _with_raw("deep-2", "deep", _nested(20_000)),
        "nested too deeply to read",
    ),
    "integer-of-5000-digits": (
        _with_raw("int-1", "count", "9" * 5000),
        "a number of more than 4,300 digits",
    ),
    "time-before-year-1-in-utc": (
        _referral("t-1", incident_time="0001-01-01T00:00:00+05:00"),
        "outside the years 1 to 9999",
    ),
    "time-after-year-9999-in-utc": (
        _referral("t-2", incident_time="9999-12-31T23:30:00-01:00"),
        "outside the years 1 to 9999",
    ),
    "report-id-too-long": (_referral("r" * 129), "at most 128 characters"),
    "same-file-twice-in-one-referral": (
        _referral("dup-file", files=[{"file_id": "f1"}, {"file_id": "f1"}]),
        "the store refused the record",
    ),
}


@pytest.mark.parametrize("case", sorted(_REFUSED))
def test_a_record_the_store_cannot_keep_is_quarantined_and_the_rest_goes_in(
    store: Store, tmp_path: Path, case: str
) -> None:
    hostile, reason = _REFUSED[case]
    summary = _ingest(store, tmp_path / f"{case}.jsonl", hostile)
    assert (summary.ingested, summary.quarantined) == (2, 1)
    assert count_referrals(store) == 2
    entries = list_quarantine(store)
    assert len(entries) == 1
    assert entries[0].location == "line 2"
    assert reason in entries[0].reason
    assert "\x00" not in entries[0].reason
    again = ingest_paths(store, [tmp_path / f"{case}.jsonl"])
    assert (again.ingested, again.duplicates, again.quarantined) == (0, 2, 1)
    assert len(list_quarantine(store)) == 1


_KEPT = {
    "platform-of-5000-characters": ({"platform": "p" * 5000}, "platform"),
    "source-of-5000-characters": ({"source": "s" * 5000}, "source"),
    "stated-country-longer-in-upper-case": (
        {"supplied_geolocation": {"country_code": "\u00df\u00df\u00df"}},
        "stated_country",
    ),
    "integer-of-4000-digits": ({"count": int("9" * 4000)}, "extra"),
    "nesting-at-the-limit": ({"deep": json.loads(_nested(MAX_NESTING - 2))}, "extra"),
    "time-at-the-end-of-year-9999": (
        {"incident_time": "9999-12-31T23:59:59.999999Z"},
        "incident_time",
    ),
    "time-at-the-start-of-year-1": ({"incident_time": "0001-01-01T00:00:00Z"}, "incident_time"),
}


@pytest.mark.parametrize("case", sorted(_KEPT))
def test_what_the_reader_accepts_the_store_keeps_whole(
    store: Store, tmp_path: Path, case: str
) -> None:
    fields, attribute = _KEPT[case]
    summary = _ingest(store, tmp_path / f"{case}.jsonl", _referral("kept", **fields))
    assert (summary.ingested, summary.quarantined) == (3, 0)
    stored = get_referral(store, "kept")
    expected = json.loads(_referral("kept", **fields))
    if attribute == "platform":
        assert stored.platform == expected["platform"]
    elif attribute == "source":
        assert stored.source == expected["source"]
    elif attribute == "stated_country":
        # "ßßß" is three characters, its upper case six: the column holds all six.
        (listed,) = [r for r in list_referrals(store) if r.report_id == "kept"]
        assert listed.country == "SSSSSS"
    elif attribute == "incident_time":
        assert stored.incident_time.isoformat().startswith(expected["incident_time"][:19])
    else:
        key = next(iter(fields))
        assert stored.extra[key] == fields[key]


def test_a_loose_file_for_a_report_id_too_long_is_quarantined(store: Store, tmp_path: Path) -> None:
    long_id = "x" * 300
    source = tmp_path / "files.xml"
    source.write_text(
        "<referrals>"
        f"<fileDetails><reportId>{long_id}</reportId><fileId>f1</fileId></fileDetails>"
        "<fileDetails><reportId>ok</reportId><fileId>f2</fileId></fileDetails>"
        "</referrals>"
    )
    summary = ingest_paths(store, [source])
    assert (summary.pending, summary.quarantined) == (1, 1)
    (entry,) = list_quarantine(store)
    assert "more than the limit of 128" in entry.reason

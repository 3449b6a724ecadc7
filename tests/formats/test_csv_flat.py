"""Flat CSV reader."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from tipwatch.formats.csv_flat import read_csv_stream
from tipwatch.models import FileAnnotation, Flag, IncidentType


def read(data: bytes) -> list:  # type: ignore[type-arg]
    return list(read_csv_stream(io.BytesIO(data), "t.csv"))


HEADER = b"report_id,incident_type,incident_time,country,file_id,file_md5,file_viewed_by_service,file_annotations,notes\n"


def test_rows_become_referrals_with_unknown_columns_in_extra() -> None:
    data = HEADER + (
        b"1,online-enticement,2020-03-01T10:00:00Z,nl,f1,"
        + b"A" * 32
        + b",true,possibleSelfProduction;liveStreaming,hello\n"
        b'2,"Child Pornography (possession, manufacture, and distribution)",2020-03-02,,,,,,\n'
    )
    a, b = read(data)
    assert a.referral is not None and b.referral is not None, (a.error, b.error)
    assert a.referral.incident_type is IncidentType.ONLINE_ENTICEMENT
    assert a.referral.stated_country == "NL"
    f = a.referral.files[0]
    assert f.hashes["md5"] == "a" * 32 and f.viewed_by_service is Flag.YES
    assert f.publicly_available is Flag.UNKNOWN
    assert f.annotations == [FileAnnotation.LIVE_STREAMING, FileAnnotation.POSSIBLE_SELF_PRODUCTION]
    assert a.referral.extra == {"notes": "hello"}
    assert b.referral.files == []


def test_missing_required_columns_are_named() -> None:
    (item,) = read(b"report_id,incident_time\n1,2020-01-01\n")
    assert item.fatal
    assert (
        item.error
        == "CSV header lacks required column(s): incident_type (found: report_id, incident_time)"
    )


def test_bad_rows_are_reported_by_line_and_the_rest_read() -> None:
    data = HEADER + (
        b"1,child-pornography,2020-03-01,,,,,,\n"
        b"2,child-pornography,not-a-date,,,,,,\n"
        b"3,child-pornography,2020-03-01,,,,maybe,,\n"
        b"4,child-pornography,2020-03-01,,,,,,,,,too,many\n"
        b"5,child-pornography,2020-03-01,,,,,,caf\xe9\n"
        b"6,child-pornography,2020-03-01,,,,,,\n"
    )
    items = read(data)
    assert [(i.location, i.error is None) for i in items] == [
        ("line 2", True),
        ("line 3", False),
        ("line 4", False),
        ("line 5", False),
        ("line 6", False),
        ("line 7", True),
    ]
    assert "incident_time" in (items[1].error or "")
    assert "file columns are filled but file_id is empty" in (items[2].error or "")
    assert "fields" in (items[3].error or "")
    assert items[4].error == "row is not valid UTF-8"


def test_empty_file() -> None:
    (item,) = read(b"")
    assert item.fatal and "empty" in (item.error or "")


def test_header_only_reads_nothing() -> None:
    assert read(HEADER) == []


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    read(HEADER + data)
    read(data)

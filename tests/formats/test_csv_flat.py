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


RUNAWAY_HEADER = b"report_id,incident_type,incident_time,platform,notes\n"


def _rows(first: int, count: int) -> bytes:
    return b"".join(
        b"%d,child-pornography,2020-03-01,Chat %d,\n" % (i, i) for i in range(first, first + count)
    )


def test_unclosed_quote_quarantines_its_line_and_the_rows_after_it_are_read() -> None:
    """One unclosed quote once swallowed the next 50 rows into one referral's platform."""
    data = (
        RUNAWAY_HEADER
        + _rows(1, 1)
        + b'2,child-pornography,2020-03-01,"Chat unclosed,\n'
        + _rows(3, 50)
        + b'53,child-pornography,2020-03-01,"Quoted, fine",\n'
        + _rows(54, 2)
    )
    items = read(data)
    bad = [i for i in items if i.error is not None]
    assert [(i.location, i.raw) for i in bad] == [
        ("line 3", '2,child-pornography,2020-03-01,"Chat unclosed,')
    ]
    assert "unclosed quote" in (bad[0].error or "")
    good = [i.referral for i in items if i.referral is not None]
    assert [r.report_id for r in good] == [str(n) for n in range(1, 56) if n != 2]
    assert all("\n" not in (r.platform or "") for r in good)
    assert good[-3].platform == "Quoted, fine"
    # Line numbers stay those of the file after the re-read.
    assert [i.location for i in items][-3:] == ["line 54", "line 55", "line 56"]


def test_unclosed_quote_at_the_end_of_the_file_is_quarantined() -> None:
    data = RUNAWAY_HEADER + _rows(1, 2) + b'3,child-pornography,2020-03-01,"never closed,\n'
    items = read(data)
    assert [i.error is None for i in items] == [True, True, False]
    assert items[-1].location == "line 4" and not items[-1].fatal


def test_rows_with_too_few_fields_are_quarantined() -> None:
    data = RUNAWAY_HEADER + b"1,child-pornography,2020-03-01\n" + _rows(2, 1)
    items = read(data)
    assert items[0].error == "row has 3 fields, the header 5" and items[0].location == "line 2"
    assert items[1].referral is not None and items[1].location == "line 3"


def test_a_field_spanning_more_lines_than_allowed_is_a_runaway() -> None:
    notes = b"\n".join(b"note line %d" % i for i in range(10))
    data = RUNAWAY_HEADER + b'1,child-pornography,2020-03-01,Chat,"' + notes + b'"\n' + _rows(2, 1)
    items = list(read_csv_stream(io.BytesIO(data), "t.csv", max_record_lines=5))
    assert items[0].error is not None and "runs on" in items[0].error
    # Within the limit, a multi-line value of a free column is kept.
    (first, second) = read(data)
    assert first.referral is not None and first.referral.extra["notes"].count("\n") == 9
    assert second.referral is not None and second.location == "line 12"


def test_stray_quote_inside_a_field_is_quarantined_not_glued() -> None:
    data = RUNAWAY_HEADER + b'1,child-pornography,2020-03-01,"Chat"x,\n' + _rows(2, 1)
    items = read(data)
    assert items[0].error is not None and items[0].location == "line 2"
    assert items[1].referral is not None

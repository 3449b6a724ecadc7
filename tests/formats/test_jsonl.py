"""JSON Lines reader: canonical form round trip and bad lines."""

from __future__ import annotations

import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import CP
from tipwatch.formats import jsonl
from tipwatch.formats.jsonl import read_jsonl_stream, write_jsonl
from tipwatch.models import Flag, Referral


def read(data: bytes) -> list:  # type: ignore[type-arg]
    return list(read_jsonl_stream(io.BytesIO(data), "t.jsonl"))


GOOD = {"report_id": "1", "incident_type": CP, "incident_time": "2020-03-01T00:00:00Z"}


def line(obj: object) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def test_round_trip_keeps_everything_including_extra() -> None:
    data = dict(
        GOOD,
        sender_ref="abc",
        files=[
            {
                "file_id": "f",
                "hashes": {"MD5": "A" * 32},
                "publicly_available": "no",
                "vendor": {"x": 1},
            }
        ],
    )
    (item,) = read(line(data))
    r = item.referral
    assert r is not None
    assert r.extra == {"sender_ref": "abc"}
    assert r.files[0].hashes == {"md5": "a" * 32}
    assert r.files[0].extra == {"vendor": {"x": 1}}
    assert r.files[0].publicly_available is Flag.NO
    assert r.files[0].viewed_by_service is Flag.UNKNOWN
    out = io.StringIO()
    assert write_jsonl([r], out) == 1
    (again,) = read(out.getvalue().encode())
    assert again.referral == r


def test_bad_lines_are_reported_and_the_rest_read() -> None:
    before_bad_byte = (
        b'{"report_id": "3", "incident_type": "' + CP.encode() + b'", "incident_time": "'
    )
    data = (
        line(GOOD)
        + b"[1, 2]\n"
        + b"{not json\n"
        + b"\n"
        + line(dict(GOOD, report_id="2", incident_type="nope"))
        + before_bad_byte
        + b'\xff"}\n'
        + line(dict(GOOD, report_id="4"))
        + b"42\n"
    )
    items = read(data)
    assert [(i.location, i.referral is not None) for i in items] == [
        ("line 1", True),
        ("line 2", False),
        ("line 3", False),
        ("line 5", False),
        ("line 6", False),
        ("line 7", True),
        ("line 8", False),
    ]
    errors = [i.error for i in items if i.error]
    assert errors[0] == "expected a JSON object, got array"
    assert errors[1].startswith("not valid JSON")
    assert "unknown incident type 'nope'" in errors[2]
    assert errors[3] == f"not valid UTF-8 (byte 0xff at column {len(before_bad_byte) + 1})"
    assert errors[4] == "expected a JSON object, got int"
    assert items[3].key == "2"


def test_missing_required_fields_are_named() -> None:
    (item,) = read(line({"report_id": "1"}))
    assert item.error is not None
    assert "incident_type" in item.error and "incident_time" in item.error


def test_missing_id_is_derived_stably() -> None:
    no_id = {k: v for k, v in GOOD.items() if k != "report_id"}
    a, b = read(line(no_id) + line(no_id))
    assert a.referral is not None and b.referral is not None
    assert a.referral.report_id == b.referral.report_id
    assert a.referral.report_id.startswith("auto-")


def test_overlong_line_is_skipped_and_reading_goes_on(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(jsonl, "MAX_LINE_BYTES", 1000)
    data = b'{"x": "' + b"a" * 5000 + b'"}\n' + line(GOOD)
    first, second = read(data)
    assert first.error is not None and "more than the limit" in first.error
    assert second.referral is not None and second.location == "line 2"


def test_empty_input_reads_nothing() -> None:
    assert read(b"") == []


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    for item in read(data):
        assert (item.error is None) == isinstance(item.referral, Referral)

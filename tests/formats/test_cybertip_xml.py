"""CyberTipline XML reader: good input, envelopes, streams, and bad and hostile input."""

from __future__ import annotations

import io
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.conftest import require_shared
from tests.helpers import CP, envelope, file_details_xml, md5, report_xml
from tipwatch.demo import sample_files
from tipwatch.demo.synthetic import envelope_chunks
from tipwatch.formats._cybertip_elements import MAX_UNKNOWN_DEPTH
from tipwatch.formats._records import ReaderItem
from tipwatch.formats.cybertip_xml import (
    MAX_RECORD_BYTES,
    read_xml,
    read_xml_stream,
)
from tipwatch.models import FileAnnotation, Flag, IncidentType, IPEventName, ReportAnnotation


def read(data: str | bytes, name_id: str | None = None) -> list[ReaderItem]:
    raw = data.encode() if isinstance(data, str) else data
    return list(read_xml_stream(io.BytesIO(raw), "test.xml", name_id=name_id))


def test_single_report_reads_every_modelled_field() -> None:
    xml = """<report>
      <batchedReport reason="VIRAL_POTENTIAL_MEME"/>
      <incidentSummary>
        <incidentType>Online Enticement of Children for Sexual Acts</incidentType>
        <platform>Example Chat</platform>
        <escalateToHighPriority>meeting planned</escalateToHighPriority>
        <reportAnnotations><sextortion/><spam>false</spam></reportAnnotations>
        <incidentDateTime>2020-03-30T08:40:00+02:00</incidentDateTime>
      </incidentSummary>
      <internetDetails><chatImIncident><chatClient>C</chatClient></chatImIncident></internetDetails>
      <internetDetails><webPageIncident thirdPartyHostedContent="true">
        <url>http://a.example.invalid/1</url><url>http://a.example.invalid/2</url>
      </webPageIncident></internetDetails>
      <reporter><reportingPerson><firstName>T</firstName></reportingPerson></reporter>
      <personOrUserReported>
        <personOrUserReportedPerson><email verified="true">x@example.invalid</email>
          <address type="Home"><city>Utrecht</city><country>NL</country></address>
        </personOrUserReportedPerson>
        <espIdentifier>c-88</espIdentifier><screenName>s88</screenName>
        <ipCaptureEvent><ipAddress>198.51.100.23</ipAddress><eventName>Login</eventName>
          <dateTime>2020-03-30T08:00:00Z</dateTime><possibleProxy>true</possibleProxy>
          <port>443</port></ipCaptureEvent>
        <priorCTReports>123</priorCTReports>
        <estimatedLocation verified="true"><countryCode>DE</countryCode></estimatedLocation>
      </personOrUserReported>
      <intendedRecipient><screenName>r1</screenName></intendedRecipient>
      <victim><victimPerson><age>13</age></victimPerson><schoolName>S</schoolName></victim>
    </report>"""
    (item,) = read(xml)
    assert item.error is None, item.error
    r = item.referral
    assert r is not None
    assert r.incident_type is IncidentType.ONLINE_ENTICEMENT
    assert r.incident_time.isoformat() == "2020-03-30T06:40:00+00:00"
    assert r.escalation_reason == "meeting planned"
    assert r.report_annotations == [ReportAnnotation.SEXTORTION]
    assert r.batched_reason is not None
    assert [d.kind.value for d in r.internet_details] == ["chat_im", "web_page"]
    assert r.internet_details[1].third_party_hosted is True
    assert r.internet_details[1].urls == [
        "http://a.example.invalid/1",
        "http://a.example.invalid/2",
    ]
    party = r.reported[0]
    assert party.person is not None and party.person.emails[0].verified is True
    assert party.person.addresses[0].country == "NL"
    ev = party.ip_events[0]
    assert (ev.event_name, ev.possible_proxy, ev.port) == (IPEventName.LOGIN, True, 443)
    assert party.prior_reports == ["123"]
    assert party.estimated_location is not None and party.estimated_location.verified is True
    assert r.intended_recipients[0].screen_name == "r1"
    assert r.victims[0].person is not None and r.victims[0].person.age == 13
    assert r.stated_country == "DE"


def test_unknown_elements_and_attributes_are_kept_in_extra() -> None:
    xml = report_xml(extra='<deliveryNote lang="en">kept</deliveryNote>')
    xml = xml.replace(
        "<report>", '<report vendorFlag="x"><vendorBlock><a>1</a><a>2</a></vendorBlock>'
    )
    (item,) = read(xml)
    assert item.referral is not None
    assert item.referral.reported[0].extra == {"deliveryNote": {"@lang": "en", "#text": "kept"}}
    assert item.referral.extra["vendorBlock"] == {"a": ["1", "2"]}
    assert item.referral.extra["@vendorFlag"] == "x"


def test_envelope_merges_files_and_takes_id_source_received_and_geolocation() -> None:
    files = file_details_xml("77", "f1", md5(1), viewed="true") + file_details_xml(
        None, "f2", md5(2)
    )
    xml = (
        "<referrals>"
        + envelope(
            "77",
            report_xml(),
            files,
            ' source="NCMEC" received="2020-03-29T00:00:00Z"',
        ).replace("</referral>", '<geolocation countryCode="BE" source="NCMEC"/></referral>')
        + "</referrals>"
    )
    (item,) = read(xml)
    r = item.referral
    assert r is not None, item.error
    assert r.report_id == "77" and r.source == "NCMEC"
    assert r.received_at is not None and r.received_at.day == 29
    assert [f.file_id for f in r.files] == ["f1", "f2"]
    assert r.files[0].viewed_by_service is Flag.YES
    assert r.files[1].viewed_by_service is Flag.UNKNOWN
    assert r.files[1].publicly_available is Flag.UNKNOWN
    assert r.stated_country == "BE"


def test_envelope_rejects_file_of_another_report() -> None:
    xml = envelope("1", report_xml(), file_details_xml("2", "f", md5(1)))
    (item,) = read(xml)
    assert item.error is not None and "names report 2" in item.error


def test_file_details_flags_hashes_annotations() -> None:
    xml = """<fileDetails><reportId>5</reportId><fileId>f</fileId>
      <fileViewedByEsp>false</fileViewedByEsp><publiclyAvailable>true</publiclyAvailable>
      <industryClassification>A1</industryClassification>
      <fileAnnotations><liveStreaming/><generativeAi/><newFlag/></fileAnnotations>
      <originalFileHash hashType="MD5">ABCDEF0123456789ABCDEF0123456789</originalFileHash>
      <originalFileHash hashType="SHA-1">0000000000000000000000000000000000000001</originalFileHash>
      <originalFileHash hashType="PhotoDNA">QUJD+/==</originalFileHash>
      <details type="EXIF"><nameValuePair><name>Model</name><value>Cam</value></nameValuePair></details>
    </fileDetails>"""
    (item,) = read(xml)
    assert item.loose_file is not None, item.error
    assert item.loose_file.report_id == "5"
    f = item.loose_file.file
    assert f.viewed_by_service is Flag.NO and f.publicly_available is Flag.YES
    assert f.hashes == {
        "md5": "abcdef0123456789abcdef0123456789",
        "sha1": "0000000000000000000000000000000000000001",
        "PhotoDNA": "QUJD+/==",
    }
    assert f.annotations == [FileAnnotation.GENERATIVE_AI, FileAnnotation.LIVE_STREAMING]
    assert f.extra["fileAnnotations"] == {"newFlag": None}
    assert f.details[0].name == "Model"


def test_report_id_from_file_name_then_derived(tmp_path: Path) -> None:
    path = tmp_path / "9100001.xml"
    path.write_text(report_xml() + report_xml(country="BE"))
    first, second = list(read_xml(path))
    assert first.referral is not None and first.referral.report_id == "9100001"
    assert second.referral is not None and second.referral.report_id.startswith("auto-")


def test_derived_id_is_stable_and_content_dependent() -> None:
    a = read(report_xml())[0].referral
    b = read(report_xml())[0].referral
    c = read(report_xml(country="BE"))[0].referral
    assert a is not None and b is not None and c is not None
    assert a.report_id == b.report_id != c.report_id


def test_stream_of_documents_each_with_declaration() -> None:
    decl = '<?xml version="1.0" encoding="UTF-8"?>\n'
    xml = (
        decl
        + report_xml()
        + "\n"
        + decl
        + report_xml(country="BE")
        + "\n"
        + decl
        + (file_details_xml("1", "f", md5(3)))
    )
    items = read(xml)
    assert [i.error for i in items] == [None, None, None]
    assert items[2].loose_file is not None
    assert [i.index for i in items] == [0, 1, 2]


def test_declared_latin1_encoding_is_honoured() -> None:
    xml = '<?xml version="1.0" encoding="ISO-8859-1"?>' + report_xml(extra="<note>café</note>")
    (item,) = read(xml.encode("latin-1"))
    assert item.referral is not None, item.error
    assert item.referral.reported[0].extra["note"] == "café"


def test_namespaced_elements_are_read() -> None:
    xml = report_xml().replace("<report>", '<report xmlns="urn:example:ct">')
    (item,) = read(xml)
    assert item.referral is not None, item.error


def test_locations_are_line_numbers() -> None:
    xml = (
        "<referrals>\n"
        + "\n".join(envelope(str(i), report_xml()) for i in range(3))
        + "\n</referrals>"
    )
    assert [i.location for i in read(xml)] == ["line 2", "line 3", "line 4"]


# -- bad input --------------------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<report><incidentSummary><incidentType>&lol9;</incidentType></incidentSummary></report>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<report><incidentSummary><incidentType>&xxe;</incidentType></incidentSummary></report>"""

XXE_NETWORK = """<?xml version="1.0"?>
<!DOCTYPE r SYSTEM "http://dtd.example.invalid/evil.dtd">
<report/>"""


@pytest.mark.parametrize(
    "doc", [BILLION_LAUGHS, XXE, XXE_NETWORK], ids=["billion-laughs", "xxe-file", "xxe-network"]
)
def test_entity_attacks_are_refused_clearly(doc: str) -> None:
    items = read(doc)
    assert len(items) == 1
    assert items[0].fatal and items[0].error is not None
    assert "refused" in items[0].error and "DTD" in items[0].error
    assert "root:" not in (items[0].error or "")  # nothing of /etc/passwd leaks


def test_dtd_later_in_a_stream_stops_only_that_point() -> None:
    xml = report_xml() + "\n" + XXE
    items = read(xml)
    assert items[0].referral is not None
    assert items[-1].fatal and "refused" in (items[-1].error or "")


def test_truncated_xml_keeps_earlier_records_and_names_the_line() -> None:
    xml = "<referrals>\n" + envelope("1", report_xml()) + "\n" + envelope("2", report_xml())[:120]
    items = read(xml)
    assert items[0].referral is not None and items[0].referral.report_id == "1"
    last = items[-1]
    assert last.fatal and last.error is not None
    assert "truncated" in last.error and "line" in last.error


def test_wrong_root_is_named() -> None:
    (item,) = read("<html><body><p>hello</p></body></html>")
    assert item.error is not None and "unexpected element <html>" in item.error


@pytest.mark.parametrize(
    ("when", "needle"),
    [("2020-13-45T00:00:00Z", "incident_time"), ("yesterday", "incident_time")],
)
def test_invalid_dates_are_reported_with_the_field(when: str, needle: str) -> None:
    xml = envelope("1", report_xml(when=when)) + envelope("2", report_xml())
    bad, good = read("<referrals>" + xml + "</referrals>")
    assert bad.error is not None and needle in bad.error and when in bad.error
    assert bad.key == "1" and bad.raw is not None and "<report>" in bad.raw
    assert good.referral is not None


def test_unknown_incident_type() -> None:
    (item,) = read(report_xml(incident_type="Something Else"))
    assert item.error is not None and "unknown incident type 'Something Else'" in item.error


def test_invalid_boolean_and_hash() -> None:
    bad_bool = file_details_xml("1", "f", md5(1)).replace(
        "</fileId>", "</fileId><fileViewedByEsp>maybe</fileViewedByEsp>"
    )
    bad_hash = file_details_xml("1", "g", "not-a-hash")
    a, b = read(bad_bool + bad_hash)
    assert a.error is not None and "fileViewedByEsp" in a.error and "maybe" in a.error
    assert b.error is not None and "md5 hash must be 32 hexadecimal" in b.error


def test_non_utf8_bytes_stop_with_line_and_keep_earlier_records() -> None:
    data = (
        ("<referrals>\n" + envelope("1", report_xml()) + "\n").encode()
        + (envelope("2", report_xml(extra="<note>X</note>")).encode().replace(b"X", b"\xff\xfe"))
        + b"</referrals>"
    )
    items = read(data)
    assert items[0].referral is not None
    assert items[-1].fatal and items[-1].error is not None
    assert "line 3" in items[-1].error and "UTF-8" in items[-1].error


@pytest.mark.parametrize("data", [b"", b"   \n\n", b"\xef\xbb\xbf"])
def test_empty_file(data: bytes) -> None:
    (item,) = read(data)
    assert item.fatal and item.error == "the file is empty: it holds no XML"


def _depth(value: object) -> int:
    return 1 + _depth(next(iter(value.values()))) if isinstance(value, dict) else 0


@pytest.mark.parametrize("depth", [26, 40, 200])
def test_deeply_nested_unknown_elements_are_read_and_kept(depth: int) -> None:
    """One unknown element nested 26 deep once ended the file; legal XML is read, and what is
    deeper than MAX_UNKNOWN_DEPTH is kept as its XML text."""
    deep = "<x>" * depth + "deep" + "</x>" * depth
    first, second = read(
        "<referrals>"
        + envelope("1", report_xml(extra=deep))
        + envelope("2", report_xml())
        + "</referrals>"
    )
    assert first.referral is not None and second.referral is not None, first.error
    kept = first.referral.reported[0].extra["x"]
    assert _depth(kept) == MAX_UNKNOWN_DEPTH + 1
    assert "deep" in str(kept) and str(kept).count("<x>") == depth - MAX_UNKNOWN_DEPTH - 1


def test_parser_depth_bomb_is_refused_without_crash() -> None:
    (item,) = read("<report>" + "<x>" * 5000 + "</x>" * 5000 + "</report>")
    assert item.error is not None and item.fatal


def test_oversized_record_is_refused_and_earlier_records_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tipwatch.formats import cybertip_xml

    monkeypatch.setattr(cybertip_xml, "MAX_RECORD_BYTES", 200_000)
    many = "<url>http://a.example.invalid/</url>" * 20_000  # about 700 kB in one record
    big = report_xml().replace(
        "</incidentSummary>",
        "</incidentSummary><internetDetails><webPageIncident>"
        + many
        + "</webPageIncident></internetDetails>",
    )
    items = read("<referrals>" + envelope("1", report_xml()) + envelope("2", big) + "</referrals>")
    assert items[0].referral is not None
    assert items[-1].fatal and "spans more than 200,000 bytes" in (items[-1].error or "")
    assert MAX_RECORD_BYTES == 64 * 1024 * 1024


def test_unknown_top_level_elements_between_records_are_reported() -> None:
    xml = (
        "<referrals>"
        + envelope("1", report_xml())
        + "<note>hi</note>"
        + envelope("2", report_xml())
        + "</referrals>"
    )
    items = read(xml)
    assert [i.error is None for i in items] == [True, False, True]
    assert "unexpected element <note>" in (items[1].error or "")


def test_huge_document_of_the_wrong_kind_is_refused_in_bounded_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tipwatch.formats import cybertip_xml

    monkeypatch.setattr(cybertip_xml, "MAX_RECORD_BYTES", 1_000_000)
    xml = "<html><body>" + "<p>text</p>" * 300_000 + "</body></html>"
    (item,) = read(xml)
    assert item.fatal and "spans more than" in (item.error or "")


def test_duplicate_ids_in_one_file_are_both_yielded() -> None:
    xml = (
        "<referrals>"
        + envelope("1", report_xml())
        + envelope("1", report_xml(country="BE"))
        + "</referrals>"
    )
    items = read(xml)
    assert [i.referral.report_id for i in items if i.referral] == ["1", "1"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    for item in read(data):
        assert (item.error is None) != (item.referral is None and item.loose_file is None)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="<>/=\"' areptincdSumyTpolf\n&;!", max_size=300))
def test_arbitrary_markup_never_raises(text: str) -> None:
    read(text)


# -- huge input, constant memory ----------------------------------------------------------------


class _GeneratedStream(io.RawIOBase):
    """A file-like object producing a large envelope document on the fly (never all in memory)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        self.size += n
        return n


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.slow
def test_several_hundred_megabytes_stream_in_flat_memory() -> None:
    count = 150_000  # about 290 MB of XML
    stream = _GeneratedStream(envelope_chunks(count, seed=3))
    start = _rss_mb()
    peak = start
    n = 0
    for item in read_xml_stream(stream, "generated.xml"):  # type: ignore[arg-type]
        assert item.error is None
        n += 1
        if n % 5000 == 0:
            peak = max(peak, _rss_mb())
    assert n == count
    assert stream.size > 250_000_000
    assert peak - start < 60, f"memory grew by {peak - start:.0f} MB"


# -- schema conformance -------------------------------------------------------------------------


def _schema() -> etree.XMLSchema:
    xsd = require_shared("formats/cyber_tipline.xsd")
    return etree.XMLSchema(etree.parse(str(xsd)))


def _fixture_elements() -> list[tuple[str, etree._Element]]:
    out: list[tuple[str, etree._Element]] = []
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    for path in sample_files():
        if path.suffix != ".xml":
            continue
        root = etree.parse(str(path), parser).getroot()
        for el in root.iter("report", "fileDetails"):
            out.append((f"{path.name}:{el.sourceline}", el))
    for i, text in enumerate([report_xml(), file_details_xml("1", "f", md5(1), viewed="true")]):
        out.append((f"helpers:{i}", etree.fromstring(text)))
    rng_doc = b"".join(envelope_chunks(3, seed=1))
    for el in etree.fromstring(rng_doc).iter("report", "fileDetails"):
        out.append((f"synthetic:{el.sourceline}", el))
    return out


def test_valid_fixtures_validate_against_the_cybertipline_xsd() -> None:
    schema = _schema()
    failures = []
    for name, el in _fixture_elements():
        text = etree.tostring(el, encoding="unicode")
        if "Unknown Incident Kind" in text or "deliveryNote" in text:
            continue  # the sample's deliberately malformed and off-schema records
        doc = etree.ElementTree(etree.fromstring(etree.tostring(el)))
        if not schema.validate(doc):
            failures.append(f"{name}: {schema.error_log.last_error}")
    assert not failures, failures


def test_incident_types_are_spelled_as_in_the_xsd() -> None:
    xsd = etree.parse(str(require_shared("formats/cyber_tipline.xsd")))
    values = xsd.xpath(
        "//xs:simpleType[@name='incidentType']//xs:enumeration/@value",
        namespaces={"xs": "http://www.w3.org/2001/XMLSchema"},
    )
    assert CP in values  # the test helpers' incident type
    assert sorted(values) == sorted(t.value for t in IncidentType)


def test_cdata_quoting_a_web_page_with_a_doctype_is_read() -> None:
    """A report quoting page source once stopped the file as a DTD."""
    page = "<![CDATA[<!DOCTYPE html><html><!ENTITY x 'y'><body>hi</body></html>]]>"
    items = read(
        "<referrals>"
        + envelope("1", report_xml(extra=f"<pageSource>{page}</pageSource>"))
        + envelope("2", report_xml())
        + "</referrals>"
    )
    assert [i.error for i in items] == [None, None]
    assert items[0].referral is not None
    assert items[0].referral.reported[0].extra["pageSource"].startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_document_with_a_byte_order_mark_is_read(codec: str) -> None:
    text = (
        '<?xml version="1.0" encoding="UTF-16"?>\n<referrals>'
        + envelope("1", report_xml(extra="<nick>Chät ✓</nick>"))
        + "\n"
        + envelope("2", report_xml())
        + "</referrals>\n"
    )
    data = text.encode(codec)
    if codec != "utf-16":  # the plain codec writes its own mark
        data = "\ufeff".encode(codec) + data
    items = read(data)
    assert [i.error for i in items] == [None, None]
    assert items[0].referral is not None
    assert items[0].referral.reported[0].extra["nick"] == "Chät ✓"
    assert items[1].location == "line 3"


def test_broken_utf16_is_refused_as_bad_encoding_with_earlier_records_kept() -> None:
    data = ("<referrals>" + envelope("1", report_xml())).encode("utf-16") + b"\x00\xd8A\x00"
    items = read(data)
    assert items[-1].fatal and "not valid UTF-16" in (items[-1].error or "")


def test_a_doctype_inside_the_stream_is_refused_by_the_parser() -> None:
    items = read(report_xml() + "\n" + report_xml() + '\n<!DOCTYPE r SYSTEM "x.dtd">\n<report/>')
    assert [i.referral is not None for i in items[:2]] == [True, True]
    assert items[-1].fatal and items[-1].location == "line 3"
    assert "refused" in (items[-1].error or "") and "DTD" in (items[-1].error or "")


def test_top_level_junk_elements_are_released_as_they_end() -> None:
    """60 MB of <x/> once ran for ten minutes at 2 GB: each is reported as it ends."""
    count = 200_000
    before = _rss_mb()
    stream = _GeneratedStream(
        iter([b"<referrals>"] + [b"<x/>" * 10_000] * (count // 10_000) + [b"</referrals>"])
    )
    seen = 0
    read_at_first = None
    for item in read_xml_stream(stream, "junk.xml"):
        assert item.error is not None and "unexpected element <x>" in item.error
        read_at_first = stream.size if read_at_first is None else read_at_first
        seen += 1
    assert seen == count
    # The first is reported long before the end of the stream, and memory stays flat.
    assert read_at_first is not None and read_at_first < stream.size // 10
    assert _rss_mb() - before < 100


def test_utf16_xml_is_detected_and_not_skipped_in_a_folder(tmp_path: Path) -> None:
    from tipwatch.formats.detect import InputFormat, detect_format, not_a_referral_source

    path = tmp_path / "utf16"
    path.write_bytes(
        ("<referrals>" + envelope("1", report_xml()) + "</referrals>").encode("utf-16")
    )
    assert detect_format(path) is InputFormat.XML
    assert not_a_referral_source(path.with_name("utf16")) is None
    (item,) = read_xml(path)
    assert item.referral is not None

"""CyberTipline XML: ``<report>`` documents, ``<fileDetails>`` documents and tipwatch's envelope.

A source may hold:

* one ``<report>`` document, or several written one after another (a stream), each optionally
  with its own XML declaration;
* ``<fileDetails>`` documents on their own; each names its report by ``<reportId>`` and is
  merged into that referral (now, or when the report arrives later);
* tipwatch's **envelope**, which carries the id the schema's ``<report>`` lacks and keeps a
  report and its files together, so that many referrals fit in one file::

      <referrals>
        <referral id="9100001" source="NCMEC" received="2020-03-28T15:00:00Z">
          <report> ... </report>
          <fileDetails> ... </fileDetails>            (0..n; reportId may be left out)
          <geolocation countryCode="NL" region="North Holland" city="Amsterdam"
                       isp="Example ISP" source="NCMEC"/>      (optional, a supplied location)
        </referral>
      </referrals>

A report outside an envelope takes its id from the file name when the name is a number
(``9100001.xml``, first report of the file only) and otherwise a stable id derived from its
content (``auto-`` and 20 hex digits), so that ingesting the same file again is recognised.

The parser is hardened: any DTD (``<!DOCTYPE``) or entity declaration is refused before libxml2
sees it, entities are never resolved, nothing is fetched from the network, and each record is
bounded in elements and nesting depth. Reading is streaming (``iterparse``): every record is
released once it has been yielded, so memory stays flat whatever the size of the source.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from lxml import etree
from pydantic import ValidationError

from tipwatch.errors import RecordError, UnsafeInputError
from tipwatch.formats._records import LooseFile, ReaderItem, describe_validation_error
from tipwatch.models import (
    FileAnnotation,
    Flag,
    InternetDetailKind,
    MediaFile,
    ReportAnnotation,
    normalise_hash_type,
)
from tipwatch.models import Referral as _Referral

__all__ = [
    "MAX_RECORD_DEPTH",
    "MAX_RECORD_ELEMENTS",
    "derive_report_id",
    "read_xml",
    "read_xml_stream",
]

MAX_RECORD_ELEMENTS = 200_000
"""Elements one record may hold; more is refused as hostile or broken input."""
MAX_RECORD_DEPTH = 24
"""Nesting depth one record may reach below its top element."""

_STREAM_TAG = "tipwatch-stream"
_CHUNK = 1 << 16
_DECL = re.compile(rb"<\?xml\s[^>]*\?>")
_FORBIDDEN = (b"<!DOCTYPE", b"<!ENTITY", b"<!doctype", b"<!entity")


class _GuardedStream(io.RawIOBase):
    """A byte stream that refuses DTDs and wraps concatenated documents in one root.

    XML declarations after the first are removed (so a stream of documents parses as one),
    and the first one is kept ahead of the synthetic root so that a declared encoding holds.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw
        self._pending = b""
        self._carry = b""
        self._started = False
        self._finished = False
        self.bytes_read = 0
        self.content_seen = False
        self.lines = 1
        self._refusal: str | None = None

    def readable(self) -> bool:
        return True

    @property
    def at_end(self) -> bool:
        return self._finished and not self._pending

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        while not self._pending and not self._finished:
            self._fill()
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self.lines += self._pending.count(b"\n", 0, n)
        self._pending = self._pending[n:]
        return n

    def _fill(self) -> None:
        chunk = self._raw.read(_CHUNK)
        self.bytes_read += len(chunk)
        if self._refusal is not None:
            # Everything before the refused point has been handed to the parser.
            raise UnsafeInputError(self._refusal)
        prefix = b""
        if not self._started:
            self._started = True
            prefix, chunk = self._open(chunk)
        data = self._carry + chunk
        refused_at = self._check(data)
        if refused_at != -1:
            self._pending = prefix + _DECL.sub(b"", data[:refused_at])
            self._carry = b""
            return
        if not chunk:
            self._pending = prefix + _DECL.sub(b"", data) + f"</{_STREAM_TAG}>".encode()
            self._carry = b""
            self._finished = True
            return
        # Keep back a tail that may hold the start of a declaration cut by the chunk edge.
        cut = max(0, len(data) - 64)
        open_decl = data.rfind(b"<?", 0, cut)
        if open_decl != -1 and data.find(b"?>", open_decl) == -1:
            cut = open_decl
        self._pending = prefix + _DECL.sub(b"", data[:cut])
        self._carry = data[cut:]

    def _open(self, chunk: bytes) -> tuple[bytes, bytes]:
        # Read on until the first declaration (if any) is complete.
        while len(chunk) < 4096:
            more = self._raw.read(_CHUNK)
            if not more:
                break
            self.bytes_read += len(more)
            chunk += more
        head = b""
        if chunk.startswith(b"\xef\xbb\xbf"):
            chunk = chunk[3:]
        stripped = chunk.lstrip()
        match = _DECL.match(stripped)
        if match:
            head = match.group(0)
            chunk = stripped[match.end() :]
        self.content_seen = bool(chunk.strip())
        return head + f"<{_STREAM_TAG}>".encode(), chunk

    def _check(self, data: bytes) -> int:
        """Position of the first refused marker in ``data``, or -1; remembers the refusal."""
        first = -1
        for marker in _FORBIDDEN:
            pos = data.find(marker)
            if pos != -1 and (first == -1 or pos < first):
                first = pos
                kind = "DTD" if b"DOCTYPE" in marker.upper() else "entity declaration"
                self._refusal = (
                    f"refused: the document contains a {kind} ({marker.decode()}). "
                    "tipwatch does not accept DTDs or entities in XML (they allow "
                    "entity-expansion and external-entity attacks)"
                )
        return first


def _local(tag: Any) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2] if tag[:1] == "{" else tag


def _text(el: Any) -> str | None:
    text = el.text
    if text is None:
        return None
    text = text.strip()
    return text or None


def _bool(el: Any, where: str) -> bool | None:
    text = _text(el)
    if text is None:
        return None
    low = text.lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise RecordError(f"<{where}> must be true or false, got {text[:40]!r}")


def _attr_bool(value: str | None, where: str) -> bool | None:
    if value is None:
        return None
    low = value.strip().lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise RecordError(f"attribute {where} must be true or false, got {value[:40]!r}")


def _generic(el: Any, depth: int = 0) -> Any:
    """An element the model does not know, kept verbatim as text or a nested mapping."""
    if depth > MAX_RECORD_DEPTH:
        raise UnsafeInputError(f"refused: elements nested deeper than {MAX_RECORD_DEPTH} levels")
    children = [c for c in el if isinstance(c.tag, str)]
    if not children and not el.attrib:
        return _text(el)
    out: dict[str, Any] = {f"@{_local(k)}": v for k, v in el.attrib.items()}
    for child in children:
        out.setdefault(_local(child.tag), []).append(_generic(child, depth + 1))
    out = {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in out.items()}
    text = _text(el)
    if text is not None:
        out["#text"] = text
    return out


class _Fields:
    """Children of an element grouped by local name, with the unknown ones kept for ``extra``."""

    __slots__ = ("by_tag", "el", "used")

    def __init__(self, el: Any) -> None:
        self.el = el
        self.by_tag: dict[str, list[Any]] = {}
        for child in el:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            self.by_tag.setdefault(_local(tag), []).append(child)
        self.used: set[str] = set()

    def all(self, tag: str) -> list[Any]:
        self.used.add(tag)
        return self.by_tag.get(tag, [])

    def one(self, tag: str) -> Any | None:
        found = self.all(tag)
        return found[0] if found else None

    def text(self, tag: str) -> str | None:
        found = self.one(tag)
        return None if found is None else _text(found)

    def texts(self, tag: str) -> list[str]:
        return [t for t in (_text(e) for e in self.all(tag)) if t is not None]

    def bool(self, tag: str) -> bool | None:
        found = self.one(tag)
        return None if found is None else _bool(found, tag)

    def extra(self, *, attrs_used: tuple[str, ...] = ()) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for tag, els in self.by_tag.items():
            if tag in self.used:
                continue
            values = [_generic(e) for e in els]
            out[tag] = values[0] if len(values) == 1 else values
        for key, value in self.el.attrib.items():
            name = _local(key)
            if name not in attrs_used:
                out[f"@{name}"] = value
        return out


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != [] and v != {}}


def _email(el: Any) -> dict[str, Any]:
    return _drop_none(
        {
            "address": _text(el) or "",
            "type": el.get("type"),
            "verified": _attr_bool(el.get("verified"), "verified"),
            "verification_date": el.get("verificationDate"),
        }
    )


def _phone(el: Any) -> dict[str, Any]:
    return _drop_none(
        {
            "number": _text(el) or "",
            "type": el.get("type"),
            "verified": _attr_bool(el.get("verified"), "verified"),
            "country_calling_code": el.get("countryCallingCode"),
            "extension": el.get("extension"),
        }
    )


def _address(el: Any) -> dict[str, Any]:
    f = _Fields(el)
    out: dict[str, Any] = {
        "type": el.get("type"),
        "street": f.text("address"),
        "city": f.text("city"),
        "zip_code": f.text("zipCode"),
        "state": f.text("state"),
        "non_usa_state": f.text("nonUsaState"),
        "country": f.text("country"),
    }
    out["extra"] = f.extra(attrs_used=("type",))
    return _drop_none(out)


def _person(el: Any) -> dict[str, Any]:
    f = _Fields(el)
    out: dict[str, Any] = {
        "first_name": f.text("firstName"),
        "last_name": f.text("lastName"),
        "phones": [_phone(e) for e in f.all("phone")],
        "emails": [_email(e) for e in f.all("email")],
        "addresses": [_address(e) for e in f.all("address")],
        "age": f.text("age"),
        "date_of_birth": f.text("dateOfBirth"),
    }
    out["extra"] = f.extra()
    return _drop_none(out)


def _ip_event(el: Any) -> dict[str, Any]:
    f = _Fields(el)
    out: dict[str, Any] = {
        "ip_address": f.text("ipAddress"),
        "event_name": f.text("eventName"),
        "date_time": f.text("dateTime"),
        "possible_proxy": f.bool("possibleProxy"),
        "port": f.text("port"),
    }
    out["extra"] = f.extra()
    result = _drop_none(out)
    result.setdefault("ip_address", "")
    return result


def _device(el: Any) -> dict[str, Any]:
    f = _Fields(el)
    out: dict[str, Any] = {
        "id_type": f.text("idType") or "",
        "id_value": f.text("idValue") or "",
        "event_name": f.text("eventName"),
        "date_time": f.text("dateTime"),
    }
    out["extra"] = f.extra()
    return _drop_none(out)


def _location(el: Any) -> dict[str, Any]:
    f = _Fields(el)
    out: dict[str, Any] = {
        "city": f.text("city"),
        "region": f.text("region"),
        "country_code": f.text("countryCode"),
        "verified": _attr_bool(el.get("verified"), "verified"),
        "timestamp": el.get("timestamp"),
    }
    out["extra"] = f.extra(attrs_used=("verified", "timestamp"))
    return _drop_none(out)


def _associated(el: Any) -> dict[str, Any]:
    f = _Fields(el)
    platform = f.one("platform")
    out: dict[str, Any] = {
        "type": el.get("type"),
        "platform": None if platform is None else _text(platform),
        "esp_service": f.text("espService"),
        "esp_identifier": f.text("espIdentifier"),
        "screen_name": f.text("screenName"),
        "display_names": f.texts("displayName"),
        "profile_urls": f.texts("profileUrl"),
        "emails": [_email(e) for e in f.all("email")],
        "phones": [_phone(e) for e in f.all("phone")],
        "ip_events": [_ip_event(e) for e in f.all("ipCaptureEvent")],
    }
    out["extra"] = f.extra(attrs_used=("type",))
    return _drop_none(out)


def _disabled(f: _Fields, tag: str) -> bool | None:
    el = f.one(tag)
    return None if el is None else _bool(el, tag)


def _party(el: Any) -> dict[str, Any]:
    f = _Fields(el)
    person_el = next(
        (
            el
            for el in (
                f.one("personOrUserReportedPerson"),
                f.one("intendedRecipientPerson"),
                f.one("victimPerson"),
            )
            if el is not None
        ),
        None,
    )
    location = f.one("estimatedLocation")
    info = f.texts("additionalInfo")
    out: dict[str, Any] = {
        "person": None if person_el is None else _person(person_el),
        "esp_identifier": f.text("espIdentifier"),
        "esp_service": f.text("espService"),
        "screen_name": f.text("screenName"),
        "display_names": f.texts("displayName"),
        "profile_urls": f.texts("profileUrl"),
        "profile_bio": f.text("profileBio"),
        "compromised_account": f.bool("compromisedAccount"),
        "third_party_user": f.bool("thirdPartyUserReported"),
        "ip_events": [_ip_event(e) for e in f.all("ipCaptureEvent")],
        "device_ids": [_device(e) for e in f.all("deviceId")],
        "prior_reports": f.texts("priorCTReports"),
        "group_identifier": f.text("groupIdentifier"),
        "account_temporarily_disabled": _disabled(f, "accountTemporarilyDisabled"),
        "account_permanently_disabled": _disabled(f, "accountPermanentlyDisabled"),
        "estimated_location": None if location is None else _location(location),
        "all_emails_reported": f.bool("allEmailsReported"),
        "associated_accounts": [_associated(e) for e in f.all("associatedAccount")],
        "vehicle_description": f.text("vehicleDescription"),
        "school_name": f.text("schoolName"),
        "additional_info": "\n".join(info) if info else None,
    }
    out["extra"] = f.extra()
    return _drop_none(out)


_INCIDENT_KINDS = {
    "webPageIncident": InternetDetailKind.WEB_PAGE,
    "emailIncident": InternetDetailKind.EMAIL,
    "newsgroupIncident": InternetDetailKind.NEWSGROUP,
    "chatImIncident": InternetDetailKind.CHAT_IM,
    "onlineGamingIncident": InternetDetailKind.ONLINE_GAMING,
    "cellPhoneIncident": InternetDetailKind.CELL_PHONE,
    "nonInternetIncident": InternetDetailKind.NON_INTERNET,
    "peer2peerIncident": InternetDetailKind.PEER_TO_PEER,
}


def _internet_details(el: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for child in el:
        if not isinstance(child.tag, str):
            continue
        tag = _local(child.tag)
        kind = _INCIDENT_KINDS.get(tag)
        if kind is None:
            raise RecordError(f"<internetDetails> holds unknown incident kind <{tag}>")
        f = _Fields(child)
        phone = f.one("phoneNumber")
        detail: dict[str, Any] = {
            "kind": kind.value,
            "urls": f.texts("url"),
            "third_party_hosted": _attr_bool(child.get("thirdPartyHostedContent"), "thirdParty"),
            "emails": [_email(e) for e in f.all("emailAddress")],
            "newsgroup": f.text("name"),
            "content": f.text("content"),
            "chat_client": f.text("chatClient"),
            "chat_room": f.text("chatRoomName"),
            "game_name": f.text("gameName"),
            "console": f.text("console"),
            "phone": None if phone is None else _phone(phone),
            "latitude": f.text("latitude"),
            "longitude": f.text("longitude"),
            "location_name": f.text("locationName"),
            "addresses": [_address(e) for e in f.all("incidentAddress")],
            "p2p_client": f.text("client"),
            "ip_events": [_ip_event(e) for e in f.all("ipCaptureEvent")],
            "file_names": f.text("fileNames"),
            "additional_info": f.text("additionalInfo"),
        }
        detail["extra"] = f.extra(attrs_used=("thirdPartyHostedContent",))
        out.append(_drop_none(detail))
    return out


def _flags(
    el: Any, allowed: type[ReportAnnotation] | type[FileAnnotation]
) -> tuple[list[str], dict[str, Any]]:
    names: list[str] = []
    extra: dict[str, Any] = {}
    known = {a.value for a in allowed}
    for child in el:
        if not isinstance(child.tag, str):
            continue
        tag = _local(child.tag)
        value = _bool(child, tag)
        if tag in known:
            if value is not False:
                names.append(tag)
        else:
            extra[tag] = _generic(child)
    return names, extra


def _report_dict(el: Any) -> dict[str, Any]:
    f = _Fields(el)
    summary = f.one("incidentSummary")
    if summary is None:
        raise RecordError("<report> has no <incidentSummary>")
    s = _Fields(summary)
    annotations: list[str] = []
    annotation_extra: dict[str, Any] = {}
    ann_el = s.one("reportAnnotations")
    if ann_el is not None:
        annotations, annotation_extra = _flags(ann_el, ReportAnnotation)
    batched = f.one("batchedReport")
    law = f.one("lawEnforcement")
    reporter = f.one("reporter")
    details: list[dict[str, Any]] = []
    for d in f.all("internetDetails"):
        details.extend(_internet_details(d))
    out: dict[str, Any] = {
        "incident_type": s.text("incidentType"),
        "incident_time": s.text("incidentDateTime"),
        "incident_time_description": s.text("incidentDateTimeDescription"),
        "platform": s.text("platform"),
        "escalation_reason": s.text("escalateToHighPriority"),
        "report_annotations": annotations,
        "batched_reason": None if batched is None else (batched.get("reason") or None),
        "internet_details": details,
        "law_enforcement": None if law is None else _law(law),
        "reporter": None if reporter is None else _reporter(reporter),
        "reported": [_party(e) for e in f.all("personOrUserReported")],
        "intended_recipients": [_party(e) for e in f.all("intendedRecipient")],
        "victims": [_party(e) for e in f.all("victim")],
        "additional_info": f.text("additionalInfo"),
    }
    if out["incident_type"] is None:
        raise RecordError("<incidentSummary> has no <incidentType>")
    if out["incident_time"] is None:
        raise RecordError("<incidentSummary> has no <incidentDateTime>")
    extra = f.extra()
    summary_extra = s.extra()
    if summary_extra:
        extra["incidentSummary"] = summary_extra
    if annotation_extra:
        extra["reportAnnotations"] = annotation_extra
    out["extra"] = extra
    return _drop_none(out)


def _law(el: Any) -> dict[str, Any]:
    f = _Fields(el)
    intl = f.one("servedLegalProcessInternational")
    officer = f.one("officerContact")
    out: dict[str, Any] = {
        "agency_name": f.text("agencyName"),
        "case_number": f.text("caseNumber"),
        "reported_to_le": f.bool("reportedToLe"),
        "served_legal_process_domestic": f.bool("servedLegalProcessDomestic"),
        "served_legal_process_international": None if intl is None else _bool(intl, "intl"),
        "foreign_le_country": None if intl is None else intl.get("fleaCountry"),
    }
    extra = f.extra()
    if officer is not None:
        extra["officerContact"] = _generic(officer)
    out["extra"] = extra
    return _drop_none(out)


def _reporter(el: Any) -> dict[str, Any]:
    f = _Fields(el)
    rp = f.one("reportingPerson")
    cp = f.one("contactPerson")
    out: dict[str, Any] = {
        "reporting_person": None if rp is None else _person(rp),
        "contact_person": None if cp is None else _person(cp),
        "company_template": f.text("companyTemplate"),
        "terms_of_service": f.text("termsOfService"),
        "legal_url": f.text("legalURL"),
    }
    out["extra"] = f.extra()
    return _drop_none(out)


def _flag(f: _Fields, tag: str) -> str:
    return Flag.from_bool(f.bool(tag)).value


def file_details_dict(el: Any) -> tuple[str | None, dict[str, Any]]:
    """Convert a ``<fileDetails>`` element: returns its ``reportId`` and the file's fields."""
    f = _Fields(el)
    report_id = f.text("reportId")
    hashes: dict[str, str] = {}
    for h in f.all("originalFileHash"):
        kind = h.get("hashType")
        value = _text(h)
        if not kind or value is None:
            raise RecordError("<originalFileHash> needs a hashType attribute and a value")
        hashes[normalise_hash_type(kind)] = value
    annotations: list[str] = []
    annotation_extra: dict[str, Any] = {}
    ann = f.one("fileAnnotations")
    if ann is not None:
        annotations, annotation_extra = _flags(ann, FileAnnotation)
    if f.bool("potentialMeme"):
        annotations.append(FileAnnotation.POTENTIAL_MEME.value)
    details: list[dict[str, Any]] = []
    size: str | None = None
    for d in f.all("details"):
        for pair in d:
            if not isinstance(pair.tag, str):
                continue
            pf = _Fields(pair)
            name = pf.text("name") or ""
            value = pf.text("value")
            details.append(_drop_none({"type": d.get("type"), "name": name, "value": value}))
            if name.lower() in ("filesize", "file size", "size") and value and value.isdigit():
                size = value
            if d.get("type") == "HASH" and value and name:
                hashes.setdefault(normalise_hash_type(name), value)
    ip = f.one("ipCaptureEvent")
    out: dict[str, Any] = {
        "file_id": f.text("fileId") or "",
        "file_name": f.text("fileName"),
        "original_file_name": f.text("originalFileName"),
        "size": size,
        "uploaded_at": f.text("uploadedToEspTimestamp"),
        "location_of_file": f.text("locationOfFile"),
        "hashes": hashes,
        "viewed_by_service": _flag(f, "fileViewedByEsp"),
        "exif_viewed_by_service": _flag(f, "exifViewedByEsp"),
        "publicly_available": _flag(f, "publiclyAvailable"),
        "relevance": f.text("fileRelevance"),
        "industry_classification": f.text("industryClassification"),
        "annotations": annotations,
        "upload_ip": None if ip is None else _ip_event(ip),
        "device_ids": [_device(e) for e in f.all("deviceId")],
        "details": details,
        "additional_info": f.texts("additionalInfo"),
    }
    extra = f.extra()
    if annotation_extra:
        extra["fileAnnotations"] = annotation_extra
    out["extra"] = extra
    return report_id, _drop_none(out)


def derive_report_id(referral_fields: dict[str, Any]) -> str:
    """A stable id for a report that came without one: a hash of its content."""
    import json

    body = json.dumps(referral_fields, sort_keys=True, separators=(",", ":"), default=str)
    return "auto-" + hashlib.sha256(body.encode()).hexdigest()[:20]


def _raw(el: Any) -> str:
    return etree.tostring(el, encoding="unicode")


class _Reader:
    """State of one pass over one source."""

    def __init__(self, source: str, name_id: str | None) -> None:
        self.source = source
        self.name_id = name_id
        self.index = 0

    def _next_index(self) -> int:
        i = self.index
        self.index += 1
        return i

    def report(self, el: Any, envelope: Any | None) -> ReaderItem:
        index = self._next_index()
        location = f"line {(envelope if envelope is not None else el).sourceline}"
        key: str | None = None
        try:
            fields = _report_dict(el)
            files: list[dict[str, Any]] = []
            if envelope is not None:
                key = (envelope.get("id") or envelope.get("reportId") or "").strip() or None
                for fd in envelope:
                    if _local(fd.tag) == "fileDetails":
                        rid, file_fields = file_details_dict(fd)
                        if rid is not None and key is not None and rid != key:
                            raise RecordError(
                                f"<fileDetails> line {fd.sourceline} names report {rid} "
                                f"inside the envelope of report {key}"
                            )
                        files.append(file_fields)
                    elif _local(fd.tag) == "geolocation":
                        fields["supplied_geolocation"] = _drop_none(
                            {
                                "country_code": fd.get("countryCode"),
                                "region": fd.get("region"),
                                "city": fd.get("city"),
                                "isp": fd.get("isp"),
                                "source": fd.get("source"),
                            }
                        )
                if envelope.get("source"):
                    fields["source"] = envelope.get("source")
                if envelope.get("received"):
                    fields["received_at"] = envelope.get("received")
            elif self.name_id is not None:
                key = self.name_id
                self.name_id = None
            if key is None:
                key = derive_report_id(fields)
            fields["report_id"] = key
            fields["files"] = files
            referral = _Referral.model_validate(fields)
        except ValidationError as exc:
            return ReaderItem(
                self.source,
                index,
                location,
                error=describe_validation_error(exc),
                raw=_raw(envelope if envelope is not None else el),
                key=key,
            )
        except RecordError as exc:
            return ReaderItem(
                self.source,
                index,
                location,
                error=str(exc),
                raw=_raw(envelope if envelope is not None else el),
                key=key,
            )
        return ReaderItem(self.source, index, location, referral=referral, key=key)

    def loose_file(self, el: Any) -> ReaderItem:
        index = self._next_index()
        location = f"line {el.sourceline}"
        report_id: str | None = None
        try:
            report_id, fields = file_details_dict(el)
            if report_id is None:
                raise RecordError("<fileDetails> outside an envelope needs a <reportId>")
            media = MediaFile.model_validate(fields)
        except ValidationError as exc:
            return ReaderItem(
                self.source,
                index,
                location,
                error=describe_validation_error(exc),
                raw=_raw(el),
                key=report_id,
            )
        except RecordError as exc:
            return ReaderItem(
                self.source, index, location, error=str(exc), raw=_raw(el), key=report_id
            )
        return ReaderItem(
            self.source, index, location, loose_file=LooseFile(report_id, media), key=report_id
        )

    def envelope(self, el: Any) -> ReaderItem:
        reports = [c for c in el if _local(c.tag) == "report"]
        if len(reports) != 1:
            index = self._next_index()
            return ReaderItem(
                self.source,
                index,
                f"line {el.sourceline}",
                error=f"<referral> envelope must hold exactly one <report>, found {len(reports)}",
                raw=_raw(el),
                key=el.get("id"),
            )
        return self.report(reports[0], el)

    def unexpected(self, el: Any) -> ReaderItem:
        index = self._next_index()
        return ReaderItem(
            self.source,
            index,
            f"line {el.sourceline}",
            error=(
                f"unexpected element <{_local(el.tag)}>: expected <report>, <fileDetails>, "
                "<referral> or <referrals> (is this a CyberTipline XML file?)"
            ),
            raw=None,
        )


def read_xml_stream(
    stream: IO[bytes],
    source: str,
    *,
    name_id: str | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[ReaderItem]:
    """Read CyberTipline XML from a byte stream, one :class:`ReaderItem` per record.

    ``name_id`` is the report id taken from the file name, if any. ``on_bytes`` is called with
    the number of bytes read so far (for progress bars). Malformed records come back as error
    items; a document that cannot be parsed further ends the stream with a ``fatal`` item.
    """
    guarded = _GuardedStream(stream)
    reader = _Reader(source, name_id)
    parser_args: dict[str, Any] = dict(
        events=("end",),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    elements = 0
    last_bytes = 0
    try:
        for _event, el in etree.iterparse(guarded, **parser_args):
            elements += 1
            if elements > MAX_RECORD_ELEMENTS:
                raise UnsafeInputError(
                    f"refused: a record near line {el.sourceline} holds more than "
                    f"{MAX_RECORD_ELEMENTS:,} elements"
                )
            parent = el.getparent()
            if parent is None:
                continue
            ptag = parent.tag
            if ptag != _STREAM_TAG and (
                ptag != "referrals" or parent.getparent().tag != _STREAM_TAG
            ):
                continue
            tag = _local(el.tag)
            if tag == "referrals" and ptag == _STREAM_TAG:
                el.clear()
                elements = 0
                continue
            if tag == "report":
                item = reader.report(el, None)
            elif tag == "fileDetails":
                item = reader.loose_file(el)
            elif tag == "referral":
                item = reader.envelope(el)
            else:
                item = reader.unexpected(el)
            elements = 0
            el.clear()
            while el.getprevious() is not None:
                del parent[0]
            if on_bytes is not None and guarded.bytes_read != last_bytes:
                last_bytes = guarded.bytes_read
                on_bytes(last_bytes)
            yield item
    except UnsafeInputError as exc:
        yield ReaderItem(source, reader.index, "document", error=str(exc), fatal=True)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else "?"
        message = str(exc.msg if hasattr(exc, "msg") else exc)
        mismatch = re.search(r"tag mismatch: (\S+) line (\d+) and " + _STREAM_TAG, message)
        if "Invalid bytes in character encoding" in message or "not proper UTF-8" in message:
            message = (
                "bytes that are not valid in the file's encoding (UTF-8 unless the XML "
                f"declaration names another): {message}"
            )
        elif mismatch:
            message = (
                f"the document ends before <{mismatch.group(1)}> (opened at line "
                f"{mismatch.group(2)}) is closed: the file is truncated"
            )
        elif _STREAM_TAG in message or (
            guarded.at_end and isinstance(exc.lineno, int) and exc.lineno >= guarded.lines
        ):
            message = f"the file ends in the middle of the XML: it is truncated ({message})"
        yield ReaderItem(
            source,
            reader.index,
            f"line {line}",
            error=f"XML cannot be read past line {line}: {message}",
            fatal=True,
        )
    else:
        if not guarded.content_seen:
            yield ReaderItem(
                source,
                reader.index,
                "document",
                error="the file is empty: it holds no XML",
                fatal=True,
            )
    if on_bytes is not None:
        on_bytes(guarded.bytes_read)


_NUMERIC_NAME = re.compile(r"^\d{1,19}$")


def read_xml(path: Path, *, on_bytes: Callable[[int], None] | None = None) -> Iterator[ReaderItem]:
    """Read one CyberTipline XML file (see :func:`read_xml_stream`)."""
    name_id = path.stem if _NUMERIC_NAME.match(path.stem) else None
    with path.open("rb") as fh:
        yield from read_xml_stream(fh, str(path), name_id=name_id, on_bytes=on_bytes)

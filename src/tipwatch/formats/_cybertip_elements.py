"""CyberTipline XML elements to the fields of tipwatch's models.

Each element type has a *spec*: child tag -> (field name, rule). Conversion walks the children
that are present (not every field that might be), so its cost follows the size of the input.
Children and attributes without a rule are kept verbatim in the result's ``extra``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from lxml import etree

from tipwatch.errors import RecordError
from tipwatch.models import (
    FileAnnotation,
    Flag,
    InternetDetailKind,
    ReportAnnotation,
    normalise_hash_type,
)

__all__ = [
    "MAX_UNKNOWN_DEPTH",
    "derive_report_id",
    "file_details_fields",
    "local_name",
    "report_fields",
]

MAX_UNKNOWN_DEPTH = 24
"""Nesting depth to which an element tipwatch does not model is kept as a nested mapping;
deeper, the element is kept as its XML text (the parser itself bounds the document's depth)."""

Converter = Callable[[Any], Any]
Rule = str | tuple[str, Converter]
"""``"text"``, ``"texts"``, ``"bool"``, ``("one", convert)`` or ``("many", convert)``."""


def local_name(tag: Any) -> str:
    """The element's name without its namespace ('' for comments and the like)."""
    if type(tag) is not str:
        return ""
    return tag.rpartition("}")[2] if tag[:1] == "{" else tag


def _text(el: Any) -> str | None:
    text = el.text
    if text is None:
        return None
    text = text.strip()
    return text or None


def _parse_bool(text: str | None, where: str) -> bool | None:
    if text is None:
        return None
    low = text.strip().lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    if not low:
        return None
    raise RecordError(f"<{where}> must be true or false, got {text[:40]!r}")


def _generic(el: Any, depth: int = 0) -> Any:
    """An element the model does not know, kept as text or a nested mapping."""
    if depth > MAX_UNKNOWN_DEPTH:
        # Legal, and kept whole, but as text: the record's JSON stays shallow.
        return etree.tostring(el, encoding="unicode", with_tail=False)
    children = [c for c in el if type(c.tag) is str]
    if not children and not el.attrib:
        return _text(el)
    out: dict[str, Any] = {f"@{local_name(k)}": v for k, v in el.attrib.items()}
    for child in children:
        _put(out, local_name(child.tag), _generic(child, depth + 1))
    text = _text(el)
    if text is not None:
        out["#text"] = text
    return out


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    """Add ``value`` under ``key``; a repeated key becomes a list."""
    if key not in out:
        out[key] = value
    elif isinstance(out[key], list):
        out[key].append(value)
    else:
        out[key] = [out[key], value]


def _convert(
    el: Any,
    spec: dict[str, tuple[str, Rule]],
    attrs: dict[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Convert ``el`` by ``spec``; unknown children and attributes go to ``extra``."""
    out: dict[str, Any] = {}
    extra: dict[str, Any] | None = None
    for child in el:
        tag = child.tag
        if type(tag) is not str:
            continue
        if tag[:1] == "{":
            tag = tag.rpartition("}")[2]
        entry = spec.get(tag)
        if entry is None:
            if extra is None:
                extra = {}
            _put(extra, tag, _generic(child))
            continue
        name, rule = entry
        if rule == "text":
            if name not in out:
                text = child.text
                if text is not None:
                    text = text.strip()
                    if text:
                        out[name] = text
        elif rule == "texts":
            text = child.text
            if text is not None:
                text = text.strip()
                if text:
                    out.setdefault(name, []).append(text)
        elif rule == "bool":
            flag = _parse_bool(child.text, tag)
            if flag is not None:
                out[name] = flag
        elif isinstance(rule, tuple):
            kind, convert = rule
            if kind == "many":
                out.setdefault(name, []).append(convert(child))
            elif name not in out:
                out[name] = convert(child)
    attributes = el.items()
    if attributes:
        for key, value in attributes:
            attr = local_name(key)
            rule_for_attr = attrs.get(attr) if attrs else None
            if rule_for_attr is None:
                if extra is None:
                    extra = {}
                extra[f"@{attr}"] = value
            elif rule_for_attr[1] == "bool":
                flag = _parse_bool(value, f"@{attr}")
                if flag is not None:
                    out[rule_for_attr[0]] = flag
            elif value.strip():
                out[rule_for_attr[0]] = value.strip()
    if extra:
        out["extra"] = extra
    return out


def _with_text(field: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    def add(out: dict[str, Any], el: Any) -> dict[str, Any]:
        out[field] = _text(el) or ""
        return out

    return add


_ADD_ADDRESS = _with_text("address")
_ADD_NUMBER = _with_text("number")

_EMAIL_ATTRS = {
    "type": ("type", "text"),
    "verified": ("verified", "bool"),
    "verificationDate": ("verification_date", "text"),
}
_PHONE_ATTRS = {
    "type": ("type", "text"),
    "verified": ("verified", "bool"),
    "verificationDate": ("verification_date", "text"),
    "countryCallingCode": ("country_calling_code", "text"),
    "extension": ("extension", "text"),
}


def _email(el: Any) -> dict[str, Any]:
    return _ADD_ADDRESS(_convert(el, {}, _EMAIL_ATTRS), el)


def _phone(el: Any) -> dict[str, Any]:
    out = _ADD_NUMBER(_convert(el, {}, _PHONE_ATTRS), el)
    if "verification_date" in out:
        out.setdefault("extra", {})["@verificationDate"] = out.pop("verification_date")
    return out


_ADDRESS_SPEC: dict[str, tuple[str, Rule]] = {
    "address": ("street", "text"),
    "city": ("city", "text"),
    "zipCode": ("zip_code", "text"),
    "state": ("state", "text"),
    "nonUsaState": ("non_usa_state", "text"),
    "country": ("country", "text"),
}


def _address(el: Any) -> dict[str, Any]:
    return _convert(el, _ADDRESS_SPEC, {"type": ("type", "text")})


_PERSON_SPEC: dict[str, tuple[str, Rule]] = {
    "firstName": ("first_name", "text"),
    "lastName": ("last_name", "text"),
    "phone": ("phones", ("many", _phone)),
    "email": ("emails", ("many", _email)),
    "address": ("addresses", ("many", _address)),
    "age": ("age", "text"),
    "dateOfBirth": ("date_of_birth", "text"),
}


def _person(el: Any) -> dict[str, Any]:
    return _convert(el, _PERSON_SPEC)


_IP_SPEC: dict[str, tuple[str, Rule]] = {
    "ipAddress": ("ip_address", "text"),
    "eventName": ("event_name", "text"),
    "dateTime": ("date_time", "text"),
    "possibleProxy": ("possible_proxy", "bool"),
    "port": ("port", "text"),
}


def _ip_event(el: Any) -> dict[str, Any]:
    out = _convert(el, _IP_SPEC)
    out.setdefault("ip_address", "")
    return out


_DEVICE_SPEC: dict[str, tuple[str, Rule]] = {
    "idType": ("id_type", "text"),
    "idValue": ("id_value", "text"),
    "eventName": ("event_name", "text"),
    "dateTime": ("date_time", "text"),
}


def _device(el: Any) -> dict[str, Any]:
    out = _convert(el, _DEVICE_SPEC)
    out.setdefault("id_type", "")
    out.setdefault("id_value", "")
    return out


_LOCATION_SPEC: dict[str, tuple[str, Rule]] = {
    "city": ("city", "text"),
    "region": ("region", "text"),
    "countryCode": ("country_code", "text"),
}
_LOCATION_ATTRS = {"verified": ("verified", "bool"), "timestamp": ("timestamp", "text")}


def _location(el: Any) -> dict[str, Any]:
    return _convert(el, _LOCATION_SPEC, _LOCATION_ATTRS)


_ASSOCIATED_SPEC: dict[str, tuple[str, Rule]] = {
    "platform": ("platform", "text"),
    "espService": ("esp_service", "text"),
    "espIdentifier": ("esp_identifier", "text"),
    "screenName": ("screen_name", "text"),
    "displayName": ("display_names", "texts"),
    "profileUrl": ("profile_urls", "texts"),
    "email": ("emails", ("many", _email)),
    "phone": ("phones", ("many", _phone)),
    "ipCaptureEvent": ("ip_events", ("many", _ip_event)),
}


def _associated(el: Any) -> dict[str, Any]:
    return _convert(el, _ASSOCIATED_SPEC, {"type": ("type", "text")})


_PARTY_SPEC: dict[str, tuple[str, Rule]] = {
    "personOrUserReportedPerson": ("person", ("one", _person)),
    "intendedRecipientPerson": ("person", ("one", _person)),
    "victimPerson": ("person", ("one", _person)),
    "espIdentifier": ("esp_identifier", "text"),
    "espService": ("esp_service", "text"),
    "screenName": ("screen_name", "text"),
    "displayName": ("display_names", "texts"),
    "profileUrl": ("profile_urls", "texts"),
    "profileBio": ("profile_bio", "text"),
    "compromisedAccount": ("compromised_account", "bool"),
    "thirdPartyUserReported": ("third_party_user", "bool"),
    "ipCaptureEvent": ("ip_events", ("many", _ip_event)),
    "deviceId": ("device_ids", ("many", _device)),
    "priorCTReports": ("prior_reports", "texts"),
    "groupIdentifier": ("group_identifier", "text"),
    "accountTemporarilyDisabled": ("account_temporarily_disabled", "bool"),
    "accountPermanentlyDisabled": ("account_permanently_disabled", "bool"),
    "estimatedLocation": ("estimated_location", ("one", _location)),
    "allEmailsReported": ("all_emails_reported", "bool"),
    "associatedAccount": ("associated_accounts", ("many", _associated)),
    "vehicleDescription": ("vehicle_description", "text"),
    "schoolName": ("school_name", "text"),
    "additionalInfo": ("additional_info", "texts"),
}


def _party(el: Any) -> dict[str, Any]:
    out = _convert(el, _PARTY_SPEC)
    info = out.get("additional_info")
    if info is not None:
        out["additional_info"] = "\n".join(info)
    return out


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
_INCIDENT_SPEC: dict[str, tuple[str, Rule]] = {
    "url": ("urls", "texts"),
    "emailAddress": ("emails", ("many", _email)),
    "name": ("newsgroup", "text"),
    "content": ("content", "text"),
    "chatClient": ("chat_client", "text"),
    "chatRoomName": ("chat_room", "text"),
    "gameName": ("game_name", "text"),
    "console": ("console", "text"),
    "phoneNumber": ("phone", ("one", _phone)),
    "latitude": ("latitude", "text"),
    "longitude": ("longitude", "text"),
    "locationName": ("location_name", "text"),
    "incidentAddress": ("addresses", ("many", _address)),
    "client": ("p2p_client", "text"),
    "ipCaptureEvent": ("ip_events", ("many", _ip_event)),
    "fileNames": ("file_names", "text"),
    "additionalInfo": ("additional_info", "text"),
}
_INCIDENT_ATTRS = {"thirdPartyHostedContent": ("third_party_hosted", "bool")}


def _internet_details(el: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for child in el:
        tag = local_name(child.tag)
        if not tag:
            continue
        kind = _INCIDENT_KINDS.get(tag)
        if kind is None:
            raise RecordError(f"<internetDetails> holds unknown incident kind <{tag}>")
        detail = _convert(child, _INCIDENT_SPEC, _INCIDENT_ATTRS)
        detail["kind"] = kind.value
        out.append(detail)
    return out


_REPORT_FLAGS = frozenset(a.value for a in ReportAnnotation)
_FILE_FLAGS = frozenset(a.value for a in FileAnnotation)


def _flags(el: Any, known: frozenset[str]) -> tuple[list[str], dict[str, Any]]:
    """Presence flags (``<sextortion/>``): the names set, and unknown ones for ``extra``."""
    names: list[str] = []
    extra: dict[str, Any] = {}
    for child in el:
        tag = local_name(child.tag)
        if not tag:
            continue
        if tag in known:
            if _parse_bool(child.text, tag) is not False:
                names.append(tag)
        else:
            extra[tag] = _generic(child)
    return names, extra


def _annotations(key: str, known: frozenset[str]) -> Converter:
    def convert(el: Any) -> Any:
        return _flags(el, known)

    convert.__name__ = f"_annotations_{key}"
    return convert


_SUMMARY_SPEC: dict[str, tuple[str, Rule]] = {
    "incidentType": ("incident_type", "text"),
    "platform": ("platform", "text"),
    "escalateToHighPriority": ("escalation_reason", "text"),
    "reportAnnotations": ("report_annotations", ("one", _annotations("report", _REPORT_FLAGS))),
    "incidentDateTime": ("incident_time", "text"),
    "incidentDateTimeDescription": ("incident_time_description", "text"),
}

_LAW_SPEC: dict[str, tuple[str, Rule]] = {
    "agencyName": ("agency_name", "text"),
    "caseNumber": ("case_number", "text"),
    "reportedToLe": ("reported_to_le", "bool"),
    "servedLegalProcessDomestic": ("served_legal_process_domestic", "bool"),
    "servedLegalProcessInternational": ("_intl", ("one", lambda el: el)),
}


def _law(el: Any) -> dict[str, Any]:
    out = _convert(el, _LAW_SPEC)
    intl = out.pop("_intl", None)
    if intl is not None:
        flag = _parse_bool(intl.text, "servedLegalProcessInternational")
        if flag is not None:
            out["served_legal_process_international"] = flag
        if intl.get("fleaCountry"):
            out["foreign_le_country"] = intl.get("fleaCountry")
    return out


_REPORTER_SPEC: dict[str, tuple[str, Rule]] = {
    "reportingPerson": ("reporting_person", ("one", _person)),
    "contactPerson": ("contact_person", ("one", _person)),
    "companyTemplate": ("company_template", "text"),
    "termsOfService": ("terms_of_service", "text"),
    "legalURL": ("legal_url", "text"),
}


def _reporter(el: Any) -> dict[str, Any]:
    return _convert(el, _REPORTER_SPEC)


def _batched(el: Any) -> Any:
    return el.get("reason") or None


_REPORT_SPEC: dict[str, tuple[str, Rule]] = {
    "batchedReport": ("batched_reason", ("one", _batched)),
    "incidentSummary": ("_summary", ("one", lambda el: _convert(el, _SUMMARY_SPEC))),
    "internetDetails": ("_details", ("many", _internet_details)),
    "lawEnforcement": ("law_enforcement", ("one", _law)),
    "reporter": ("reporter", ("one", _reporter)),
    "personOrUserReported": ("reported", ("many", _party)),
    "intendedRecipient": ("intended_recipients", ("many", _party)),
    "victim": ("victims", ("many", _party)),
    "additionalInfo": ("additional_info", "text"),
}


def report_fields(el: Any) -> dict[str, Any]:
    """The fields of a :class:`~tipwatch.models.Referral` from a ``<report>`` element."""
    out = _convert(el, _REPORT_SPEC)
    summary = out.pop("_summary", None)
    if summary is None:
        raise RecordError("<report> has no <incidentSummary>")
    annotations = summary.pop("report_annotations", None)
    if annotations is not None:
        names, unknown = annotations
        if names:
            summary["report_annotations"] = names
        if unknown:
            summary.setdefault("extra", {})["reportAnnotations"] = unknown
    summary_extra = summary.pop("extra", None)
    if summary_extra:
        out.setdefault("extra", {})["incidentSummary"] = summary_extra
    if "incident_type" not in summary:
        raise RecordError("<incidentSummary> has no <incidentType>")
    if "incident_time" not in summary:
        raise RecordError("<incidentSummary> has no <incidentDateTime>")
    out.update(summary)
    details = out.pop("_details", None)
    if details:
        out["internet_details"] = [d for group in details for d in group]
    if out.get("batched_reason") is None:
        out.pop("batched_reason", None)
    return out


def _file_annotations(el: Any) -> Any:
    return _flags(el, _FILE_FLAGS)


def _hash(el: Any) -> tuple[str, str]:
    kind = el.get("hashType")
    value = _text(el)
    if not kind or value is None:
        raise RecordError("<originalFileHash> needs a hashType attribute and a value")
    return normalise_hash_type(kind), value


def _details(el: Any) -> list[dict[str, Any]]:
    kind = el.get("type")
    pairs: list[dict[str, Any]] = []
    for pair in el:
        if not local_name(pair.tag):
            continue
        fields = _convert(pair, {"name": ("name", "text"), "value": ("value", "text")})
        fields.setdefault("name", "")
        if kind:
            fields["type"] = kind
        pairs.append(fields)
    return pairs


_FILE_SPEC: dict[str, tuple[str, Rule]] = {
    "reportId": ("_report_id", "text"),
    "fileId": ("file_id", "text"),
    "fileName": ("file_name", "text"),
    "originalFileName": ("original_file_name", "text"),
    "uploadedToEspTimestamp": ("uploaded_at", "text"),
    "locationOfFile": ("location_of_file", "text"),
    "fileViewedByEsp": ("viewed_by_service", "bool"),
    "exifViewedByEsp": ("exif_viewed_by_service", "bool"),
    "publiclyAvailable": ("publicly_available", "bool"),
    "fileRelevance": ("relevance", "text"),
    "potentialMeme": ("_potential_meme", "bool"),
    "fileAnnotations": ("_annotations", ("one", _file_annotations)),
    "industryClassification": ("industry_classification", "text"),
    "originalFileHash": ("_hashes", ("many", _hash)),
    "ipCaptureEvent": ("upload_ip", ("one", _ip_event)),
    "deviceId": ("device_ids", ("many", _device)),
    "details": ("_details", ("many", _details)),
    "additionalInfo": ("additional_info", "texts"),
}
_SIZE_NAMES = frozenset({"filesize", "file size", "size"})


def file_details_fields(el: Any) -> tuple[str | None, dict[str, Any]]:
    """A ``<fileDetails>`` element: its ``reportId`` and the fields of a MediaFile."""
    out = _convert(el, _FILE_SPEC)
    report_id = out.pop("_report_id", None)
    out.setdefault("file_id", "")
    for flag in ("viewed_by_service", "exif_viewed_by_service", "publicly_available"):
        if flag in out:
            out[flag] = Flag.from_bool(out[flag]).value
    hashes: dict[str, str] = dict(out.pop("_hashes", ()))
    annotations: list[str] = []
    annotated = out.pop("_annotations", None)
    if annotated is not None:
        annotations, unknown = annotated
        if unknown:
            out.setdefault("extra", {})["fileAnnotations"] = unknown
    if out.pop("_potential_meme", False):
        annotations.append(FileAnnotation.POTENTIAL_MEME.value)
    if annotations:
        out["annotations"] = annotations
    groups = out.pop("_details", None)
    if groups:
        pairs = [p for group in groups for p in group]
        out["details"] = pairs
        for p in pairs:
            name, value = p["name"], p.get("value")
            if not value:
                continue
            if name.lower() in _SIZE_NAMES and value.isdigit():
                out.setdefault("size", value)
            if p.get("type") == "HASH" and name:
                hashes.setdefault(normalise_hash_type(name), value)
    if hashes:
        out["hashes"] = hashes
    return report_id, out


def derive_report_id(referral_fields: dict[str, Any]) -> str:
    """A stable id for a report that came without one: a hash of its content."""
    body = json.dumps(referral_fields, sort_keys=True, separators=(",", ":"), default=str)
    return "auto-" + hashlib.sha256(body.encode()).hexdigest()[:20]

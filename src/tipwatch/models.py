"""Domain types of tipwatch.

A :class:`Referral` is modelled on the NCMEC CyberTipline report (the ``<report>`` element of
``cyber_tipline.xsd``) together with the per-file ``<fileDetails>`` documents that belong to it.
Its JSON form (``Referral.model_dump_json()``) is the project's *canonical form*: the JSON Lines
reader reads it, the store keeps it, exports write it, and ``docs/referral.schema.json`` is
generated from these classes.

Two rules shape the classes:

* nothing the sender wrote is lost: every model has an ``extra`` mapping that keeps fields the
  model does not know, verbatim;
* "not stated" is kept apart from "no": the legally important per-file flags
  (viewed by the service, publicly available) are a :class:`Flag` with an explicit ``unknown``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Self, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "MAX_NESTING",
    "Address",
    "AssociatedAccount",
    "BatchReason",
    "DeviceId",
    "Email",
    "EstimatedLocation",
    "FileAnnotation",
    "FileDetail",
    "FileRelevance",
    "Flag",
    "IPCaptureEvent",
    "IPEventName",
    "IncidentType",
    "IndustryClassification",
    "InternetDetail",
    "InternetDetailKind",
    "LawEnforcement",
    "MediaFile",
    "Party",
    "Person",
    "Phone",
    "Referral",
    "ReportAnnotation",
    "Reporter",
    "SuppliedGeolocation",
    "lift_unknown_fields",
    "normalise_hash_type",
    "normalise_hash_value",
]


class IncidentType(StrEnum):
    """The eight CyberTipline incident types, spelled as in the schema."""

    CHILD_PORNOGRAPHY = "Child Pornography (possession, manufacture, and distribution)"
    CHILD_SEX_TRAFFICKING = "Child Sex Trafficking"
    CHILD_SEX_TOURISM = "Child Sex Tourism"
    CHILD_SEXUAL_MOLESTATION = "Child Sexual Molestation"
    MISLEADING_DOMAIN_NAME = "Misleading Domain Name"
    MISLEADING_WORDS_OR_IMAGES = "Misleading Words or Digital Images on the Internet"
    ONLINE_ENTICEMENT = "Online Enticement of Children for Sexual Acts"
    UNSOLICITED_OBSCENE_MATERIAL = "Unsolicited Obscene Material Sent to a Child"

    @property
    def slug(self) -> str:
        """A short name for command lines: ``child-pornography``, ``online-enticement`` ..."""
        return self.name.lower().replace("_", "-")

    @classmethod
    def parse(cls, text: str) -> IncidentType:
        """Accept the full schema spelling (any case) or the short name."""
        exact = cls._value2member_map_.get(text)
        if exact is not None:
            return exact  # type: ignore[return-value]
        wanted = text.strip().lower()
        for member in cls:
            if wanted in (member.value.lower(), member.slug, member.name.lower()):
                return member
        names = ", ".join(m.slug for m in cls)
        raise ValueError(
            f"unknown incident type {text[:100]!r}: expected one of the eight CyberTipline "
            f"incident types, spelled in full or as {names}"
        )


class ReportAnnotation(StrEnum):
    SEXTORTION = "sextortion"
    CSAM_SOLICITATION = "csamSolicitation"
    MINOR_TO_MINOR_INTERACTION = "minorToMinorInteraction"
    SPAM = "spam"
    SADISTIC_ONLINE_EXPLOITATION = "sadisticOnlineExploitation"


class FileAnnotation(StrEnum):
    ANIME_DRAWING_VIRTUAL_HENTAI = "animeDrawingVirtualHentai"
    POTENTIAL_MEME = "potentialMeme"
    VIRAL = "viral"
    POSSIBLE_SELF_PRODUCTION = "possibleSelfProduction"
    PHYSICAL_HARM = "physicalHarm"
    VIOLENCE_GORE = "violenceGore"
    BESTIALITY = "bestiality"
    LIVE_STREAMING = "liveStreaming"
    INFANT = "infant"
    GENERATIVE_AI = "generativeAi"


class BatchReason(StrEnum):
    VIRAL_POTENTIAL_MEME = "VIRAL_POTENTIAL_MEME"


class IPEventName(StrEnum):
    LOGIN = "Login"
    REGISTRATION = "Registration"
    PURCHASE = "Purchase"
    UPLOAD = "Upload"
    OTHER = "Other"
    UNKNOWN = "Unknown"


class IndustryClassification(StrEnum):
    """Industry scale: letter = apparent age (A prepubescent, B pubescent), digit = rank."""

    A1 = "A1"
    A2 = "A2"
    B1 = "B1"
    B2 = "B2"


class FileRelevance(StrEnum):
    REPORTED = "Reported"
    SUPPLEMENTAL_REPORTED = "Supplemental Reported"


class Flag(StrEnum):
    """A yes/no fact that the sender may also have left unstated."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"

    @classmethod
    def from_bool(cls, value: bool | None) -> Flag:
        if value is None:
            return cls.UNKNOWN
        return cls.YES if value else cls.NO


class InternetDetailKind(StrEnum):
    WEB_PAGE = "web_page"
    EMAIL = "email"
    NEWSGROUP = "newsgroup"
    CHAT_IM = "chat_im"
    ONLINE_GAMING = "online_gaming"
    CELL_PHONE = "cell_phone"
    NON_INTERNET = "non_internet"
    PEER_TO_PEER = "peer_to_peer"


_HEX = re.compile(r"^[0-9a-f]+$")
_HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64}
_HASH_ALIASES = {
    "md5": "md5",
    "sha1": "sha1",
    "sha-1": "sha1",
    "sha256": "sha256",
    "sha-256": "sha256",
    "pdq": "pdq",
}


def normalise_hash_type(name: str) -> str:
    """Map a sender's hash type name to tipwatch's key (``MD5`` -> ``md5``, ``SHA-1`` -> ``sha1``).

    Types tipwatch does not know (PhotoDNA, vendor hashes) are kept verbatim.
    """
    known = _HASH_TYPE_CACHE.get(name)
    if known is not None:
        return known
    key = name.strip()
    result = _HASH_ALIASES.get(key.lower(), key)
    if len(_HASH_TYPE_CACHE) < 1000:
        _HASH_TYPE_CACHE[name] = result
    return result


_HASH_TYPE_CACHE: dict[str, str] = {}


def normalise_hash_value(algorithm: str, value: str) -> str:
    """Lower-case hex for MD5, SHA-1, SHA-256 and PDQ (length and digits checked); other
    types verbatim (but not empty). Raises ``ValueError`` naming the problem."""
    text = value.strip()
    if algorithm in _HASH_LENGTHS:
        text = text.lower()
        if len(text) != _HASH_LENGTHS[algorithm] or not _HEX.match(text):
            raise ValueError(
                f"{algorithm} hash must be {_HASH_LENGTHS[algorithm]} hexadecimal characters, "
                f"got {value[:80]!r}"
            )
    elif not text:
        raise ValueError(f"empty {algorithm} hash")
    return text


def _utc(value: datetime) -> datetime:
    """Times without a zone are taken as UTC; all times are kept in UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00+01:00 is in year 0 once in UTC: not a time tipwatch can keep.
        raise ValueError(
            f"{value.isoformat()} is outside the years 1 to 9999 once converted to UTC"
        ) from None


MAX_NESTING = 200
"""The deepest nesting of a record's unknown fields (``extra``), in levels of objects and
arrays. Deeper records are refused: the store's JSON writer stops at 255 levels in all."""


def _nests_deeper_than(value: Any, limit: int) -> bool:
    """True when ``value`` holds objects or arrays nested more than ``limit`` levels deep."""
    # Iterative: a value nested thousands of levels deep must not exhaust the call stack.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
"""A datetime kept in UTC; a time without a zone is taken as UTC."""


class _Model(BaseModel):
    """Base of the domain models.

    Fields a model does not know are refused by validation itself; the readers move them into
    ``extra`` first (:meth:`from_data` does that for any mapping), so nothing is dropped.
    """

    model_config = ConfigDict(extra="forbid", use_enum_values=False, str_strip_whitespace=True)

    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="Fields the sender wrote that tipwatch does not model, kept verbatim.",
    )

    @field_validator("extra")
    @classmethod
    def _bounded_nesting(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value and _nests_deeper_than(value, MAX_NESTING):
            raise ValueError(f"unknown fields nested more than {MAX_NESTING} levels deep")
        return value

    @classmethod
    def from_data(cls, data: Any) -> Self:
        """Validate a mapping, keeping unknown fields (at any depth) in ``extra``."""
        return cls.model_validate(lift_unknown_fields(data, cls))


def _model_in(annotation: Any) -> type[_Model] | None:
    """The model class inside ``X``, ``list[X]`` or ``X | None``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, _Model):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


_NESTED: dict[type[_Model], dict[str, type[_Model]]] = {}


def lift_unknown_fields(data: Any, cls: type[_Model]) -> Any:
    """Move keys ``cls`` does not know into ``extra``, recursively through nested models."""
    if not isinstance(data, dict):
        return data
    nested = _NESTED.get(cls)
    if nested is None:
        nested = {}
        for name, info in cls.__pydantic_fields__.items():
            sub = _model_in(info.annotation)
            if sub is not None:
                nested[name] = sub
        _NESTED[cls] = nested
    known = cls.__pydantic_fields__
    out: dict[str, Any] = {}
    unknown: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            unknown[key] = value
            continue
        sub = nested.get(key)
        if sub is not None and value is not None:
            if isinstance(value, list):
                value = [lift_unknown_fields(v, sub) for v in value]
            else:
                value = lift_unknown_fields(value, sub)
        out[key] = value
    if unknown:
        extra = out.get("extra")
        out["extra"] = {**extra, **unknown} if isinstance(extra, dict) else unknown
    return out


class IPCaptureEvent(_Model):
    """An IP address seen by the service, with what happened and when."""

    ip_address: str = Field(min_length=1, max_length=100)
    event_name: IPEventName | None = None
    date_time: UtcDatetime | None = None
    possible_proxy: bool | None = None
    port: int | None = Field(default=None, ge=0, le=65535)


class EstimatedLocation(_Model):
    city: str | None = None
    region: str | None = None
    country_code: str | None = Field(default=None, max_length=3)
    verified: bool | None = None
    timestamp: UtcDatetime | None = None


class SuppliedGeolocation(_Model):
    """A location the sender (for example NCMEC's Section B) already attached to the referral."""

    country_code: str | None = Field(default=None, max_length=3)
    region: str | None = None
    city: str | None = None
    isp: str | None = None
    source: str | None = None


class Address(_Model):
    type: str | None = None
    street: str | None = None
    city: str | None = None
    zip_code: str | None = None
    state: str | None = None
    non_usa_state: str | None = None
    country: str | None = Field(default=None, max_length=3)


class Email(_Model):
    address: str
    type: str | None = None
    verified: bool | None = None
    verification_date: UtcDatetime | None = None


class Phone(_Model):
    number: str
    type: str | None = None
    verified: bool | None = None
    country_calling_code: str | None = None
    extension: str | None = None


class Person(_Model):
    first_name: str | None = None
    last_name: str | None = None
    phones: list[Phone] = Field(default_factory=list)
    emails: list[Email] = Field(default_factory=list)
    addresses: list[Address] = Field(default_factory=list)
    age: int | None = Field(default=None, ge=0, le=150)
    date_of_birth: date | None = None


class DeviceId(_Model):
    id_type: str
    id_value: str
    event_name: IPEventName | None = None
    date_time: UtcDatetime | None = None


class AssociatedAccount(_Model):
    type: str | None = None
    platform: str | None = None
    esp_service: str | None = None
    esp_identifier: str | None = None
    screen_name: str | None = None
    display_names: list[str] = Field(default_factory=list)
    profile_urls: list[str] = Field(default_factory=list)
    emails: list[Email] = Field(default_factory=list)
    phones: list[Phone] = Field(default_factory=list)
    ip_events: list[IPCaptureEvent] = Field(default_factory=list)


class Party(_Model):
    """A reported person or account, an intended recipient, or a victim (in outline)."""

    person: Person | None = None
    esp_identifier: str | None = None
    esp_service: str | None = None
    screen_name: str | None = None
    display_names: list[str] = Field(default_factory=list)
    profile_urls: list[str] = Field(default_factory=list)
    profile_bio: str | None = None
    compromised_account: bool | None = None
    third_party_user: bool | None = None
    ip_events: list[IPCaptureEvent] = Field(default_factory=list)
    device_ids: list[DeviceId] = Field(default_factory=list)
    prior_reports: list[str] = Field(default_factory=list)
    group_identifier: str | None = None
    account_temporarily_disabled: bool | None = None
    account_permanently_disabled: bool | None = None
    estimated_location: EstimatedLocation | None = None
    all_emails_reported: bool | None = None
    associated_accounts: list[AssociatedAccount] = Field(default_factory=list)
    vehicle_description: str | None = None
    school_name: str | None = None
    additional_info: str | None = None


class InternetDetail(_Model):
    """Where the incident happened online; ``kind`` says which of the schema's choices it is."""

    kind: InternetDetailKind
    urls: list[str] = Field(default_factory=list)
    third_party_hosted: bool | None = None
    emails: list[Email] = Field(default_factory=list)
    newsgroup: str | None = None
    content: str | None = None
    chat_client: str | None = None
    chat_room: str | None = None
    game_name: str | None = None
    console: str | None = None
    phone: Phone | None = None
    latitude: float | None = None
    longitude: float | None = None
    location_name: str | None = None
    addresses: list[Address] = Field(default_factory=list)
    p2p_client: str | None = None
    ip_events: list[IPCaptureEvent] = Field(default_factory=list)
    file_names: str | None = None
    additional_info: str | None = None


class LawEnforcement(_Model):
    agency_name: str | None = None
    case_number: str | None = None
    reported_to_le: bool | None = None
    served_legal_process_domestic: bool | None = None
    served_legal_process_international: bool | None = None
    foreign_le_country: str | None = None


class Reporter(_Model):
    reporting_person: Person | None = None
    contact_person: Person | None = None
    company_template: str | None = None
    terms_of_service: str | None = None
    legal_url: str | None = None


class FileDetail(_Model):
    """One ``name=value`` pair of a file's EXIF or HASH details."""

    type: str | None = None
    name: str
    value: str | None = None


class MediaFile(_Model):
    """What a referral says about one file. tipwatch stores this metadata, never the media."""

    file_id: str = Field(min_length=1, max_length=200)
    file_name: str | None = None
    original_file_name: str | None = None
    size: int | None = Field(default=None, ge=0)
    uploaded_at: UtcDatetime | None = None
    location_of_file: str | None = None
    hashes: dict[str, str] = Field(
        default_factory=dict,
        description="Hashes by type: md5, sha1, sha256, pdq (lower-case hex); others verbatim.",
    )
    viewed_by_service: Flag = Flag.UNKNOWN
    exif_viewed_by_service: Flag = Flag.UNKNOWN
    publicly_available: Flag = Flag.UNKNOWN
    relevance: FileRelevance | None = None
    industry_classification: IndustryClassification | None = None
    annotations: list[FileAnnotation] = Field(default_factory=list)
    upload_ip: IPCaptureEvent | None = None
    device_ids: list[DeviceId] = Field(default_factory=list)
    details: list[FileDetail] = Field(default_factory=list)
    additional_info: list[str] = Field(default_factory=list)

    @field_validator("hashes", mode="before")
    @classmethod
    def _normalise_hashes(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, str] = {}
        for raw_type, raw_value in value.items():
            if not isinstance(raw_value, str):
                raise ValueError(f"hash {raw_type!r} must be a string, got {raw_value!r}")
            key = normalise_hash_type(str(raw_type))
            out[key] = normalise_hash_value(key, raw_value)
        return out

    @field_validator("annotations")
    @classmethod
    def _sorted_annotations(cls, value: list[FileAnnotation]) -> list[FileAnnotation]:
        return sorted(set(value))


class Referral(_Model):
    """One referral: a CyberTipline-style report with its files."""

    report_id: str = Field(min_length=1, max_length=128)
    source: str | None = Field(default=None, description="Who sent it (e.g. NCMEC, an ESP).")
    received_at: UtcDatetime | None = Field(
        default=None, description="When tipwatch's user received it (UTC)."
    )
    incident_type: IncidentType
    incident_time: UtcDatetime
    incident_time_description: str | None = None
    platform: str | None = None
    escalation_reason: str | None = Field(
        default=None, description="Sender's reason to escalate to high priority (imminent risk)."
    )
    report_annotations: list[ReportAnnotation] = Field(default_factory=list)
    batched_reason: BatchReason | None = Field(
        default=None, description="Set when one report stands for many similar ones (viral)."
    )
    internet_details: list[InternetDetail] = Field(default_factory=list)
    law_enforcement: LawEnforcement | None = None
    reporter: Reporter | None = None
    reported: list[Party] = Field(default_factory=list)
    intended_recipients: list[Party] = Field(default_factory=list)
    victims: list[Party] = Field(default_factory=list)
    supplied_geolocation: SuppliedGeolocation | None = None
    files: list[MediaFile] = Field(default_factory=list)
    additional_info: str | None = None

    @field_validator("incident_type", mode="before")
    @classmethod
    def _parse_incident_type(cls, value: Any) -> Any:
        if isinstance(value, str) and not isinstance(value, IncidentType):
            return IncidentType.parse(value)
        return value

    @field_validator("report_annotations")
    @classmethod
    def _sorted_report_annotations(cls, value: list[ReportAnnotation]) -> list[ReportAnnotation]:
        return sorted(set(value))

    @property
    def stated_country(self) -> str | None:
        """The country the referral itself states: a supplied geolocation, else an estimate.

        This is what the sender wrote, not tipwatch's attribution.
        """
        if self.supplied_geolocation and self.supplied_geolocation.country_code:
            return self.supplied_geolocation.country_code.upper()
        for party in self.reported:
            loc = party.estimated_location
            if loc and loc.country_code:
                return loc.country_code.upper()
        return None

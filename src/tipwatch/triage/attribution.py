"""Country attribution: which country a referral belongs to, with the evidence and a confidence.

Evidence is gathered from the referral in this order of precedence (``../docs/triage.md``):

1. ``supplied``: a geolocation the sender already attached (e.g. NCMEC's Section B);
2. ``file_upload_ip``: geolocation of the Upload IP events of its files;
3. ``account_upload_ip``: the reported accounts' Upload IP events;
4. ``estimated_verified`` then ``estimated_unverified``: the accounts' estimated location;
5. ``address``: countries in the reported persons' addresses;
6. ``login_ip``: Login and Registration IP events;
7. ``other_ip``: IP events of any other kind;

and otherwise the country is unknown. The first level with a usable country decides; a vote
decides inside a level. Possible-proxy flags, pseudo-codes (A1, A2, O1, EU, AP), disagreement
inside the deciding level and disagreement from lower levels lower the confidence, and each is
named in ``warnings``. Attribution reads the canonical JSON form (plain dicts), so that a whole
store can be attributed without building models.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tipwatch.countries import normalise_country
from tipwatch.triage.geoip import REGISTERED_ONLY_NOTE, IPLocation

__all__ = [
    "LEVELS",
    "LEVEL_LABELS",
    "PROXY_DECIDED",
    "Attribution",
    "Evidence",
    "IPLocator",
    "attribute",
]

LEVELS: dict[str, float] = {
    "supplied": 0.95,
    "file_upload_ip": 0.9,
    "account_upload_ip": 0.85,
    "estimated_verified": 0.75,
    "estimated_unverified": 0.55,
    "address": 0.45,
    "login_ip": 0.4,
    "other_ip": 0.3,
}
"""Evidence levels in order of precedence, with the confidence of clean, agreeing evidence."""

LEVEL_LABELS: dict[str, str] = {
    "supplied": "geolocation supplied by the sender",
    "file_upload_ip": "files' upload IP",
    "account_upload_ip": "account's upload IP",
    "estimated_verified": "verified estimated location",
    "estimated_unverified": "unverified estimated location",
    "address": "address country",
    "login_ip": "login or registration IP",
    "other_ip": "other IP events",
}

PROXY_FACTOR = 0.6
PSEUDO_FACTOR = 0.85
REGISTERED_ONLY_FACTOR = 0.6
"""A GeoIP answer naming only the network's registered country (where the block is
registered, often a multinational's head office) says less than a located country."""
LOWER_DISAGREES_FACTOR = 0.85

PROXY_DECIDED = "the deciding evidence is a possible proxy"
"""The warning of an attribution whose deciding evidence is all possible proxies (a sender's
flag, or a GeoIP database's anonymous-proxy or satellite mark): the country is where the
proxy, VPN exit or hosting network is, perhaps not where the person is."""


class IPLocator(Protocol):
    def lookup(self, ip: str) -> IPLocation: ...


@dataclass(frozen=True, slots=True)
class Evidence:
    """One piece of location evidence."""

    level: str
    source: str
    """Where in the referral it was found, e.g. ``file f1 upload IP 192.0.2.10``."""
    country: str | None
    note: str | None = None
    proxy: bool = False


@dataclass(slots=True)
class Attribution:
    """The attributed country (or ``None``: unknown), how sure, and why."""

    country: str | None
    confidence: float
    level: str | None
    """The evidence level that decided, or ``None`` when unknown."""
    evidence: list[Evidence] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.country or "unknown"

    def explain(self) -> str:
        """One sentence: the country, the confidence and the deciding evidence."""
        if self.country is None:
            reason = self.warnings[0] if self.warnings else "no location evidence"
            return f"unknown: {reason}"
        used = [e.source for e in self.evidence if e.level == self.level and e.country]
        return f"{self.country} (confidence {self.confidence:.2f}) from {self.level}: " + "; ".join(
            used[:3]
        )

    def evidence_json(self) -> dict[str, Any]:
        items = []
        for e in self.evidence:
            item: dict[str, Any] = {"level": e.level, "source": e.source, "country": e.country}
            if e.note:
                item["note"] = e.note
            if e.proxy:
                item["proxy"] = True
            items.append(item)
        return {"evidence": items, "warnings": self.warnings}


def _ip_evidence(
    level: str, source: str, event: Mapping[str, Any], geo: IPLocator | None
) -> Evidence:
    ip = str(event.get("ip_address") or "")
    flagged = event.get("possible_proxy") is True
    if geo is None:
        return Evidence(level, f"{source} {ip}", None, "no GeoIP database loaded", flagged)
    loc = geo.lookup(ip)
    notes = [n for n in (loc.note, "sender flags a possible proxy" if flagged else None) if n]
    return Evidence(
        level,
        f"{source} {loc.ip}",
        loc.country,
        "; ".join(notes) or None,
        flagged or loc.proxy,
    )


def _code_evidence(level: str, source: str, code: Any) -> Evidence:
    country, why = normalise_country(None if code is None else str(code))
    return Evidence(level, f"{source} {code}", country, why)


def _parties(doc: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    for i, party in enumerate(doc.get("reported") or []):
        if isinstance(party, Mapping):
            name = party.get("esp_identifier") or party.get("screen_name") or f"#{i + 1}"
            yield f"account {name}", party


def gather_evidence(
    doc: Mapping[str, Any], files: Iterable[Mapping[str, Any]], geo: IPLocator | None
) -> list[Evidence]:
    """Every piece of location evidence in a referral, in precedence order."""
    out: list[Evidence] = []
    supplied = doc.get("supplied_geolocation")
    if isinstance(supplied, Mapping) and supplied.get("country_code"):
        by = supplied.get("source") or "sender"
        out.append(
            _code_evidence(
                "supplied", f"geolocation supplied by {by}:", supplied.get("country_code")
            )
        )
    for f in files:
        event = f.get("upload_ip")
        if isinstance(event, Mapping) and event.get("ip_address"):
            name = event.get("event_name")
            if name in (None, "Upload"):
                out.append(
                    _ip_evidence("file_upload_ip", f"file {f.get('file_id')} upload IP", event, geo)
                )
    parties = list(_parties(doc))
    by_level: dict[str, list[Evidence]] = {
        "account_upload_ip": [],
        "estimated_verified": [],
        "estimated_unverified": [],
        "address": [],
        "login_ip": [],
        "other_ip": [],
    }
    for label, party in parties:
        for event in party.get("ip_events") or []:
            if not isinstance(event, Mapping) or not event.get("ip_address"):
                continue
            name = event.get("event_name")
            if name == "Upload":
                level, what = "account_upload_ip", "upload IP"
            elif name in ("Login", "Registration"):
                level, what = "login_ip", f"{name.lower()} IP"
            else:
                level, what = "other_ip", f"{(name or 'unnamed').lower()} IP event"
            by_level[level].append(_ip_evidence(level, f"{label} {what}", event, geo))
        loc = party.get("estimated_location")
        if isinstance(loc, Mapping) and loc.get("country_code"):
            level = "estimated_verified" if loc.get("verified") is True else "estimated_unverified"
            state = "verified" if loc.get("verified") is True else "unverified"
            by_level[level].append(
                _code_evidence(
                    level, f"{label} estimated location ({state})", loc.get("country_code")
                )
            )
        person = party.get("person")
        if isinstance(person, Mapping):
            for address in person.get("addresses") or []:
                if isinstance(address, Mapping) and address.get("country"):
                    by_level["address"].append(
                        _code_evidence(
                            "address", f"{label} address country", address.get("country")
                        )
                    )
    for level in by_level:
        out.extend(by_level[level])
    return out


def _registered_only(e: Evidence) -> bool:
    return bool(e.note) and REGISTERED_ONLY_NOTE in (e.note or "")


def decide(evidence: list[Evidence]) -> Attribution:
    """Pick the country from gathered evidence by precedence and vote; score the confidence."""
    levels = list(LEVELS)
    for position, level in enumerate(levels):
        items = [e for e in evidence if e.level == level]
        usable = [e for e in items if e.country]
        if not usable:
            continue
        votes: dict[str, float] = {}
        for e in usable:
            votes[e.country or ""] = votes.get(e.country or "", 0.0) + (0.5 if e.proxy else 1.0)
        # Highest vote wins; a tie goes to the country seen first (stable, explainable).
        first_seen = {e.country: i for i, e in reversed(list(enumerate(usable)))}
        country = max(votes, key=lambda c: (votes[c], -first_seen[c]))
        confidence = LEVELS[level] * votes[country] / sum(votes.values())
        warnings: list[str] = []
        if len(votes) > 1:
            others = ", ".join(sorted(c for c in votes if c != country))
            warnings.append(f"{level} evidence disagrees: also {others}")
        winners = [e for e in usable if e.country == country]
        if all(e.proxy for e in winners):
            confidence *= PROXY_FACTOR
            warnings.append(PROXY_DECIDED)
        elif any(e.proxy for e in items):
            warnings.append("some evidence at this level is a possible proxy")
        if all(_registered_only(e) for e in winners):
            confidence *= REGISTERED_ONLY_FACTOR
            warnings.append(
                "the deciding GeoIP answer gives only the network's registered country, "
                "not where the address is used"
            )
        pseudo = [e for e in items if e.note and e.note.startswith("pseudo-code")]
        if pseudo:
            confidence *= PSEUDO_FACTOR
            warnings.append(f"{len(pseudo)} pseudo-coded location(s) at this level")
        lower = {
            e.country
            for e in evidence
            if e.country and e.country != country and levels.index(e.level) > position
        }
        if lower:
            confidence *= LOWER_DISAGREES_FACTOR
            warnings.append(
                "lower-precedence evidence points elsewhere: " + ", ".join(sorted(lower))
            )
        return Attribution(country, round(confidence, 3), level, evidence, warnings)
    warnings = []
    if not evidence:
        warnings.append("no location evidence in the referral")
    else:
        notes = sorted({e.note for e in evidence if e.note})
        warnings.append("no evidence gave a country: " + "; ".join(notes[:4]))
    return Attribution(None, 0.0, None, evidence, warnings)


def attribute(
    doc: Mapping[str, Any], files: Iterable[Mapping[str, Any]], geo: IPLocator | None
) -> Attribution:
    """The attribution of one referral in canonical JSON form (``files`` separately)."""
    return decide(gather_evidence(doc, files, geo))

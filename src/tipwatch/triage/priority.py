"""Priority: a score and a tier for each referral, with the reasons that made it.

The facts a score rests on are gathered once (:class:`ReferralFacts`); :func:`score` turns
them into reasons with the weights of the triage settings. Tiers, from the top:
``immediate``, ``high``, ``normal``, and ``informational`` for a referral with too little to
act on (no account, no IP address, no location and no file hash), unless the sender
escalated it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tipwatch.triage.config import TriageConfig

__all__ = [
    "TIERS",
    "PartialPriority",
    "Priority",
    "Reason",
    "ReferralFacts",
    "complete_score",
    "facts_of",
    "partial_score",
    "score",
    "tier_of",
]

TIERS = ("immediate", "high", "normal", "informational")
"""Tiers in order of urgency."""

ENTICEMENT = "Online Enticement of Children for Sexual Acts"


@dataclass(slots=True)
class ReferralFacts:
    escalated: bool = False
    enticement: bool = False
    sextortion: bool = False
    file_count: int = 0
    new_files: int = 0
    known_files: int = 0
    annotations: set[str] = field(default_factory=set)
    industry: set[str] = field(default_factory=set)
    youngest_victim: int | None = None
    repeat_account: bool = False
    viral: bool = False
    has_identifier: bool = False
    has_location: bool = False
    has_hash: bool = False


@dataclass(frozen=True, slots=True)
class Reason:
    key: str
    points: float
    detail: str


@dataclass(slots=True)
class Priority:
    score: float
    tier: str
    reasons: list[Reason]

    def reasons_json(self) -> list[dict[str, Any]]:
        return [{"reason": r.key, "points": r.points, "detail": r.detail} for r in self.reasons]


def facts_of(
    doc: Mapping[str, Any],
    files: Iterable[Mapping[str, Any]],
    statuses: Iterable[str | None],
    *,
    country: str | None,
) -> ReferralFacts:
    """The facts of a referral in canonical JSON form; ``statuses`` are its files' match
    statuses (``known``, ``new`` or ``None`` when not matched yet)."""
    facts = ReferralFacts(
        escalated=bool(doc.get("escalation_reason")),
        enticement=doc.get("incident_type") == ENTICEMENT,
        sextortion="sextortion" in (doc.get("report_annotations") or []),
        has_location=country is not None,
    )
    for f in files:
        facts.file_count += 1
        facts.annotations.update(f.get("annotations") or [])
        if f.get("industry_classification"):
            facts.industry.add(str(f["industry_classification"]))
        if f.get("hashes"):
            facts.has_hash = True
    for status in statuses:
        facts.new_files += status == "new"
        facts.known_files += status == "known"
    for party in doc.get("reported") or []:
        if not isinstance(party, Mapping):
            continue
        if party.get("esp_identifier") or party.get("screen_name") or party.get("ip_events"):
            facts.has_identifier = True
        person = party.get("person")
        if isinstance(person, Mapping) and (person.get("emails") or person.get("phones")):
            facts.has_identifier = True
        if party.get("prior_reports"):
            facts.repeat_account = True
    for victim in doc.get("victims") or []:
        person = victim.get("person") if isinstance(victim, Mapping) else None
        age = person.get("age") if isinstance(person, Mapping) else None
        if isinstance(age, int) and (facts.youngest_victim is None or age < facts.youngest_victim):
            facts.youngest_victim = age
    return facts


def _reasons(facts: ReferralFacts, config: TriageConfig, *, linked: bool) -> list[Reason]:
    """The reasons that apply: those known from the referral alone, or (``linked``) those
    that need the links between referrals."""
    w = config.weights
    reasons: list[Reason] = []

    def add(key: str, detail: str) -> None:
        points = w.get(key, 0.0)
        if points:
            reasons.append(Reason(key, points, detail))

    if linked:
        if facts.repeat_account:
            add("repeat_account", "a reported account appears in earlier referrals")
        if facts.viral:
            add("viral", "part of a viral batch")
        return reasons
    if facts.escalated:
        add("escalated", "escalated to high priority by the sender")
    if facts.new_files:
        add("new_material", f"{facts.new_files} file(s) match no hash list: possibly new material")
    if facts.known_files:
        add("known_material", f"{facts.known_files} file(s) known from hash lists")
    if "possibleSelfProduction" in facts.annotations:
        add("self_production", "a file is annotated as possible self-production")
    if "liveStreaming" in facts.annotations:
        add("live_streaming", "a file is annotated as live streaming")
    if "infant" in facts.annotations:
        add("infant", "a file is annotated as showing an infant")
    if facts.youngest_victim is not None and facts.youngest_victim < config.victim_age_below:
        add("victim_under_age", f"a victim aged {facts.youngest_victim}")
    if facts.file_count >= config.many_files:
        add("many_files", f"{facts.file_count} files")
    if facts.repeat_account:
        # Known without the links when the sender lists prior reports.
        add("repeat_account", "a reported account appears in earlier referrals")
    if facts.enticement or facts.sextortion:
        add(
            "enticement_or_sextortion",
            "online enticement" if facts.enticement else "sextortion annotation",
        )
    if "A1" in facts.industry:
        add("industry_a1", "a file classified A1 by the service")
    return reasons


_INFORMATIONAL = Reason(
    "informational", 0.0, "too little to act on: no account, IP, location or hash"
)


@dataclass(frozen=True, slots=True)
class PartialPriority:
    """What is known of a referral's priority before linking (computed where it is read)."""

    points: float
    reasons_json: str
    """A JSON array of the reasons so far."""
    actionable: bool
    """Enough to act on, or escalated by the sender."""
    repeat_known: bool
    """The repeat-account reason is already counted (the sender listed prior reports)."""


def _json(reasons: list[Reason]) -> str:
    return json.dumps(
        [{"reason": r.key, "points": r.points, "detail": r.detail} for r in reasons],
        ensure_ascii=False,
    )


def partial_score(facts: ReferralFacts, config: TriageConfig) -> PartialPriority:
    reasons = _reasons(facts, config, linked=False)
    actionable = facts.has_identifier or facts.has_location or facts.has_hash or facts.escalated
    points = sum(r.points for r in reasons)
    if not actionable:
        reasons.append(_INFORMATIONAL)
    return PartialPriority(points, _json(reasons), actionable, facts.repeat_account)


def tier_of(points: float, actionable: bool, config: TriageConfig) -> str:
    if not actionable:
        return "informational"
    if points >= config.tier_immediate:
        return "immediate"
    if points >= config.tier_high:
        return "high"
    return "normal"


def complete_score(
    partial: PartialPriority, *, repeat_account: bool, viral: bool, config: TriageConfig
) -> tuple[float, str, str]:
    """``(score, tier, reasons JSON)`` once the links are known."""
    repeat = repeat_account and not partial.repeat_known
    extra = _reasons(ReferralFacts(repeat_account=repeat, viral=viral), config, linked=True)
    reasons_json = partial.reasons_json
    points = partial.points
    if extra:
        points += sum(r.points for r in extra)
        body = _json(extra)[1:]
        reasons_json = reasons_json[:-1] + ("," if reasons_json != "[]" else "") + body
    points = round(points, 2)
    return points, tier_of(points, partial.actionable, config), reasons_json


def score(facts: ReferralFacts, config: TriageConfig) -> Priority:
    """The priority of a referral whose facts (links included) are all known."""
    partial = partial_score(facts, config)
    total, tier, reasons_json = complete_score(
        partial, repeat_account=False, viral=facts.viral, config=config
    )
    reasons = [Reason(r["reason"], r["points"], r["detail"]) for r in json.loads(reasons_json)]
    reasons.sort(key=lambda r: -r.points)
    return Priority(total, tier, reasons)

"""Triage settings: priority weights and tiers, the legal viewing rule, linking parameters.

The defaults live in ``triage.toml`` beside this module (documented there). A team's own file
is read over them: keys it leaves out keep their defaults; unknown keys are refused, so that a
misspelt weight is not silently ignored.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from tipwatch.errors import ConfigError
from tipwatch.triage.linking import LinkSettings

__all__ = ["LegalRule", "TriageConfig", "default_config_text", "load_config"]


@dataclass(frozen=True, slots=True)
class LegalRule:
    """When a file may be opened without legal process."""

    viewable_if_viewed_by_service: bool = True
    viewable_if_publicly_available: bool = True
    unknown_counts_as_yes: bool = False

    def needs_legal_process(self, viewed_by_service: str, publicly_available: str) -> bool:
        """``True`` when no rule lets the file be opened without legal process."""

        def yes(flag: str) -> bool:
            return flag == "yes" or (flag == "unknown" and self.unknown_counts_as_yes)

        if self.viewable_if_viewed_by_service and yes(viewed_by_service):
            return False
        return not (self.viewable_if_publicly_available and yes(publicly_available))


@dataclass(frozen=True)
class TriageConfig:
    weights: dict[str, float]
    victim_age_below: int
    many_files: int
    tier_immediate: float
    tier_high: float
    legal: LegalRule
    legal_by_country: dict[str, LegalRule]
    linking: LinkSettings
    digest: str
    """SHA-256 of the effective settings: a change means scores must be re-computed."""
    source: str

    def legal_rule(self, country: str | None) -> LegalRule:
        return self.legal_by_country.get(country or "", self.legal)


@cache
def default_config_text() -> str:
    return (resources.files("tipwatch.triage") / "triage.toml").read_text(encoding="utf-8")


def _merge(base: dict[str, Any], over: dict[str, Any], where: str) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        here = f"{where}.{key}" if where else key
        if key not in base and not where.startswith("legal.jurisdictions"):
            if where == "legal" and key == "jurisdictions":
                out[key] = value
                continue
            raise ConfigError(f"unknown setting {here!r} (see the documented triage.toml)")
        if isinstance(base.get(key), dict):
            if not isinstance(value, dict):
                raise ConfigError(f"setting {here!r} must be a table")
            out[key] = _merge(base[key], value, here)
        else:
            out[key] = value
    return out


def _number(data: dict[str, Any], key: str, where: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"setting {where}.{key} must be a number, got {value!r}")
    return float(value)


def _legal(data: dict[str, Any], where: str, base: LegalRule | None = None) -> LegalRule:
    fields = LegalRule.__dataclass_fields__
    values = {k: getattr(base, k) for k in fields} if base else {}
    for key, value in data.items():
        if key == "jurisdictions":
            continue
        if key not in fields:
            raise ConfigError(f"unknown setting {where}.{key}")
        if not isinstance(value, bool):
            raise ConfigError(f"setting {where}.{key} must be true or false, got {value!r}")
        values[key] = value
    return LegalRule(**values)


def load_config(path: str | Path | None = None) -> TriageConfig:
    """The defaults, with ``path``'s settings over them when given."""
    data = tomllib.loads(default_config_text())
    source = "defaults"
    if path is not None:
        p = Path(path)
        try:
            own = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"triage settings file {p} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"triage settings file {p} is not valid TOML: {exc}") from exc
        data = _merge(data, own, "")
        source = str(p)
    pri = data["priority"]
    weights = {k: _number(pri["weights"], k, "priority.weights") for k in pri["weights"]}
    thresholds = pri["thresholds"]
    tiers = pri["tiers"]
    legal = _legal(data["legal"], "legal")
    by_country: dict[str, LegalRule] = {}
    for code, rule in (data["legal"].get("jurisdictions") or {}).items():
        if not isinstance(rule, dict):
            raise ConfigError(f"setting legal.jurisdictions.{code} must be a table")
        by_country[code.upper()] = _legal(rule, f"legal.jurisdictions.{code}", legal)
    link = data["linking"]
    linking = LinkSettings(
        ip_window=timedelta(days=_number(link, "ip_window_days", "linking")),
        pdq_threshold=int(_number(link, "pdq_threshold", "linking")),
        viral_min_referrals=int(_number(link, "viral_min_referrals", "linking")),
        viral_min_accounts=int(_number(link, "viral_min_accounts", "linking")),
        max_ip_accounts=int(_number(link, "max_ip_accounts", "linking")),
        circulating_min_accounts=int(_number(link, "circulating_min_accounts", "linking")),
    )
    immediate = _number(tiers, "immediate", "priority.tiers")
    high = _number(tiers, "high", "priority.tiers")
    if high > immediate:
        raise ConfigError("priority.tiers.high must not exceed priority.tiers.immediate")
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    return TriageConfig(
        weights=weights,
        victim_age_below=int(_number(thresholds, "victim_age_below", "priority.thresholds")),
        many_files=int(_number(thresholds, "many_files", "priority.thresholds")),
        tier_immediate=immediate,
        tier_high=high,
        legal=legal,
        legal_by_country=by_country,
        linking=linking,
        digest=digest,
        source=source,
    )

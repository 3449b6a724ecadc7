"""IP geolocation from a MaxMind-format database (``.mmdb``).

Reads the country databases that analysts can get: MaxMind GeoLite2/GeoIP2 Country and City,
DB-IP Lite Country, IPinfo Lite. Their records differ; :func:`country_of_record` reads each.

A lookup never raises for a bad address: the result says what was found and why not
(malformed, private or reserved, IPv6 against an IPv4-only database, absent from the
database). Opening a missing or corrupt file raises :class:`~tipwatch.errors.ConfigError`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from tipwatch.countries import PSEUDO_CODES, normalise_country
from tipwatch.errors import ConfigError

__all__ = ["GeoIPDatabase", "IPLocation", "country_of_record"]

_CONTINENT_PSEUDO = {"EU": "EU", "AS": "AP", "OC": "AP"}
"""Continents that legacy GeoIP data coded as pseudo-countries."""


@dataclass(frozen=True, slots=True)
class IPLocation:
    """What the database says about one address."""

    ip: str
    country: str | None
    """ISO 3166-1 alpha-2 code, or ``None``."""
    note: str | None = None
    """Why there is no country, or what weakens it (pseudo-code, proxy, registered country)."""
    proxy: bool = False
    """The database marks the network as an anonymous proxy (or a satellite provider)."""


def country_of_record(record: Any) -> tuple[str | None, str | None, bool]:
    """``(country, note, proxy)`` from a database record of any supported vendor."""
    if not isinstance(record, dict):
        return None, "record without a country", False
    traits_value = record.get("traits")
    traits: dict[str, Any] = traits_value if isinstance(traits_value, dict) else {}
    proxy = bool(traits.get("is_anonymous_proxy") or traits.get("is_satellite_provider"))
    proxy_note = "database marks an anonymous proxy or satellite provider" if proxy else None
    raw: Any = None
    note: str | None = None
    country = record.get("country")
    if isinstance(country, dict):  # MaxMind, DB-IP
        raw = country.get("iso_code")
    elif isinstance(record.get("country_code"), str):  # IPinfo Lite, simple databases
        raw = record.get("country_code")
    elif isinstance(record.get("iso_code"), str):
        raw = record.get("iso_code")
    if raw is None:
        registered = record.get("registered_country")
        if isinstance(registered, dict) and registered.get("iso_code"):
            raw = registered.get("iso_code")
            note = "only the registered country of the network is known"
    if raw is None:
        continent = record.get("continent")
        code = (
            continent.get("code") if isinstance(continent, dict) else record.get("continent_code")
        )
        pseudo = _CONTINENT_PSEUDO.get(str(code).upper()) if code else None
        if pseudo:
            return None, f"pseudo-code {pseudo} ({PSEUDO_CODES[pseudo]})", proxy
        return None, proxy_note or "record without a country", proxy
    iso, why = normalise_country(str(raw))
    if iso is None:
        return None, why, proxy or str(raw).upper() in ("A1", "A2")
    return iso, note or proxy_note, proxy


def _not_routable(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if addr.is_loopback:
        return "loopback address"
    if addr.is_multicast:
        return "multicast address"
    if addr.is_unspecified:
        return "unspecified address"
    if addr.is_link_local:
        return "link-local address"
    if addr.is_private:
        return "private or reserved address"
    if addr.is_reserved:
        return "reserved address"
    return None


class GeoIPDatabase:
    """An open ``.mmdb`` file. ``lookup()`` answers from a cache (addresses repeat a lot)."""

    def __init__(self, path: str | Path) -> None:
        import maxminddb

        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"GeoIP database {self.path} does not exist")
        try:
            self._reader = maxminddb.open_database(str(self.path))
            meta = self._reader.metadata()
        except (maxminddb.InvalidDatabaseError, ValueError, OSError) as exc:
            raise ConfigError(
                f"GeoIP database {self.path} cannot be read (is it an .mmdb file?): {exc}"
            ) from exc
        self.database_type: str = str(meta.database_type)
        self.build_epoch: int = int(meta.build_epoch)
        self.ip_version: int = int(meta.ip_version)
        description = meta.description
        self.description: str = (
            str(description.get("en") or next(iter(description.values()), ""))
            if isinstance(description, dict) and description
            else ""
        )
        self.lookup = lru_cache(maxsize=200_000)(self._lookup)

    @property
    def built_at(self) -> datetime:
        return datetime.fromtimestamp(self.build_epoch, UTC)

    def label(self) -> str:
        return f"{self.database_type} built {self.built_at:%Y-%m-%d %H:%M} UTC ({self.path.name})"

    def _lookup(self, ip: str) -> IPLocation:
        text = ip.strip()
        try:
            addr = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            return IPLocation(ip, None, f"malformed IP address {ip[:60]!r}")
        if addr.version == 6 and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        if addr.version == 6 and self.ip_version == 4:
            return IPLocation(str(addr), None, "IPv6 address; the GeoIP database is IPv4-only")
        try:
            record = self._reader.get(str(addr))
        except (ValueError, OSError) as exc:  # corrupt search tree or data section
            return IPLocation(str(addr), None, f"GeoIP lookup failed: {exc}")
        if record is None:
            why = _not_routable(addr)
            return IPLocation(str(addr), None, why or "not in the GeoIP database")
        country, note, proxy = country_of_record(record)
        return IPLocation(str(addr), country, note, proxy)

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> GeoIPDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

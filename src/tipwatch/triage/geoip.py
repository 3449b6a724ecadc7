"""IP geolocation from a MaxMind-format database (``.mmdb``).

Reads the country databases that analysts can get: MaxMind GeoLite2/GeoIP2 Country and City,
DB-IP Lite Country, IPinfo Lite. Their records differ; :func:`country_of_record` reads each.

A lookup never raises for a bad address: the result says what was found and why not
(malformed, private or reserved, IPv6 against an IPv4-only database, absent from the
database). Opening a missing or corrupt file raises :class:`~tipwatch.errors.ConfigError`.

Only databases that place networks in countries are accepted: a type named Country, City or
Enterprise (any vendor), or a type tipwatch does not know whose records hold countries. Other
kinds (ASN, ISP, anonymous-IP, connection type, domain) are refused saying what they hold.
Opening checks the metadata (a build time no calendar holds is refused); :meth:`verify` walks
every network and decodes every record, so that a database whose lookups fail (a corrupt
search tree, bad data pointers, nesting too deep) is refused before it is used.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from tipwatch.countries import PSEUDO_CODES, normalise_country
from tipwatch.errors import ConfigError

__all__ = [
    "NOT_COUNTRY_KINDS",
    "REGISTERED_ONLY_NOTE",
    "GeoIPDatabase",
    "IPLocation",
    "country_of_record",
]

_COUNTRY_KINDS = ("country", "city", "enterprise")
"""Words of a database type that say its records place networks in countries."""

NOT_COUNTRY_KINDS = (
    ("anonymous-ip", "anonymous-IP data (which networks are VPNs, proxies, hosting or Tor)"),
    ("asn", "autonomous system numbers and the organisations holding them"),
    ("isp", "internet service providers and organisations"),
    ("connection-type", "connection types (cable, cellular, corporate, satellite)"),
    ("domain", "the domain names of networks"),
    ("user-count", "counts of users per network"),
    ("ip-risk", "risk scores of addresses"),
    ("static-ip-score", "how static addresses are"),
)
"""Database types that hold no country (words of the type, lower-case, joined by ``-``), with
what they hold."""

_LATEST_BUILD_EPOCH = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp())
"""The last build time tipwatch can write as a date; a later one is corrupt metadata."""

_CONTINENT_PSEUDO = {"EU": "EU", "AS": "AP", "OC": "AP"}
"""Continents that legacy GeoIP data coded as pseudo-countries."""


REGISTERED_ONLY_NOTE = "only the registered country of the network is known"
"""The note of a location read from the network's registered country alone."""


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
            note = REGISTERED_ONLY_NOTE
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
        try:
            self._check_metadata()
        except ConfigError:
            self._reader.close()
            raise
        description = meta.description
        self.description: str = (
            str(description.get("en") or next(iter(description.values()), ""))
            if isinstance(description, dict) and description
            else ""
        )
        self.lookup = lru_cache(maxsize=200_000)(self._lookup)

    def _check_metadata(self) -> None:
        if not 0 <= self.build_epoch <= _LATEST_BUILD_EPOCH:
            raise ConfigError(
                f"GeoIP database {self.path} is corrupt: its build time ({self.build_epoch} "
                "seconds after 1970) is no date"
            )
        if self.ip_version not in (4, 6):
            raise ConfigError(
                f"GeoIP database {self.path} is corrupt: IP version {self.ip_version}"
            )
        # The type's words, so that "GeoIP2-Anonymous-IP" and "DBIP-ASN-Lite" match whole words.
        kind = "-" + "-".join(re.findall(r"[a-z0-9]+", self.database_type.lower())) + "-"
        if any(f"-{word}-" in kind for word in _COUNTRY_KINDS):
            return
        for words, holds in NOT_COUNTRY_KINDS:
            if f"-{words}-" in kind:
                raise ConfigError(
                    f"GeoIP database {self.path} is a {self.database_type} database: it holds "
                    f"{holds}, not countries, and cannot attribute referrals",
                    hint="use a country database: a Country, City or Enterprise edition",
                )

    def verify(self) -> int:
        """Walk every network of the database and decode its record; return the number of
        networks. Raises :class:`ConfigError` naming the file when a lookup fails (corrupt
        search tree, bad data pointers, nesting too deep) or when no record holds a country.

        It costs about 8 microseconds a network (0.3 s for 40,000)."""
        import maxminddb

        networks = 0
        countries = False
        try:
            for _network, record in self._reader:
                networks += 1
                if not countries:
                    countries = country_of_record(record)[0] is not None
        except (maxminddb.InvalidDatabaseError, ValueError, OSError, RecursionError) as exc:
            raise ConfigError(
                f"GeoIP database {self.path} is corrupt: lookups fail ({exc})",
                hint="download the database again",
            ) from exc
        if not countries:
            raise ConfigError(
                f"GeoIP database {self.path} ({self.database_type}) holds no country in any of "
                f"its {networks:,} networks and cannot attribute referrals",
                hint="use a country database: a Country, City or Enterprise edition",
            )
        return networks

    @property
    def built_at(self) -> datetime:
        return datetime.fromtimestamp(self.build_epoch, UTC)

    def label(self) -> str:
        return f"{self.database_type} built {self.built_at:%Y-%m-%d %H:%M} UTC ({self.path.name})"

    def _lookup(self, ip: str) -> IPLocation:
        from maxminddb import InvalidDatabaseError

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
        except (InvalidDatabaseError, ValueError, OSError) as exc:  # corrupt tree or data
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

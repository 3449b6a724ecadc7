"""Small MaxMind-format databases for tests, over documentation ranges only."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPSet


class _Writer(MMDBWriter):  # type: ignore[misc]
    def __init__(self, build_epoch: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._epoch = build_epoch

    def _build_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = super()._build_meta()
        meta["build_epoch"] = self._epoch
        return meta


def maxmind_record(country: str | None, **traits: bool) -> dict[str, Any]:
    """A record shaped like GeoLite2-Country's."""
    record: dict[str, Any] = {"continent": {"code": "EU"}}
    if country:
        record["country"] = {"iso_code": country, "names": {"en": country}}
    if traits:
        record["traits"] = traits
    return record


def write_mmdb(
    path: Path,
    networks: Mapping[str, Any],
    *,
    build_epoch: int = 1_600_000_000,
    ip_version: int = 6,
    database_type: str = "GeoLite2-Country",
) -> Path:
    """Write ``networks`` (CIDR -> record) to ``path``. IPv4 networks go in an IPv6 tree
    (as in MaxMind's own files) unless ``ip_version=4``."""
    writer = _Writer(
        build_epoch,
        ip_version=ip_version,
        ipv4_compatible=ip_version == 6,
        database_type=database_type,
        description={"en": "tipwatch test database"},
        languages=["en"],
    )
    for cidr, record in networks.items():
        writer.insert_network(IPSet([cidr]), record)
    writer.to_db_file(str(path))
    return path


DOC_NETWORKS = {
    "192.0.2.0/25": maxmind_record("NL"),
    "192.0.2.128/25": maxmind_record("DE"),
    "198.51.100.0/24": maxmind_record("FR"),
    "203.0.113.0/26": maxmind_record("PL"),
    "203.0.113.64/26": maxmind_record(None, is_anonymous_proxy=True),
    "203.0.113.128/26": {"continent": {"code": "EU"}},
    "2001:db8::/48": maxmind_record("BE"),
}
"""Documentation ranges mapped to countries (and a proxy and a continent-only block)."""


_PAD = "Z" * 5000
"""A placeholder string in one record, overwritten by the hostile variants below."""


def _with_placeholder(path: Path) -> tuple[bytearray, int]:
    networks = dict(DOC_NETWORKS)
    networks["198.51.100.0/24"] = {**maxmind_record("FR"), "pad": _PAD}
    data = bytearray(write_mmdb(path, networks).read_bytes())
    # The string's control byte and two length bytes come just before its text.
    return data, data.index(_PAD.encode()) - 3


def write_broken_mmdb(path: Path, fault: str) -> Path:
    """A database whose lookups fail, for networks in 198.51.100.0/24 at least.

    ``fault``: ``"tree"`` (a search-tree record pointing past the file), ``"pointer"`` (a
    data pointer past the data section), ``"nesting"`` (maps nested 1,000 deep), or
    ``"build-time"`` (a build time of 2**63 seconds, readable lookups)."""
    if fault == "build-time":
        return write_mmdb(path, DOC_NETWORKS, build_epoch=2**63)
    data, at = _with_placeholder(path)
    if fault == "tree":
        data[0:3] = b"\xff\xff\xff"  # node 0's left record (24-bit records): every IPv4 lookup
    elif fault == "pointer":
        data[at : at + 5] = b"\x38\xff\xff\xff\xff"  # a 4-byte pointer to offset 2**32 - 1
    elif fault == "nesting":
        deep = b"\xe1\x41n" * 1000 + b"\xe0"  # {"n": {"n": ... {}}}
        data[at : at + len(deep)] = deep
    else:
        raise ValueError(fault)
    path.write_bytes(bytes(data))
    return path


NON_COUNTRY_DATABASES: dict[str, dict[str, Any]] = {
    "GeoLite2-ASN": {
        "autonomous_system_number": 64496,
        "autonomous_system_organization": "Example Networks",
    },
    "GeoIP2-ISP": {
        "autonomous_system_number": 64497,
        "isp": "Example ISP",
        "organization": "Example Org",
    },
    "GeoIP2-Anonymous-IP": {"is_anonymous": True, "is_anonymous_vpn": True},
    "GeoIP2-Connection-Type": {"connection_type": "Cable/DSL"},
    "GeoIP2-Domain": {"domain": "example.invalid"},
}
"""A record of each kind of database that holds no country, by database type."""

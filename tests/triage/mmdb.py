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

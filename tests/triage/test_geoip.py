from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_shared
from tipwatch.countries import normalise_country
from tipwatch.errors import ConfigError
from tipwatch.triage.geoip import GeoIPDatabase, country_of_record

from .mmdb import (
    DOC_NETWORKS,
    NON_COUNTRY_DATABASES,
    maxmind_record,
    write_broken_mmdb,
    write_mmdb,
)


@pytest.fixture
def geo(tmp_path: Path) -> GeoIPDatabase:
    return GeoIPDatabase(write_mmdb(tmp_path / "geo.mmdb", DOC_NETWORKS))


def test_lookup_documentation_ranges(geo: GeoIPDatabase) -> None:
    assert geo.lookup("192.0.2.10").country == "NL"
    assert geo.lookup("192.0.2.200").country == "DE"
    assert geo.lookup("198.51.100.7").country == "FR"
    assert geo.lookup("2001:db8::1").country == "BE"
    assert geo.database_type == "GeoLite2-Country"
    assert geo.build_epoch == 1_600_000_000


def test_ipv4_mapped_ipv6_is_read_as_ipv4(geo: GeoIPDatabase) -> None:
    assert geo.lookup("::ffff:192.0.2.10").country == "NL"


def test_proxy_and_continent_only(geo: GeoIPDatabase) -> None:
    proxy = geo.lookup("203.0.113.70")
    assert proxy.country is None and proxy.proxy
    continent = geo.lookup("203.0.113.130")
    assert continent.country is None
    assert continent.note is not None and "pseudo-code EU" in continent.note


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("not-an-ip", "malformed IP address"),
        ("999.1.1.1", "malformed IP address"),
        ("", "malformed IP address"),
        ("10.1.2.3", "private or reserved address"),
        ("127.0.0.1", "loopback address"),
        ("fe80::1", "link-local address"),
        ("224.0.0.1", "multicast address"),
        ("8.8.8.8", "not in the GeoIP database"),
    ],
)
def test_addresses_without_country(geo: GeoIPDatabase, ip: str, expected: str) -> None:
    found = geo.lookup(ip)
    assert found.country is None
    assert found.note is not None and expected in found.note


def test_ipv6_against_ipv4_only_database(tmp_path: Path) -> None:
    geo = GeoIPDatabase(
        write_mmdb(tmp_path / "v4.mmdb", {"192.0.2.0/24": maxmind_record("NL")}, ip_version=4)
    )
    assert geo.lookup("192.0.2.1").country == "NL"
    v6 = geo.lookup("2001:db8::1")
    assert v6.country is None and v6.note is not None and "IPv4-only" in v6.note


def test_vendor_record_shapes() -> None:
    # MaxMind / DB-IP
    assert country_of_record({"country": {"iso_code": "NL"}})[0] == "NL"
    # IPinfo Lite: country is a name, the code is separate
    assert country_of_record({"country": "Netherlands", "country_code": "NL"})[0] == "NL"
    # registered country only
    country, note, _ = country_of_record({"registered_country": {"iso_code": "DE"}})
    assert country == "DE" and note is not None and "registered" in note
    # Asia/Pacific continent only -> pseudo-code AP
    country, note, _ = country_of_record({"continent": {"code": "AS"}})
    assert country is None and note is not None and "AP" in note
    assert country_of_record("garbage")[0] is None
    # legacy pseudo-code as a country
    country, note, proxy = country_of_record({"country": {"iso_code": "A1"}})
    assert country is None and proxy


def test_normalise_country() -> None:
    assert normalise_country("nl") == ("NL", None)
    assert normalise_country("UK") == ("GB", None)
    assert normalise_country("EU")[0] is None
    assert normalise_country("NLD")[0] is None
    assert normalise_country("N1")[0] is None
    assert normalise_country(None)[0] is None


def test_missing_database(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        GeoIPDatabase(tmp_path / "absent.mmdb")


@pytest.mark.parametrize(
    "content", [b"", b"not a database at all" * 100, b"\x00" * 4096], ids=["empty", "text", "zeros"]
)
def test_corrupt_database(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.mmdb"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="cannot be read"):
        GeoIPDatabase(path)


def test_truncated_database(tmp_path: Path) -> None:
    good = write_mmdb(tmp_path / "good.mmdb", DOC_NETWORKS).read_bytes()
    path = tmp_path / "cut.mmdb"
    path.write_bytes(good[: len(good) // 3])
    with pytest.raises(ConfigError):
        GeoIPDatabase(path)


# -- databases that fail, and databases that hold no country --------------------------------


@pytest.mark.parametrize("fault", ["tree", "pointer", "nesting"])
def test_a_database_whose_lookups_fail_is_refused_by_its_check(tmp_path: Path, fault: str) -> None:
    path = write_broken_mmdb(tmp_path / f"broken-{fault}.mmdb", fault)
    with GeoIPDatabase(path) as geo:  # the metadata reads: only a walk finds the fault
        with pytest.raises(ConfigError, match=rf"broken-{fault}\.mmdb is corrupt: lookups fail"):
            geo.verify()
        # A lookup in such a file says it failed; it never ends the run with a traceback.
        located = geo.lookup("198.51.100.7")
        assert located.country is None and "GeoIP lookup failed" in (located.note or "")


def test_a_build_time_no_calendar_holds_is_refused(tmp_path: Path) -> None:
    path = write_broken_mmdb(tmp_path / "epoch.mmdb", "build-time")
    with pytest.raises(ConfigError, match=r"epoch\.mmdb is corrupt: its build time"):
        GeoIPDatabase(path)


@pytest.mark.parametrize("database_type", sorted(NON_COUNTRY_DATABASES))
def test_databases_without_countries_are_refused_saying_what_they_hold(
    tmp_path: Path, database_type: str
) -> None:
    path = write_mmdb(
        tmp_path / "other.mmdb",
        {"192.0.2.0/24": NON_COUNTRY_DATABASES[database_type]},
        database_type=database_type,
    )
    with pytest.raises(ConfigError, match=f"other.mmdb is a {database_type} database") as err:
        GeoIPDatabase(path)
    assert "not countries" in str(err.value) and "Country, City" in (err.value.hint or "")


def test_an_unknown_type_is_judged_by_its_records(tmp_path: Path) -> None:
    # IPinfo Lite style: an unfamiliar type whose records hold a country code.
    lite = write_mmdb(
        tmp_path / "lite.mmdb",
        {"192.0.2.0/24": {"country_code": "NL", "asn": "AS64496"}},
        database_type="ipinfo lite.mmdb",
    )
    with GeoIPDatabase(lite) as geo:
        assert geo.verify() == 1 and geo.lookup("192.0.2.1").country == "NL"
    other = write_mmdb(
        tmp_path / "other.mmdb",
        {"192.0.2.0/24": {"asn": "AS64496", "name": "Example"}},
        database_type="example networks.mmdb",
    )
    with GeoIPDatabase(other) as geo, pytest.raises(ConfigError, match="holds no country"):
        geo.verify()


@pytest.mark.parametrize(
    "name", ["GeoLite2-Country-Test", "GeoIP2-Country-Test", "GeoIP2-City-Test"]
)
def test_maxminds_own_test_databases_are_accepted(name: str) -> None:
    path = require_shared(f"conformance/geoip/test-data/{name}.mmdb")
    with GeoIPDatabase(path) as geo:
        assert geo.verify() > 100
        assert geo.database_type == name.removesuffix("-Test")

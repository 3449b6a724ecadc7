"""A list import never silently empties a list: rejected records are never retired, a version
that rejects too many records (or all, or would retire every entry) is refused and changes
nothing unless forced, and a dry run says what a version would do. On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tipwatch.errors import InputError
from tipwatch.formats.hashlists import HashRecord, read_plain
from tipwatch.matching.lists import ImportSummary, get_list, import_list, iter_entries, list_lists
from tipwatch.store import Store


def md5(i: int) -> str:
    return hashlib.md5(str(i).encode()).hexdigest()


def plain_list(path: Path, values: list[str]) -> list[HashRecord]:
    path.write_text("".join(f"{v}\n" for v in values))
    return list(read_plain(path, "md5"))


def _import(store: Store, records: list[HashRecord], version: str, **kw: Any) -> ImportSummary:
    return import_list(
        store,
        "vendor",
        records,
        version=version,
        fmt="plain",
        scheme="none",
        **kw,
    )


def _state(store: Store) -> tuple[list[str], list[str], str]:
    info = get_list(store, "vendor")
    active = sorted(r.value for r in iter_entries(store, "vendor"))
    return active, [v["version"] for v in info["versions"]], info["version"]


def test_a_version_of_0x_prefixed_md5s_is_refused_and_changes_nothing(
    store: Store, tmp_path: Path
) -> None:
    values = [md5(i) for i in range(20)]
    _import(store, plain_list(tmp_path / "v1.txt", values), "v1")
    before = _state(store)
    assert len(before[0]) == 20
    vendor = plain_list(tmp_path / "v2.txt", ["0x" + v.upper() for v in values])
    assert all(r.error for r in vendor)  # the reader rejects every one of them
    with pytest.raises(InputError, match=r"refused, the list is unchanged: all 20 of its") as err:
        _import(store, vendor, "v2")
    assert "line 1" in str(err.value) and "32 hexadecimal" in str(err.value)
    assert err.value.hint is not None and "force" in err.value.hint
    assert _state(store) == before  # entries, versions and the list's current version
    # Even a deployment that tolerates any share of rejects may not import "all rejected".
    with pytest.raises(InputError, match="all 20 of its records were rejected"):
        _import(store, vendor, "v2", max_rejected_share=1.0)
    assert _state(store) == before


def test_forced_rejected_records_are_never_retired(store: Store, tmp_path: Path) -> None:
    values = [md5(i) for i in range(10)]
    _import(store, plain_list(tmp_path / "v1.txt", values), "v1")
    # v2: 6 written with 0x (rejected, still naming entries), 2 plain, 2 dropped, 1 new.
    v2 = ["0x" + v for v in values[:6]] + values[6:8] + [md5(99)]
    summary = _import(store, plain_list(tmp_path / "v2.txt", v2), "v2", force=True)
    assert summary.forced and summary.rejected == 6
    assert (summary.added, summary.retired, summary.spared) == (1, 2, 6)
    assert (summary.active_before, summary.active_after) == (10, 9)
    active = set(_state(store)[0])
    assert active == set(values[:8]) | {md5(99)}
    assert get_list(store, "vendor")["versions"][-1]["retired"] == 2


def test_the_share_of_rejected_records_is_a_limit(store: Store, tmp_path: Path) -> None:
    values = [md5(i) for i in range(100)]
    _import(store, plain_list(tmp_path / "v1.txt", values), "v1")
    # 5 of 100 rejected (5%): at the default limit, imported.
    five_bad = ["nothex"] * 5 + values[5:]
    summary = _import(store, plain_list(tmp_path / "v2.txt", five_bad), "v2")
    assert summary.rejected == 5 and summary.refusal is None
    # 6 of 100 (6%): refused, unchanged.
    before = _state(store)
    six_bad = ["nothex"] * 6 + values[6:]
    with pytest.raises(InputError, match=r"6 of its 100 records were rejected \(6\.0%; at most"):
        _import(store, plain_list(tmp_path / "v3.txt", six_bad), "v3")
    assert _state(store) == before
    # A deployment's own limit lets it through.
    summary = _import(store, plain_list(tmp_path / "v3.txt", six_bad), "v3", max_rejected_share=0.1)
    assert summary.rejected == 6 and summary.retired == 1


def test_a_version_that_would_retire_every_entry_is_refused(store: Store, tmp_path: Path) -> None:
    values = [md5(i) for i in range(5)]
    _import(store, plain_list(tmp_path / "v1.txt", values), "v1")
    before = _state(store)
    with pytest.raises(InputError, match="would retire all 5 active entries and add none"):
        _import(store, plain_list(tmp_path / "empty.txt", []), "v2")
    assert _state(store) == before
    # Forced, the list is emptied as asked (entries kept, retired).
    summary = _import(store, plain_list(tmp_path / "empty.txt", []), "v2", force=True)
    assert summary.retired == 5 and summary.active_after == 0
    assert _state(store)[0] == []
    # Adding only never retires, so an empty addition is no threat.
    summary = _import(store, [], "v3", full=False)
    assert summary.refusal is None


def test_a_dry_run_says_what_would_be_retired_and_changes_nothing(
    store: Store, tmp_path: Path
) -> None:
    values = [md5(i) for i in range(10)]
    # A dry run of a new list creates nothing.
    summary = _import(store, plain_list(tmp_path / "v1.txt", values), "v1", dry_run=True)
    assert summary.dry_run and summary.added == 10
    assert list_lists(store) == []
    _import(store, plain_list(tmp_path / "v1.txt", values), "v1")
    before = _state(store)
    summary = _import(
        store, plain_list(tmp_path / "v2.txt", [*values[4:], md5(50)]), "v2", dry_run=True
    )
    assert (summary.added, summary.retired, summary.kept) == (1, 4, 6)
    assert (summary.active_before, summary.active_after) == (10, 7)
    assert summary.refusal is None
    assert _state(store) == before
    # A dry run of a version that would be refused says why, and raises nothing.
    vendor = plain_list(tmp_path / "v3.txt", ["0x" + v for v in values])
    summary = _import(store, vendor, "v3", dry_run=True)
    assert summary.rejected == 10 and summary.spared == 10 and summary.retired == 0
    assert "all 10 of its records were rejected" in (summary.refusal or "")
    assert _state(store) == before

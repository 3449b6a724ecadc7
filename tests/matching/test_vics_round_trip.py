"""A VICS list keeps every Media entry through import, export and import again: entries sharing
a MediaID (NIST's sets give every entry MediaID 0), entries without one, and entries sharing a
hash stay separate, in VICS 1.x and 2.0."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from tipwatch.formats.hashlists import read_vics, write_vics
from tipwatch.matching.lists import import_list, iter_entries
from tipwatch.store import Store


def _md5(n: int) -> str:
    return f"{n:032x}"


def _media() -> list[dict[str, Any]]:
    media: list[dict[str, Any]] = [
        # 95 entries that all say MediaID 0, as in NIST's hash sets.
        {"MediaID": 0, "Category": 0, "MD5": _md5(i).upper()}
        for i in range(1, 96)
    ]
    media += [
        # Two entries with one MediaID and different hashes and categories.
        {"MediaID": 7, "Category": 1, "MD5": _md5(1001), "VictimIdentified": "true"},
        {"MediaID": 7, "Category": 2, "SHA1": "a" * 40, "IsDistributed": False},
        # No MediaID at all, twice.
        {"Category": 3, "MD5": _md5(2001), "MimeType": "image/png"},
        {"Category": 3, "MD5": _md5(2002), "Series": "S-2"},
        # Two entries sharing an MD5, each with its own category.
        {"MediaID": 11, "Category": 1, "MD5": _md5(3001)},
        {"MediaID": 12, "Category": 2, "MD5": _md5(3001)},
        # Several hashes in one entry, PhotoDNA kept verbatim.
        {
            "MediaID": 20,
            "Category": 1,
            "MD5": _md5(4001),
            "SHA1": "b" * 40,
            "AlternativeHashes": [{"HashName": "PhotoDNA", "HashValue": "QUJD+/==" * 24}],
            "OffenderIdentified": "false",
        },
    ]
    return media


def _v1(media: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Media",
        "value": media,
    }


def _v2(media: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@odata.context": "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Cases",
        "value": [
            {"CaseID": "11111111-2222-3333-4444-555555555555", "Media": media[:50]},
            {"CaseID": "66666666-2222-3333-4444-555555555555", "Media": media[50:100]},
            {"Media": media[100:]},  # a case without an id
        ],
    }


def _state(store: Store, name: str) -> list[tuple[Any, ...]]:
    return sorted(
        (
            r.algorithm,
            r.value,
            r.entry_key,
            r.category,
            r.media_id,
            r.series,
            json.dumps(r.flags, sort_keys=True),
            json.dumps(r.extra, sort_keys=True),
        )
        for r in iter_entries(store, name)
    )


@pytest.mark.parametrize(("version", "build"), [("1.3", _v1), ("2.0", _v2)])
def test_import_export_import_keeps_every_entry(
    store: Store, tmp_path: Path, version: str, build: Any
) -> None:
    media = _media()
    hashes = sum(
        bool(m.get("MD5")) + bool(m.get("SHA1")) + len(m.get("AlternativeHashes", []))
        for m in media
    )
    source = tmp_path / "source.json"
    source.write_text(json.dumps(build(media)))
    first = import_list(
        store, "a", read_vics(source), version="1", fmt="vics", scheme="projectvic_us"
    )
    # Every hash of every Media is an entry: none merged, the shared MD5 twice.
    assert first.added == hashes and first.rejected == 0

    out = io.StringIO()
    written = write_vics(iter_entries(store, "a"), out, version=version)
    assert written == len(media)  # one Media out per Media in
    again = tmp_path / "again.json"
    again.write_text(out.getvalue())
    exported = json.loads(out.getvalue())
    if version == "2.0":
        assert [c.get("CaseID") for c in exported["value"]] == [
            "11111111-2222-3333-4444-555555555555",
            "66666666-2222-3333-4444-555555555555",
            None,
        ]
        assert [len(c["Media"]) for c in exported["value"]] == [50, 50, len(media) - 100]
    else:
        assert sum(1 for m in exported["value"] if m.get("MediaID") == 0) == 95

    import_list(store, "b", read_vics(again), version="1", fmt="vics", scheme="projectvic_us")
    assert _state(store, "b") == _state(store, "a")

    # And a second export is the first, byte for byte.
    out2 = io.StringIO()
    write_vics(iter_entries(store, "b"), out2, version=version)
    assert out2.getvalue() == out.getvalue()

    # Importing the export as the list's next version changes nothing.
    summary = import_list(
        store, "a", read_vics(again), version="2", fmt="vics", scheme="projectvic_us"
    )
    assert (summary.added, summary.retired, summary.kept) == (0, 0, hashes)


def test_two_media_sharing_an_md5_both_match_with_their_own_category(
    store: Store, tmp_path: Path
) -> None:
    from tipwatch.matching.matcher import Matcher

    source = tmp_path / "l.json"
    source.write_text(json.dumps(_v1(_media())))
    import_list(store, "a", read_vics(source), version="1", fmt="vics", scheme="projectvic_us")
    (verdict,) = Matcher(store).verdicts([{"md5": _md5(3001)}])
    assert sorted(m.category_label or "" for m in verdict.matches) == [
        "Child abuse material (CAM)",
        "Child exploitive (non-CAM) / age difficult",
    ]

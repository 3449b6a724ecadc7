"""Tests that read ../shared skip without it, and fail without it under make test (CI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import conftest
from tests.conftest import require_shared


def test_missing_shared_file_skips_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIPWATCH_REQUIRE_SHARED", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"no-such-file\.xsd is not present"):
        require_shared("formats/no-such-file.xsd")


def test_missing_shared_file_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIPWATCH_REQUIRE_SHARED", "1")
    with pytest.raises(pytest.fail.Exception, match="TIPWATCH_REQUIRE_SHARED=1"):
        require_shared("formats/no-such-file.xsd")


def test_present_shared_file_is_returned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "formats").mkdir()
    (tmp_path / "formats" / "schema.xsd").write_text("<xs:schema/>")
    monkeypatch.setattr(conftest, "SHARED", tmp_path)
    monkeypatch.setenv("TIPWATCH_REQUIRE_SHARED", "1")
    assert require_shared("formats/schema.xsd") == tmp_path / "formats" / "schema.xsd"

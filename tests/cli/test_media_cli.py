"""``tipwatch referrals attach-media``: hashed and discarded by default, kept encrypted where
the deployment keeps media, refused without a key; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tipwatch import services
from tipwatch.cli import app
from tipwatch.errors import ConfigError
from tipwatch.settings import reload_settings
from tipwatch.store import Store
from tipwatch.store.schema import kept_media

from ..services.test_media import KEY, OPERATOR, RID, gradient_png, write_referral


def _kept(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(kept_media)).scalar_one())


def test_attach_media_on_the_command_line(
    store: Store, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "gradient.png"
    image.write_bytes(gradient_png(seed=5))
    services.referrals.ingest(store, OPERATOR, [write_referral(tmp_path, image.read_bytes())])
    runner = CliRunner()
    args = ["referrals", "attach-media", RID, "seen", str(image), "--db", db_url]

    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["kept"] is False and out["media"] == "hashed and discarded; not stored"
    assert _kept(store) == 0

    monkeypatch.setenv("TIPWATCH_MEDIA_KEEP", "true")
    with pytest.raises(ConfigError, match="media_key is unset"):
        reload_settings()
    refused = runner.invoke(app, args)
    assert refused.exit_code == 78  # a setting is invalid
    assert "media_keep is on but media_key is unset" in refused.output
    assert _kept(store) == 0

    monkeypatch.setenv("TIPWATCH_MEDIA_KEY", KEY)
    reload_settings()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["kept"] is True and _kept(store) == 1

    other = tmp_path / "other.png"
    other.write_bytes(gradient_png(seed=9))
    mismatch = runner.invoke(
        app, ["referrals", "attach-media", RID, "stated", str(other), "--db", db_url]
    )
    assert mismatch.exit_code == 65
    assert "file 'stated' of referral 'media-1'" in mismatch.output

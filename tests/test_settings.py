"""tipwatch.settings: precedence, the settings file, errors, and docs/settings.md kept complete."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tipwatch
from tipwatch.cli import app
from tipwatch.errors import ConfigError
from tipwatch.formats.cybertip_xml import MAX_RECORD_BYTES
from tipwatch.formats.jsonl import MAX_LINE_BYTES
from tipwatch.intake import DEFAULT_MAX_BAD_RECORD_SHARE
from tipwatch.settings import (
    CONFIG_ENV_VAR,
    ROLES,
    Settings,
    get_settings,
    load_settings,
    reload_settings,
)
from tipwatch.store import DEFAULT_DB, Store

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "settings.md"
SOURCE = Path(tipwatch.__file__).resolve().parent

_DOC_ROW = re.compile(r"^\| `(?P<key>[a-z_]+)` \| `(?P<var>TIPWATCH_[A-Z_]+)` \|", re.MULTILINE)


def _documented() -> dict[str, str]:
    return {m["key"]: m["var"] for m in _DOC_ROW.finditer(DOC.read_text(encoding="utf-8"))}


def test_every_setting_is_documented_and_every_documented_one_exists() -> None:
    documented = _documented()
    assert set(documented) == set(Settings.model_fields)
    for key, variable in documented.items():
        assert variable == f"TIPWATCH_{key.upper()}"


def test_the_documented_example_file_loads(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    example = re.search(r"## Example `tipwatch.toml`\n\n```toml\n(.*?)```", text, re.DOTALL)
    assert example is not None
    path = tmp_path / "tipwatch.toml"
    path.write_text(example[1], encoding="utf-8")
    settings = load_settings(path)
    assert settings.db == tomllib.loads(example[1])["db"]
    assert settings.role == "analyst" and settings.config_file == path


def test_defaults() -> None:
    settings = get_settings()
    assert settings.db == DEFAULT_DB
    assert settings.role == "admin" and set(ROLES) == {
        "admin",
        "analyst",
        "reviewer",
        "liaison",
        "auditor",
        "ingest",
    }
    assert settings.actor  # the operating-system user
    assert settings.chromium is None and settings.triage_config is None
    assert settings.pseudonym_key is None
    # the limits' defaults are the readers' own
    assert settings.max_xml_record_bytes == MAX_RECORD_BYTES
    assert settings.max_jsonl_line_bytes == MAX_LINE_BYTES
    assert settings.max_bad_record_share == DEFAULT_MAX_BAD_RECORD_SHARE


def test_precedence_default_file_variable_explicit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "team.toml"
    path.write_text('db = "from-file.db"\nactor = "file-actor"\nrole = "reviewer"\n')
    monkeypatch.setenv(CONFIG_ENV_VAR, str(path))
    monkeypatch.setenv("TIPWATCH_ACTOR", "variable-actor")
    monkeypatch.setenv("TIPWATCH_ROLE", "liaison")
    settings = reload_settings()
    assert settings.config_file == path
    assert settings.chromium is None  # default: neither file nor variable
    assert settings.db == "from-file.db"  # file over default
    assert settings.actor == "variable-actor"  # variable over file
    assert settings.role == "liaison"
    explicit = get_settings(role="auditor", db=None)
    assert explicit.role == "auditor"  # explicit over variable
    assert explicit.db == "from-file.db"  # None is "not given", not a value
    assert get_settings().role == "liaison"  # the cached settings are left alone


def test_settings_are_cached_until_reloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    assert get_settings() is first
    monkeypatch.setenv("TIPWATCH_DB", "other.db")
    assert get_settings().db == DEFAULT_DB
    assert reload_settings().db == "other.db" and get_settings().db == "other.db"


def test_file_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    user_file = home / ".config" / "tipwatch" / "tipwatch.toml"
    user_file.parent.mkdir(parents=True)
    user_file.write_text('db = "user.db"\n')
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.delenv(CONFIG_ENV_VAR)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    assert reload_settings().db == "user.db"
    (work / "tipwatch.toml").write_text('db = "here.db"\n')
    assert reload_settings().db == "here.db"
    named = tmp_path / "named.toml"
    named.write_text('db = "named.db"\n')
    monkeypatch.setenv(CONFIG_ENV_VAR, str(named))
    assert reload_settings().db == "named.db"


def test_a_named_file_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere.toml"
    monkeypatch.setenv(CONFIG_ENV_VAR, str(missing))
    with pytest.raises(ConfigError, match="does not exist") as caught:
        reload_settings()
    assert str(missing) in str(caught.value) and caught.value.hint


def test_malformed_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('db = "unterminated\n')
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_settings(path)
    assert str(path) in str(caught.value)


def test_unknown_key_is_a_config_error_naming_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text('db = "x.db"\nchromeium = "/usr/bin/chromium"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value) and "'chromeium'" in str(caught.value)
    assert caught.value.hint is not None and "chromium" in caught.value.hint
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        get_settings(colour="red")


def test_invalid_values_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "role.toml"
    path.write_text('role = "boss"\n')
    with pytest.raises(ConfigError, match="invalid setting 'role'") as caught:
        load_settings(path)
    assert caught.value.hint is not None and str(path) in caught.value.hint
    path.write_text("[db]\nurl = 'x'\n")
    with pytest.raises(ConfigError, match="'db' must be a value"):
        load_settings(path)
    monkeypatch.setenv("TIPWATCH_ACTOR", "")
    with pytest.raises(ConfigError, match="invalid setting 'actor'") as caught:
        reload_settings()
    assert caught.value.hint is not None and "TIPWATCH_ACTOR" in caught.value.hint


def test_pseudonym_key_is_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIPWATCH_PSEUDONYM_KEY", "very-secret-value")
    settings = reload_settings()
    assert settings.pseudonym_key is not None
    assert settings.pseudonym_key.get_secret_value() == "very-secret-value"
    assert "very-secret-value" not in repr(settings) and "very-secret-value" not in str(settings)


# Patterns of environment reads; only settings.py may use them.
_ENV_READ = re.compile(r"\bos\.environ\b|\bos\.getenv\b|\bgetenv\(|from os import .*environ")


def test_only_settings_reads_the_environment() -> None:
    readers = sorted(
        str(path.relative_to(SOURCE))
        for path in SOURCE.rglob("*.py")
        if path.name != "settings.py" and _ENV_READ.search(path.read_text(encoding="utf-8"))
    )
    assert readers == []
    assert _ENV_READ.search((SOURCE / "settings.py").read_text(encoding="utf-8"))


def test_cli_opens_the_store_the_settings_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "from-settings.db"
    Store.open(str(db)).close()
    path = tmp_path / "tipwatch.toml"
    path.write_text(f'db = "{db}"\n')
    monkeypatch.setenv(CONFIG_ENV_VAR, str(path))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    reload_settings()
    runner = CliRunner()
    result = runner.invoke(app, ["referrals", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "[]"
    assert not (work / DEFAULT_DB).exists()
    # the option wins over the settings: a missing folder names the option's path
    result = runner.invoke(app, ["referrals", "list", "--db", str(tmp_path / "no" / "x.db")])
    assert result.exit_code == 69 and str(tmp_path / "no") in result.output


def test_cli_ingest_applies_the_line_limit_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = {
        "report_id": "limit-1",
        "incident_type": "Child Pornography (possession, manufacture, and distribution)",
        "incident_time": "2020-03-01T00:00:00Z",
        "escalation_reason": "x" * 400,
    }
    source = tmp_path / "one.jsonl"
    source.write_text(json.dumps(record) + "\n")
    runner = CliRunner()

    def quarantined(db: Path) -> int:
        result = runner.invoke(app, ["ingest", str(source), "--db", str(db), "--format", "json"])
        assert result.exit_code == 0, result.output
        return int(json.loads(result.output)["quarantined"])

    assert quarantined(tmp_path / "default.db") == 0
    monkeypatch.setenv("TIPWATCH_MAX_JSONL_LINE_BYTES", "200")
    reload_settings()
    assert quarantined(tmp_path / "limited.db") == 1

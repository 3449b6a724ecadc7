"""tipwatch's settings: one object, read from defaults, a TOML file and ``TIPWATCH_*`` variables.

Each setting is taken from the first of these that gives it:

1. an explicit value (a command-line option, or an argument to :func:`get_settings`);
2. the environment variable ``TIPWATCH_<NAME>`` (``TIPWATCH_DB``, ``TIPWATCH_ACTOR`` ...);
3. the TOML file: ``$TIPWATCH_CONFIG`` if set, else ``./tipwatch.toml`` if it exists, else
   ``~/.config/tipwatch/tipwatch.toml`` if it exists; its keys are the settings' names;
4. the default.

This is the only module that reads the environment: library code receives its values as
arguments, so a test or a web request can pass other ones. ``docs/settings.md`` documents every
setting (a test keeps it complete).
"""

from __future__ import annotations

import getpass
import os
import tomllib
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from tipwatch.errors import ConfigError

__all__ = [
    "CONFIG_ENV_VAR",
    "ROLES",
    "Role",
    "Settings",
    "config_file_candidates",
    "find_config_file",
    "get_settings",
    "load_settings",
    "reload_settings",
]

CONFIG_ENV_VAR = "TIPWATCH_CONFIG"
"""The variable naming the settings file (it wins over ``./tipwatch.toml`` and the user's)."""

Role = Literal["admin", "analyst", "reviewer", "liaison", "auditor"]
ROLES: tuple[Role, ...] = ("admin", "analyst", "reviewer", "liaison", "auditor")
"""The roles an actor can have, from most to least permitted in general."""

# The file named for one load_settings() call; None means "look for it as documented".
_explicit_file: ContextVar[Path | None] = ContextVar("tipwatch_settings_file", default=None)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except OSError:  # no login name and no LOGNAME/USER variable (some containers)
        return "unknown"


class Settings(BaseSettings):
    """Every setting of tipwatch. Build one with :func:`get_settings` or :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="TIPWATCH_",
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    db: str = Field(
        default="tipwatch.db",
        description="The store: an SQLite file path or a database URL.",
    )
    actor: str = Field(
        default_factory=_os_user,
        min_length=1,
        description="Who is acting, as written in the audit log and on routing packages.",
    )
    role: Role = Field(
        default="admin",
        description=(
            "The command-line actor's role. The local operator owns the store; "
            "teams set a role per account."
        ),
    )
    chromium: Path | None = Field(
        default=None,
        description="The Chromium (or Chrome) program that prints PDFs; unset: the PATH's.",
    )
    package_marking: str = Field(
        default="TLP:AMBER",
        min_length=1,
        max_length=100,
        description="Handling marking printed at the top of every routing package summary.",
    )
    assessment_marking: str = Field(
        default="TLP:AMBER",
        min_length=1,
        max_length=100,
        description="Handling marking on the assessment's title page and on every PDF page.",
    )
    assessment_author: str = Field(
        default="",
        max_length=200,
        description="The author named on the assessment's title page; unset: the actor.",
    )
    triage_config: Path | None = Field(
        default=None,
        description="The team's triage settings (TOML); unset: the shipped defaults.",
    )
    pseudonym_key: SecretStr | None = Field(
        default=None,
        description="Secret key for keyed hashing of identifiers that need no identity.",
    )

    # Limits on input, defaults as the readers' own (a test keeps them equal).
    max_xml_record_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="Largest single CyberTipline XML record read, in bytes.",
    )
    max_jsonl_line_bytes: int = Field(
        default=16 * 1024 * 1024,
        gt=0,
        description="Longest JSON Lines line (one referral) read, in bytes.",
    )
    media_video_seconds: float = Field(
        default=600.0,
        gt=0,
        description="Time limit for hashing one video, in seconds.",
    )
    media_video_memory_bytes: int = Field(
        default=2 * 1024**3,
        ge=256 * 1024**2,
        description="Memory limit of the process that decodes one video, in bytes.",
    )
    list_max_rejected_share: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Largest share of a hash-list version's records that may be rejected "
        "before the import is refused (unless forced).",
    )

    store_busy_timeout: float = Field(
        default=120.0,
        gt=0,
        description="Seconds an SQLite write waits for another process's write before failing.",
    )
    max_bad_record_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Share of a source's records that may be bad before the source is refused.",
    )

    _config_file: Path | None = PrivateAttr(default=None)

    @property
    def config_file(self) -> Path | None:
        """The TOML file these settings were read from, if any."""
        return self._config_file

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: explicit values, then variables, then the file. No .env or secrets dir.
        return init_settings, env_settings, _TomlFileSource(settings_cls, find_config_file())


def config_file_candidates() -> list[Path]:
    """Where a settings file is looked for when ``$TIPWATCH_CONFIG`` is not set, in order."""
    return [Path("tipwatch.toml"), Path.home() / ".config" / "tipwatch" / "tipwatch.toml"]


def find_config_file() -> Path | None:
    """The settings file to read: the one named for this load, ``$TIPWATCH_CONFIG``, or the
    first of :func:`config_file_candidates` that exists; ``None`` when there is none."""
    explicit = _explicit_file.get()
    if explicit is not None:
        return explicit
    named = os.environ.get(CONFIG_ENV_VAR)
    if named:
        return Path(named).expanduser()
    return next((p for p in config_file_candidates() if p.is_file()), None)


class _TomlFileSource(PydanticBaseSettingsSource):
    """The settings file's values, refusing what is not TOML or names no setting."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path
        self.values = self._read() if path is not None else {}

    def _read(self) -> dict[str, Any]:
        assert self.path is not None
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"settings file {self.path} does not exist",
                hint=f"create it, or unset {CONFIG_ENV_VAR}",
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"settings file {self.path} cannot be read: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"settings file {self.path} is not valid TOML: {exc}") from exc
        known = self.settings_cls.model_fields
        for key, value in data.items():
            if key not in known:
                raise ConfigError(
                    f"settings file {self.path}: unknown setting {key!r}",
                    hint=f"the settings are: {', '.join(known)}",
                )
            if isinstance(value, dict):
                raise ConfigError(
                    f"settings file {self.path}: {key!r} must be a value, not a table"
                )
        return data

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Read the settings afresh. ``config_file`` replaces the file search; ``overrides`` are
    explicit values (``None`` values are dropped, as for a command-line option not given).

    Raises :class:`ConfigError` naming the file and the setting when anything is invalid.
    """
    explicit = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(explicit) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r}")
    token = _explicit_file.set(Path(config_file).expanduser() if config_file else None)
    try:
        path = find_config_file()
        try:
            settings = Settings(**explicit)
        except ValidationError as exc:
            raise _invalid(exc, path) from None
        except SettingsError as exc:  # a variable that cannot be parsed at all
            raise ConfigError(f"invalid setting: {exc}") from exc
    finally:
        _explicit_file.reset(token)
    settings._config_file = path
    return settings


def _invalid(exc: ValidationError, path: Path | None) -> ConfigError:
    error = exc.errors()[0]
    name = ".".join(str(part) for part in error["loc"]) or "?"
    sources = f"an option, TIPWATCH_{name.upper()}" + (f" or {path}" if path else "")
    return ConfigError(f"invalid setting {name!r}: {error['msg']}", hint=f"correct it in {sources}")


@cache
def _process_settings() -> Settings:
    return load_settings()


def get_settings(**overrides: Any) -> Settings:
    """The process's settings (read once, then cached), or with ``overrides`` a fresh copy
    in which those explicit values win (``None`` values are ignored)."""
    explicit = {k: v for k, v in overrides.items() if v is not None}
    if explicit:
        return load_settings(**explicit)
    return _process_settings()


def reload_settings() -> Settings:
    """Forget the cached settings and read them again (after the file or variables changed)."""
    _process_settings.cache_clear()
    return _process_settings()

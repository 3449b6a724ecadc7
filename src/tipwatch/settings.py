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

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, model_validator
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
    "export_to_children",
    "find_config_file",
    "get_settings",
    "load_settings",
    "reload_settings",
]

CONFIG_ENV_VAR = "TIPWATCH_CONFIG"
"""The variable naming the settings file (it wins over ``./tipwatch.toml`` and the user's)."""

Role = Literal["admin", "analyst", "reviewer", "liaison", "auditor", "ingest"]
ROLES: tuple[Role, ...] = ("admin", "analyst", "reviewer", "liaison", "auditor", "ingest")
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
    actor_country: str | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="The command-line actor's country (ISO alpha-2), for the liaison role.",
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

    forum_keep_text: bool = Field(
        default=False,
        description="Whether forum intake stores the text of posts (else derived features only).",
    )
    forum_text_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Days the text of a forum post is kept before `forums purge` removes it.",
    )
    forum_themes: Path | None = Field(
        default=None,
        description="The team's forum theme file (TOML); unset: the shipped neutral defaults.",
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
    media_keep: bool = Field(
        default=False,
        description="Keep the media that arrive with a referral's files, encrypted with "
        "media_key, for reviewers to view (else they are hashed and discarded).",
    )
    media_key: SecretStr | None = Field(
        default=None,
        description="The key that encrypts kept media at rest (AES-256-GCM): 32 random "
        "bytes in URL-safe base64.",
    )
    list_max_rejected_share: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Largest share of a hash-list version's records that may be rejected "
        "before the import is refused (unless forced).",
    )
    vpdq_query_percent: float = Field(
        default=80.0,
        ge=0,
        le=100,
        description="Least share (%) of a video's usable frames that must match a vPDQ entry.",
    )
    vpdq_list_percent: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="Least share (%) of a vPDQ entry's usable frames the video must match.",
    )
    ncmec_username: str | None = Field(
        default=None, description="User name for NCMEC's hash sharing API."
    )
    ncmec_password: SecretStr | None = Field(
        default=None, description="Password for NCMEC's hash sharing API."
    )
    stopncii_subscription_key: SecretStr | None = Field(
        default=None, description="StopNCII API subscription key."
    )
    stopncii_fetch_key: SecretStr | None = Field(
        default=None, description="StopNCII function key of FetchHashes."
    )
    stopncii_feedback_key: SecretStr | None = Field(
        default=None, description="StopNCII function key of SubmitFeedback."
    )
    threatexchange_access_token: SecretStr | None = Field(
        default=None, description="ThreatExchange access token (app id|secret)."
    )
    list_sync_every_minutes: float = Field(
        default=60.0,
        gt=0,
        description="Minutes between syncs of a list fed by an exchange (lists sync --due).",
    )
    exchange_read_attempts: int = Field(
        default=6,
        ge=1,
        le=20,
        description="Attempts at each read from an exchange (429, 5xx, cut connections).",
    )
    flood_factor: float = Field(
        default=20.0,
        gt=1,
        description="An entry matching this many times its daily history is held for review.",
    )
    flood_min_matches: int = Field(
        default=50,
        ge=1,
        description="Fewest matches in a day before an entry can be held as a flood.",
    )
    flood_history_days: int = Field(
        default=28,
        ge=1,
        description="Days of an entry's match history the flood check compares with.",
    )

    url_max_length: int = Field(
        default=65_536,
        ge=256,
        description="Longest URL read (a list entry, a URL to check, a log line's URL), in "
        "characters.",
    )
    url_attempt_window: float = Field(
        default=30.0,
        gt=0,
        le=86_400,
        description="Seconds within which requests by one client for one listed entry count "
        "as one blocked attempt.",
    )
    url_log_clock_tolerance: float = Field(
        default=300.0,
        ge=0,
        description="Seconds a log line's time may go back from the line before (late "
        "logging) before it is refused as a clock jump.",
    )
    url_rpz_zone: str = Field(
        default="rpz.tipwatch.invalid",
        min_length=1,
        max_length=200,
        description="The name of the DNS response-policy zone the URL list is exported as.",
    )
    url_splash_message: str = Field(
        default=(
            "This page has been blocked because it is on a list of web pages that show the "
            "sexual abuse of children. Viewing, downloading or sharing such material is a "
            "crime and harms real children."
        ),
        max_length=2000,
        description="The deterrence message of the splash page shown in place of a blocked page.",
    )
    url_helpline: str = Field(
        default="",
        max_length=500,
        description="The helpline the splash page names (name and phone), for people worried "
        "about their own thoughts or behaviour.",
    )
    url_helpline_url: str = Field(
        default="",
        max_length=500,
        description="The helpline's web address on the splash page.",
    )

    cluster: str | None = Field(
        default=None,
        description="Where bulk hashing and matching run: unset for local processes, "
        "local:N for an in-process Dask cluster of N workers, or a Dask scheduler address "
        "(tls://HOST:8786).",
    )
    cluster_tls_ca: Path | None = Field(
        default=None,
        description="The certificate authority (PEM) that signed the Dask cluster's certificates.",
    )
    cluster_tls_cert: Path | None = Field(
        default=None,
        description="tipwatch's client certificate (PEM) for the Dask cluster.",
    )
    cluster_tls_key: Path | None = Field(
        default=None,
        description="The private key (PEM) of cluster_tls_cert.",
    )
    cluster_insecure_loopback: bool = Field(
        default=False,
        description="Allow a Dask scheduler without TLS (tcp://) when it is on 127.0.0.1 or ::1.",
    )
    compute_batch_size: int = Field(
        default=64,
        ge=50,
        le=100_000,
        description="Files handed to a worker at a time (at least 50: a Dask task costs "
        "about 2 ms of CPU).",
    )
    list_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often a long-running process checks the store for hash-list "
        "changes made by other processes, in seconds.",
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

    # Users, sessions and the REST API (tipwatch serve).
    password_min_length: int = Field(
        default=12, ge=8, le=128, description="Fewest characters of a user's password."
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed logins in a row after which an account is locked."
    )
    login_lockout_minutes: float = Field(
        default=15.0, gt=0, description="Minutes an account stays locked after too many failures."
    )
    login_address_max_failures: int = Field(
        default=20,
        ge=0,
        description="Failed logins from one client address (any accounts) within the window "
        "after which the address is refused for a while; 0: no limit per address.",
    )
    login_address_window_minutes: float = Field(
        default=15.0, gt=0, description="Minutes over which failed logins per address count."
    )
    login_address_block_minutes: float = Field(
        default=15.0, gt=0, description="Minutes a client address is refused after too many."
    )
    session_hours: float = Field(
        default=12.0, gt=0, description="Hours a login session (cookie) lasts."
    )
    token_days: int = Field(
        default=90, ge=1, le=3650, description="Days an API token lasts unless told otherwise."
    )
    api_secure_cookies: bool = Field(
        default=True, description="Mark the session cookie Secure (sent over HTTPS only)."
    )
    api_max_body_bytes: int = Field(
        default=256 * 1024 * 1024, gt=0, description="Largest ingest body the API accepts."
    )
    api_max_upload_bytes: int = Field(
        default=64 * 1024 * 1024, gt=0, description="Largest media upload to match, in bytes."
    )
    api_package_dir: Path = Field(
        default=Path("packages"),
        description="Folder in which routing packages made through the API are written.",
    )
    api_job_workers: int = Field(
        default=2, ge=1, le=64, description="Jobs (ingest, triage, assessment) run at once."
    )
    api_token_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Seconds a server process may reuse an API token it has checked before "
        "asking the store again (0: every request asks); a revocation made elsewhere reaches "
        "the server within this delay.",
    )
    due_hours_immediate: float = Field(
        default=24.0, gt=0, description="Hours to act on an immediate-tier referral."
    )
    due_hours_high: float = Field(
        default=72.0, gt=0, description="Hours to act on a high-tier referral."
    )
    due_hours_normal: float = Field(
        default=240.0, gt=0, description="Hours to act on a normal-tier referral."
    )
    due_hours_informational: float = Field(
        default=720.0, gt=0, description="Hours to act on an informational-tier referral."
    )

    @model_validator(mode="after")
    def _media_key_when_kept(self) -> Settings:
        # Media are never kept in the clear: keeping them without a usable key is refused
        # when the settings are read, before anything arrives.
        if self.media_key is not None:
            _check_media_key(self.media_key.get_secret_value())
        if self.media_keep and self.media_key is None:
            raise ValueError(
                "media_keep is on but media_key is unset: kept media are encrypted at rest, "
                "so a key is needed (32 random bytes in URL-safe base64)"
            )
        if self.media_keep:
            import importlib.util

            if importlib.util.find_spec("cryptography") is None:
                raise ValueError(
                    "media_keep is on but the cryptography package (which encrypts kept "
                    "media) is not installed: install tipwatch's dependencies again"
                )
        return self

    @property
    def due_hours(self) -> dict[str, float]:
        """Hours allowed per priority tier."""
        return {
            "immediate": self.due_hours_immediate,
            "high": self.due_hours_high,
            "normal": self.due_hours_normal,
            "informational": self.due_hours_informational,
        }

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


def _check_media_key(text: str) -> None:
    import base64
    import binascii

    try:
        raw = base64.urlsafe_b64decode(text.strip().encode("ascii") + b"=" * (-len(text) % 4))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ValueError("media_key is not URL-safe base64") from None
    if len(raw) != 32:
        raise ValueError(f"media_key must be 32 bytes in URL-safe base64, not {len(raw)} bytes")


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
    if not error["loc"]:  # a rule between settings (media_keep needs media_key)
        message = str(error["msg"]).removeprefix("Value error, ")
        where = "options, TIPWATCH_* variables" + (f" or {path}" if path else "")
        return ConfigError(f"invalid settings: {message}", hint=f"correct them in {where}")
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


def export_to_children(**values: Any) -> None:
    """Hand explicit values on to child processes (the server's worker processes) as
    ``TIPWATCH_*`` variables, where they win over the settings file as they did here."""
    for name, value in values.items():
        if name not in Settings.model_fields:
            raise ConfigError(f"unknown setting {name!r}")
        if value is not None:
            os.environ[f"TIPWATCH_{name.upper()}"] = str(value)
    reload_settings()

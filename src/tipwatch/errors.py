"""The exceptions tipwatch raises.

Every error is a :class:`TipwatchError`; catch that to catch them all::

    TipwatchError
    ├── InputError            bad input; the message names the source and the problem
    │   ├── RecordError       one record is malformed (it is quarantined; the run goes on)
    │   └── UnsafeInputError  input refused for safety (XML entities or DTDs, size or depth limits)
    ├── StoreError            the database cannot be opened, migrated or written
    │   └── NotFoundError     a referral, quarantine entry or other object does not exist
    ├── ConflictError         the object exists already, or changed since it was read
    ├── AccessDenied          the actor's role may not do the action
    ├── AuthenticationError   no valid credentials: unknown user, wrong password, expired token
    │   └── TooManyAttempts   too many failed logins from one client address: wait, then retry
    ├── ConfigError           a setting or option is invalid
    ├── ExchangeError         a hash exchange (NCMEC, StopNCII, ThreatExchange) failed or refused
    └── InsufficientDataError a series is too short (or too gappy) for the analysis asked

Messages speak of the problem, never of a command-line flag: the same error reaches the CLI, the
REST API and the web pages. What the user can do about it goes in ``hint`` (also without flags);
each interface renders the hint its own way (the CLI as a flag, the web as a button).

Each class maps to an exit code (for the CLI; from BSD's ``sysexits.h`` where one fits) and an
HTTP status (for the API), looked up through the class's ancestors by :func:`exit_code_of` and
:func:`http_status_of`:

========================  ====  ====  ===============================================
class                     exit  HTTP  why
========================  ====  ====  ===============================================
TipwatchError               1   500   any other failure
InputError                 65   422   EX_DATAERR: the input data is wrong
InsufficientDataError      65   422   EX_DATAERR: the data cannot support the analysis
NotFoundError              66   404   EX_NOINPUT: the object asked for does not exist
StoreError                 69   503   EX_UNAVAILABLE: the store cannot be used now
ConflictError              73   409   EX_CANTCREAT: it exists already or changed
AccessDenied               77   403   EX_NOPERM: the role may not do this
AuthenticationError        77   401   EX_NOPERM: who is asking is not established
TooManyAttempts            75   429   EX_TEMPFAIL: refused for now; retry later
ConfigError                78   500   EX_CONFIG: a setting or option is invalid
ExchangeError              69   502   EX_UNAVAILABLE: a hash exchange failed or refused
========================  ====  ====  ===============================================

Exit status 2 stays the command line's own usage error (a misspelt option) and 130 an
interrupted run, so neither is used here.
"""

from __future__ import annotations

__all__ = [
    "ERROR_STATUS",
    "AccessDenied",
    "AuthenticationError",
    "ConfigError",
    "ConflictError",
    "ExchangeError",
    "InputError",
    "InsufficientDataError",
    "NotFoundError",
    "RecordError",
    "StoreError",
    "TipwatchError",
    "TooManyAttempts",
    "UnsafeInputError",
    "exit_code_of",
    "http_status_of",
]


class TipwatchError(Exception):
    """Base class of every error tipwatch raises on purpose.

    ``hint`` says what the user can do about it, in words that fit every interface (no flags).
    """

    def __init__(self, message: str = "", *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class InputError(TipwatchError):
    """The input cannot be read as asked."""


class RecordError(InputError):
    """One record is malformed. ``location`` says where (``line 12``, ``byte 3456``)."""

    def __init__(
        self, message: str, *, location: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.location = location


class UnsafeInputError(InputError):
    """Input refused for safety: entity declarations, external references, size or depth."""


class StoreError(TipwatchError):
    """The store cannot be opened, migrated or written."""


class NotFoundError(StoreError):
    """The object asked for does not exist in the store."""


class ConflictError(TipwatchError):
    """The object exists already, or changed since it was read; nothing was written."""


class AccessDenied(TipwatchError):
    """The actor's role may not do the action; ``actor``, ``role`` and ``action`` say which."""

    def __init__(
        self,
        actor: str,
        role: str,
        action: str,
        *,
        what: str | None = None,
        hint: str | None = None,
    ) -> None:
        # ``what`` is the action in words ("read a referral's dossier"); ``action`` its name.
        super().__init__(f"{actor} (role {role}) may not {what or action}", hint=hint)
        self.actor = actor
        self.role = role
        self.action = action


class AuthenticationError(TipwatchError):
    """The credentials are missing or not valid (a wrong password, an expired or revoked
    token, a locked account). The message never says which part was wrong to a caller that
    has not proved who it is."""


class TooManyAttempts(AuthenticationError):
    """Logins from the caller's client address are refused for a while, after too many
    failures from it (over any accounts). ``retry_after`` is how many seconds remain; the
    REST API sends it as the ``Retry-After`` header of its 429 answer."""

    def __init__(self, message: str, *, retry_after: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = max(1, retry_after)


class ConfigError(TipwatchError):
    """A setting or option is invalid."""


class ExchangeError(TipwatchError):
    """A hash exchange could not be read or written: unreachable, refused the credentials, or
    answered what cannot be read, after the retries its reads allow."""


class InsufficientDataError(TipwatchError):
    """The data cannot support the analysis asked; the message says what is missing."""


ERROR_STATUS: dict[type[TipwatchError], tuple[int, int]] = {
    TipwatchError: (1, 500),
    InputError: (65, 422),
    InsufficientDataError: (65, 422),
    NotFoundError: (66, 404),
    StoreError: (69, 503),
    ConflictError: (73, 409),
    AccessDenied: (77, 403),
    AuthenticationError: (77, 401),
    TooManyAttempts: (75, 429),
    ConfigError: (78, 500),
    ExchangeError: (69, 502),
}
"""Exit code and HTTP status of each error class; subclasses not listed take their parent's."""


def _status_of(exc: BaseException) -> tuple[int, int]:
    for cls in type(exc).__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]
    return ERROR_STATUS[TipwatchError]


def exit_code_of(exc: BaseException) -> int:
    """The CLI's exit code for ``exc``: its class's entry in :data:`ERROR_STATUS`, or its
    nearest listed ancestor's (1 for anything not a :class:`TipwatchError`)."""
    return _status_of(exc)[0]


def http_status_of(exc: BaseException) -> int:
    """The HTTP status for ``exc``, found as in :func:`exit_code_of` (500 when none is listed)."""
    return _status_of(exc)[1]

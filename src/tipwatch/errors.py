"""The exceptions tipwatch raises.

Every error is a :class:`TipwatchError`; catch that to catch them all::

    TipwatchError
    ├── InputError            bad input; the message names the source and the problem
    │   ├── RecordError       one record is malformed (it is quarantined; the run goes on)
    │   └── UnsafeInputError  input refused for safety (XML entities or DTDs, size or depth limits)
    ├── StoreError            the database cannot be opened, migrated or written
    │   └── NotFoundError     a referral, quarantine entry or other object does not exist
    ├── AccessDenied          the actor's role may not perform the action
    ├── ConfigError           a setting or option is invalid
    └── InsufficientDataError a series is too short (or too gappy) for the analysis asked
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "ConfigError",
    "InputError",
    "InsufficientDataError",
    "NotFoundError",
    "RecordError",
    "StoreError",
    "TipwatchError",
    "UnsafeInputError",
]


class TipwatchError(Exception):
    """Base class of every error tipwatch raises on purpose.

    ``hint`` says what the user can do about it, without naming any interface's controls.
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


class AccessDenied(TipwatchError):
    """The actor's role may not perform the action."""

    def __init__(self, message: str, *, actor: str, role: str, action: str) -> None:
        super().__init__(message)
        self.actor = actor
        self.role = role
        self.action = action


class ConfigError(TipwatchError):
    """A setting or option is invalid."""


class InsufficientDataError(TipwatchError):
    """The data cannot support the analysis asked; the message says what is missing."""

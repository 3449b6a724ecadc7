"""tipwatch: referral intake, hash matching, triage and trend analysis.

The library is the product; the CLI, API and web pages are thin layers over it. The names below
are the stable entry points: the store, the canonical referral and the errors to catch. They load
on first use, so ``import tipwatch.errors`` (or the CLI's start) does not pull in the database
layer.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tipwatch.errors import (
        AccessDenied,
        AuthenticationError,
        ConfigError,
        ConflictError,
        ExchangeError,
        InputError,
        InsufficientDataError,
        NotFoundError,
        RecordError,
        StoreError,
        TipwatchError,
        TooManyAttempts,
        UnsafeInputError,
    )
    from tipwatch.models import Referral
    from tipwatch.store import Store

try:
    __version__ = version("tipwatch")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "AccessDenied",
    "AuthenticationError",
    "ConfigError",
    "ConflictError",
    "ExchangeError",
    "InputError",
    "InsufficientDataError",
    "NotFoundError",
    "RecordError",
    "Referral",
    "Store",
    "StoreError",
    "TipwatchError",
    "TooManyAttempts",
    "UnsafeInputError",
    "__version__",
]

# Where each exported name lives.
_HOMES = {
    "AccessDenied": "tipwatch.errors",
    "AuthenticationError": "tipwatch.errors",
    "ConfigError": "tipwatch.errors",
    "ConflictError": "tipwatch.errors",
    "ExchangeError": "tipwatch.errors",
    "InputError": "tipwatch.errors",
    "InsufficientDataError": "tipwatch.errors",
    "NotFoundError": "tipwatch.errors",
    "RecordError": "tipwatch.errors",
    "StoreError": "tipwatch.errors",
    "TipwatchError": "tipwatch.errors",
    "TooManyAttempts": "tipwatch.errors",
    "UnsafeInputError": "tipwatch.errors",
    "Referral": "tipwatch.models",
    "Store": "tipwatch.store",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tipwatch' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

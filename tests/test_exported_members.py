"""The public names of the ``tipwatch`` package are deliberate: adding or dropping one is an API
change, so this list changes with it."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tipwatch
from tipwatch import errors, models, store

EXPORTED = [
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


def test_all_is_pinned() -> None:
    assert tipwatch.__all__ == EXPORTED


def test_every_exported_name_is_its_home_modules_object() -> None:
    homes = {"Referral": models, "Store": store}
    for name in EXPORTED:
        if name == "__version__":
            continue
        home = homes.get(name, errors)
        assert getattr(tipwatch, name) is getattr(home, name), name
    assert isinstance(tipwatch.__version__, str) and tipwatch.__version__


def test_every_error_is_exported() -> None:
    classes = {n for n in errors.__all__ if isinstance(getattr(errors, n), type)}
    assert classes <= set(tipwatch.__all__)


def test_star_import_gives_exactly_the_exported_names() -> None:
    namespace: dict[str, object] = {}
    exec("from tipwatch import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(EXPORTED)


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = tipwatch.no_such_name  # type: ignore[attr-defined]


def test_importing_tipwatch_loads_no_database_layer() -> None:
    code = (
        "import sys, tipwatch, tipwatch.errors; "
        "print(sorted(m for m in ('sqlalchemy', 'pydantic', 'tipwatch.store') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"

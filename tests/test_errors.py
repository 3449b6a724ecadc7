"""tipwatch.errors: the tree, hints, the exit-code and HTTP-status table, and the CLI's use of it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tipwatch
from tipwatch import errors
from tipwatch.cli import _HINT_AS_FLAG, app
from tipwatch.errors import (
    ERROR_STATUS,
    AccessDenied,
    ConfigError,
    ConflictError,
    InputError,
    InsufficientDataError,
    NotFoundError,
    RecordError,
    StoreError,
    TipwatchError,
    UnsafeInputError,
    exit_code_of,
    http_status_of,
)
from tipwatch.store import Store

SOURCE = Path(tipwatch.__file__).resolve().parent

ERROR_CLASSES = [
    getattr(errors, name)
    for name in errors.__all__
    if isinstance(getattr(errors, name), type) and issubclass(getattr(errors, name), Exception)
]


def test_every_exported_error_is_a_tipwatch_error_drawn_in_the_docstring() -> None:
    assert len(ERROR_CLASSES) == 13
    doc = errors.__doc__ or ""
    for cls in ERROR_CLASSES:
        assert issubclass(cls, TipwatchError)
        assert re.search(rf"[─ ]{cls.__name__}\b", doc), cls.__name__


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_class_has_a_status_directly_or_through_a_parent(cls: type) -> None:
    listed = [c for c in cls.__mro__ if c in ERROR_STATUS]
    assert listed, cls
    code, status = ERROR_STATUS[listed[0]]
    assert 1 <= code <= 125 and code not in (2, 126, 127)
    assert 400 <= status <= 599


def test_codes_are_looked_up_through_the_ancestors() -> None:
    assert exit_code_of(RecordError("bad", location="line 3")) == ERROR_STATUS[InputError][0]
    assert http_status_of(UnsafeInputError("deep")) == 422
    assert (exit_code_of(NotFoundError("x")), http_status_of(NotFoundError("x"))) == (66, 404)
    assert (exit_code_of(StoreError("x")), http_status_of(StoreError("x"))) == (69, 503)

    class LocalError(NotFoundError):
        pass

    assert exit_code_of(LocalError("x")) == 66 and http_status_of(LocalError("x")) == 404
    assert exit_code_of(ValueError("not ours")) == 1
    assert http_status_of(ValueError("not ours")) == 500


def test_codes_that_mean_different_things_differ() -> None:
    distinct = [
        TipwatchError,
        InputError,
        NotFoundError,
        StoreError,
        ConflictError,
        AccessDenied,
        ConfigError,
    ]
    assert len({ERROR_STATUS[c][0] for c in distinct}) == len(distinct)
    client_side = [InputError, NotFoundError, ConflictError, AccessDenied]
    assert len({ERROR_STATUS[c][1] for c in client_side}) == len(client_side)
    assert ERROR_STATUS[InsufficientDataError] == ERROR_STATUS[InputError]


def test_hint_is_an_optional_keyword_on_every_class() -> None:
    assert TipwatchError("plain").hint is None
    error = NotFoundError("no referral 'NOPE'", hint="list the referrals to find its id")
    assert error.hint == "list the referrals to find its id" and str(error) == "no referral 'NOPE'"
    record = RecordError("bad date", location="line 7", hint="fix the date")
    assert (record.location, record.hint) == ("line 7", "fix the date")


def test_access_denied_says_who_what_and_role() -> None:
    denied = AccessDenied("alice", "liaison", "import hash lists", hint="ask an admin")
    assert (denied.actor, denied.role, denied.action) == ("alice", "liaison", "import hash lists")
    assert str(denied) == "alice (role liaison) may not import hash lists"
    assert denied.hint == "ask an admin"
    assert (exit_code_of(denied), http_status_of(denied)) == (77, 403)
    conflict = ConflictError("the package for NL exists already")
    assert (exit_code_of(conflict), http_status_of(conflict)) == (73, 409)


# A flag in a message or hint: "--force", "use --geoip" (not "--" inside a word or a date).
_FLAG = re.compile(r"""(?<![\w-])--[a-z][a-z-]+""")
_RAISED_TEXT = re.compile(r"""(?:Error|Denied)\(\s*(?:f?"[^"]*"\s*)+|hint=\s*(?:f?"[^"]*"\s*)+""")


def test_library_messages_name_no_cli_flag() -> None:
    offenders = []
    for path in SOURCE.rglob("*.py"):
        if "cli" in path.relative_to(SOURCE).parts:
            continue
        text = path.read_text(encoding="utf-8")
        for raised in _RAISED_TEXT.finditer(text):
            if _FLAG.search(raised[0]):
                offenders.append(f"{path.relative_to(SOURCE)}: {raised[0][:80]}")
    assert offenders == []


def test_each_hint_the_cli_renders_as_a_flag_is_a_library_hint() -> None:
    library = "\n".join(
        p.read_text(encoding="utf-8")
        for p in SOURCE.rglob("*.py")
        if "cli" not in p.relative_to(SOURCE).parts
    )
    for hint, rendered in _HINT_AS_FLAG.items():
        assert f'hint="{hint}"' in library, hint
        assert _FLAG.search(rendered) and not _FLAG.search(hint)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> str:
    path = tmp_path / "tipwatch.db"
    Store.open(str(path)).close()
    return str(path)


def test_cli_exits_with_the_mapped_code_for_a_missing_referral(sqlite_store: str) -> None:
    result = CliRunner().invoke(app, ["referrals", "show", "NOPE", "--db", sqlite_store])
    assert result.exit_code == exit_code_of(NotFoundError("x")) == 66
    assert "error:" in result.output and "NOPE" in result.output


def test_cli_prints_the_hint_as_a_flag(tmp_path: Path, sqlite_store: str) -> None:
    args = ["assess", "--since", "2020-06-30", "--until", "2020-01-01", "--db", sqlite_store]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a.html")])
    assert result.exit_code == 65, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("error: the assessment's end (2020-01-01) is not after")
    assert lines[1] == "hint: give an --until date after the --since date"

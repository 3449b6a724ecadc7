"""Every help screen (tipwatch.cli._help): no Python type names, 80 columns, names intact."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from tipwatch.cli import app
from tipwatch.cli._docs import CommandEntry, iter_commands
from tipwatch.cli._help import reflow

runner = CliRunner()
ENTRIES = list(iter_commands(app))

# "<bool>", "<list[Path]>", "<int range>", a bare "list[str]" or "Path]": Python speaking.
PYTHON_TYPE = re.compile(
    r"<[A-Za-z_][\w\[\], |.-]*>|\b(?:list|tuple|dict|set|Optional|Union)\[|\b(?:Path|str|int)\]"
)


def _help(path: tuple[str, ...]) -> str:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, color=False)
    assert result.exit_code == 0, result.output
    return result.output


def _names_a_user_types(entry: CommandEntry) -> list[str]:
    """The option names and subcommand names shown on the screen."""
    names = []
    for param in entry.command.get_params(entry.ctx):
        names += [n for n in param.opts if n.startswith("-")]
        # A flag that is off by default shows only its positive form (see _help).
        if not (getattr(param, "is_flag", False) and param.default is False):
            names += [n for n in param.secondary_opts if n.startswith("-")]
    names += list(getattr(entry.command, "commands", {}))
    return names


def test_every_command_is_covered() -> None:
    paths = {" ".join(e.path) for e in ENTRIES}
    for expected in ("", "ingest", "referrals list", "lists export", "signals import", "assess"):
        assert expected in paths
    assert len(ENTRIES) > 30


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: " ".join(e.path) or "tipwatch")
def test_help_screen_is_plain_and_fits_80_columns(entry: CommandEntry) -> None:
    out = _help(entry.path)
    found = PYTHON_TYPE.search(out)
    assert found is None, f"Python type name {found.group()!r} on the help screen"
    too_wide = [line for line in out.splitlines() if len(line) > 80]
    assert not too_wide, too_wide
    assert "…" not in out, "something on the help screen was cut short"
    for name in _names_a_user_types(entry):
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", out), (
            f"{name} is not shown whole at 80 columns"
        )


def test_value_types_are_shown_in_words() -> None:
    out = _help(("ingest",))
    assert re.search(r"--batch-size +INTEGER \[x>=1\]", out)
    assert re.search(r"--db +TEXT", out)
    assert re.search(r"paths\.\.\. +PATH ", out)
    assert re.search(r"--input-format +xml\|jsonl\|csv", out)
    # A flag takes no value, so it shows no type.
    assert re.search(r"--revisions +Also show earlier versions", _help(("referrals", "show")))


def test_the_hidden_negative_form_is_still_accepted() -> None:
    # The help screen leaves --no-include-retired out; the parser must still know it.
    result = runner.invoke(app, ["lists", "export", "--no-include-retired", "--help"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["lists", "export", "--no-such-flag", "--help"])
    assert result.exit_code == 2


def test_reflow_joins_prose_lines_and_keeps_lists() -> None:
    assert reflow("One line\nand the next.\n\nSecond.") == "One line and the next.\n\nSecond."
    listed = "Steps:\n- first\n- second"
    assert reflow(listed) == listed
    kept = "\b\nkeep\nthese"
    assert reflow(kept) == kept

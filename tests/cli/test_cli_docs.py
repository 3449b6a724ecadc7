"""docs/cli.md is generated from the commands (tipwatch.cli._docs) and kept current."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from tipwatch.cli import app
from tipwatch.cli._docs import iter_commands, render_cli_docs

CLI_MD = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_docs_are_current() -> None:
    assert CLI_MD.read_text(encoding="utf-8") == render_cli_docs(app), (
        "docs/cli.md is stale: run make docs"
    )


def test_every_command_and_option_is_documented_in_help_order() -> None:
    text = render_cli_docs(app)
    entries = list(iter_commands(app))
    headings = [f"## {' '.join(('tipwatch', *e.path))}\n" for e in entries]
    positions = [text.find(h) for h in headings]
    assert -1 not in positions, [h for h, p in zip(headings, positions, strict=True) if p < 0]
    assert positions == sorted(positions), "sections are not in the order of tipwatch --help"
    for entry in entries:
        section = text[text.find(headings[entries.index(entry)]) :]
        for param in entry.command.params:
            for name in [*param.opts, *param.secondary_opts]:
                if name.startswith("-"):
                    assert f"`{name}`" in section, f"{name} of {entry.path} is not documented"


def test_the_reference_states_usage_help_defaults_and_types() -> None:
    text = render_cli_docs(app)
    ingest = text[text.index("### tipwatch ingest\n") : text.index("### tipwatch hash\n")]
    assert "tipwatch ingest [OPTIONS]" in ingest
    assert "Read referrals (CyberTipline XML, JSON Lines, CSV) into the store" in ingest
    assert "- `--batch-size` *INTEGER*: Records per transaction. (at least 1; default: `500`)" in (
        ingest
    )
    assert "- `--format` / `-f` *table|json*: Output format of the summary." in ingest
    assert "`PATHS...` *PATH*" in ingest
    # A Python type name or terminal escape never reaches the Markdown.
    for unwanted in ("<bool>", "<str>", "list[", "Path]", "\x1b["):
        assert unwanted not in text


def test_the_reference_does_not_depend_on_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    first = render_cli_docs(app)
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert render_cli_docs(app) == first


def test_a_new_command_appears_in_the_reference() -> None:
    demo_app = typer.Typer(rich_markup_mode="rich")

    @demo_app.command()
    def first(
        count: int = typer.Option(3, "--count", help="How many [bold]times[/]."),
    ) -> None:
        """Do the first thing."""

    @demo_app.command()
    def second() -> None:
        """Do the second thing."""

    text = render_cli_docs(demo_app)
    assert "### tipwatch first" in text and "### tipwatch second" in text
    assert "- `--count` *INTEGER*: How many times. (default: `3`)" in text

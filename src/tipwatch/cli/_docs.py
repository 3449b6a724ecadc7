"""The command reference, ``docs/cli.md``, generated from the commands themselves.

``make docs`` (``python -m tipwatch.cli._docs docs/cli.md``) rewrites it; a test fails when
the file differs from what the commands say now. The output depends on nothing but the
commands: no terminal width, no colour, no environment.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import typer
import typer.main
from rich.text import Text
from typer.core import TyperArgument, TyperGroup, TyperOption

from tipwatch.cli._help import plain_type, reflow

PROGRAM = "tipwatch"


@dataclass(frozen=True)
class CommandEntry:
    """One command or group of the tree, with the context it is shown in."""

    path: tuple[str, ...]
    """The words after ``tipwatch`` that name it (empty for ``tipwatch`` itself)."""
    command: Any
    ctx: typer.Context


def iter_commands(app: typer.Typer) -> Iterator[CommandEntry]:
    """Every command and group under ``app``, depth first, in the order ``--help`` lists them;
    hidden ones are left out."""
    root = typer.main.get_command(app)
    yield from _walk(root, typer.Context(root, info_name=PROGRAM), ())


def _walk(command: Any, ctx: typer.Context, path: tuple[str, ...]) -> Iterator[CommandEntry]:
    yield CommandEntry(path, command, ctx)
    if isinstance(command, TyperGroup):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            yield from _walk(sub, typer.Context(sub, info_name=name, parent=ctx), (*path, name))


def _text(command: Any, text: str | None) -> str:
    """Help text as it reads on screen: Rich markup resolved, the part after ``\\f`` left out."""
    if not text:
        return ""
    text = reflow(text.partition("\f")[0].replace("\b\n", "").strip())
    if getattr(command, "rich_markup_mode", None) == "rich":
        text = Text.from_markup(text).plain
    return text


def _default(param: Any, ctx: typer.Context) -> str | None:
    """The default as the help screen states it, or ``None`` where it states none."""
    show = getattr(param, "show_default", None)
    if show is False or param.required:
        return None
    if isinstance(show, str):
        return show
    value = param.get_default(ctx, call=False)
    if callable(value):
        return "(dynamic)"
    if value is None or value == () or value == []:
        return None
    if isinstance(param, TyperOption) and param.is_flag:
        # A flag is off unless given; only one that is on by default has a default to state.
        return param.opts[0] if value and param.secondary_opts else None
    if isinstance(value, (list, tuple)):
        return ", ".join(_scalar(v) for v in value)
    return _scalar(value)


def _scalar(value: Any) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def _param_line(entry: CommandEntry, param: Any) -> str:
    kind = plain_type(param, entry.ctx)
    if isinstance(param, TyperArgument):
        name = (param.metavar or param.name or "").upper()
        if param.nargs != 1:
            name += "..."
        label = f"`{name}`"
    else:
        names = [*param.opts, *param.secondary_opts]
        label = " / ".join(f"`{n}`" for n in names)
    if kind:
        label += f" *{kind}*"
    notes = []
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is not None and high is not None:
        notes.append(f"from {low} to {high}")
    elif low is not None:
        notes.append(f"at least {low}")
    elif high is not None:
        notes.append(f"at most {high}")
    if param.required:
        notes.append("required")
    default = _default(param, entry.ctx)
    if default is not None:
        notes.append(f"default: `{default}`")
    envvar = getattr(param, "envvar", None)
    if envvar:
        envvars = [envvar] if isinstance(envvar, str) else list(envvar)
        notes.append("environment: " + ", ".join(f"`${e}`" for e in envvars))
    line = f"- {label}"
    help_text = _text(entry.command, getattr(param, "help", None))
    if help_text:
        line += f": {' '.join(help_text.split())}"
    if notes:
        line += f" ({'; '.join(notes)})"
    return line


def _usage(entry: CommandEntry) -> str:
    pieces = entry.command.collect_usage_pieces(entry.ctx)
    return " ".join([entry.ctx.command_path, *pieces])


def _section(entry: CommandEntry) -> list[str]:
    title = " ".join((PROGRAM, *entry.path))
    # tipwatch is a level-2 heading, its commands level 3, their subcommands level 4.
    lines = [f"{'#' * (len(entry.path) + 2)} {title}", ""]
    lines += ["```", _usage(entry), "```", ""]
    help_text = _text(entry.command, entry.command.help)
    if help_text:
        lines += [help_text, ""]
    # --help is on every command; the introduction says so once.
    params = [
        p
        for p in entry.command.get_params(entry.ctx)
        if not getattr(p, "hidden", False) and p.name != "help"
    ]
    arguments = [p for p in params if isinstance(p, TyperArgument)]
    options = [p for p in params if not isinstance(p, TyperArgument)]
    for heading, group in (("Arguments", arguments), ("Options", options)):
        if group:
            lines += [f"**{heading}**", ""]
            lines += [_param_line(entry, p) for p in group]
            lines.append("")
    if isinstance(entry.command, TyperGroup):
        subs = [
            (name, sub)
            for name in entry.command.list_commands(entry.ctx)
            if (sub := entry.command.get_command(entry.ctx, name)) is not None and not sub.hidden
        ]
        if subs:
            lines += ["**Commands**", ""]
            for name, sub in subs:
                anchor = "-".join((PROGRAM, *entry.path, name))
                summary = _text(sub, sub.get_short_help_str(limit=1000))
                lines.append(f"- [`{name}`](#{anchor}): {summary}")
            lines.append("")
    return lines


def render_cli_docs(app: typer.Typer) -> str:
    """The Markdown reference of every command under ``app``, in ``--help`` order."""
    lines = [
        "# Command reference",
        "",
        "<!-- Generated from the commands by `make docs`; do not edit by hand. -->",
        "",
        "Every `tipwatch` command and subcommand with its usage, arguments and options, in",
        "the order of `tipwatch --help`. Every command also takes `--help`, which shows the",
        "same on screen.",
        "",
    ]
    for entry in iter_commands(app):
        lines += _section(entry)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> None:
    """Write the reference to the file named as the argument, or to standard output."""
    from tipwatch.cli import app

    args = sys.argv[1:] if argv is None else argv
    text = render_cli_docs(app)
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()

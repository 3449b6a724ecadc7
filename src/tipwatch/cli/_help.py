"""Help screens in a user's words: value types as ``TEXT``, ``INTEGER``, ``PATH``, never Python's.

Typer labels each option and argument with its Python annotation (``<bool>``, ``<str>``,
``<list[Path]>``). :class:`TipwatchGroup`, the root command's class, relabels every parameter of
every command under it once the command tree is built, so a command added later needs nothing.
:func:`plain_type` is the label, shared with the generated reference (``docs/cli.md``).
The same class reflows the commands' docstrings (:func:`reflow`) and, on the screen only, leaves
out the ``--no-`` form of a flag that is off by default, so every screen reads at 80 columns.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

# Python's names for a value's type, as a user reads them.
_TYPE_WORDS = {
    "str": "TEXT",
    "int": "INTEGER",
    "float": "NUMBER",
    "path": "PATH",
    "file": "FILE",
    "dir": "FOLDER",
    "datetime": "DATE",
    "date": "DATE",
    "uuid": "UUID",
}
_LIST_OF = re.compile(r"^(?:list|tuple|set)\[(?P<inner>.*)\]$", re.IGNORECASE)


def plain_type(param: Any, ctx: typer.Context) -> str | None:
    """The type label of an option or argument (``None`` for a flag, which takes no value).

    An explicit ``metavar=`` wins; otherwise Typer's label is translated: ``<int range>`` is
    ``INTEGER``, ``<list[Path]>`` is ``PATH`` (the argument's ``...`` says it repeats), and a
    choice such as ``<table|json|csv>`` keeps its choices."""
    if getattr(param, "metavar", None):
        return str(param.metavar)
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    # Typer's own label, from its class (the relabelled parameter's method is this function).
    display = getattr(
        TyperArgument if isinstance(param, TyperArgument) else TyperOption,
        "display_type_rich",
        None,
    )
    raw = display(param, ctx) if display is not None else None
    if raw is None:
        return None
    label = str(raw).strip().removesuffix("...").removeprefix("<").removesuffix(">")
    while (match := _LIST_OF.match(label)) is not None:
        label = match.group("inner")
    if "|" in label:
        return label
    word = label.removesuffix(" range").strip()
    if word.lower() == "bool":
        return None
    return _TYPE_WORDS.get(word.lower(), word.upper() or "VALUE")


class _PlainOption(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        return plain_type(self, ctx)


class _PlainArgument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return plain_type(self, ctx)


def _relabel(params: list[Any]) -> None:
    # Only Typer's own classes are swapped (the subclasses add one method and no state); a
    # parameter of another class keeps its own labels.
    for param in params:
        if type(param) is TyperOption:
            param.__class__ = _PlainOption
        elif type(param) is TyperArgument:
            param.__class__ = _PlainArgument


def _is_off_by_default(param: Any) -> bool:
    return (
        isinstance(param, TyperOption)
        and param.is_flag
        and bool(param.secondary_opts)
        and param.default is False
    )


@contextmanager
def _without_redundant_negatives(params: list[Any]) -> Iterator[None]:
    """While a help screen is drawn, a flag that is off by default shows only its positive form:
    ``--no-include-sent`` (still accepted) is what happens anyway, and with its
    ``[default: no-include-sent]`` it squeezes the names column at 80 columns until option
    names are cut mid-word."""
    hidden = [(p, p.secondary_opts, p.show_default) for p in params if _is_off_by_default(p)]
    for param, _, _ in hidden:
        param.secondary_opts, param.show_default = [], False
    try:
        yield
    finally:
        for param, secondary, show_default in hidden:
            param.secondary_opts, param.show_default = secondary, show_default


class _PlainCommand(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)
        _relabel(params)  # includes --help, which is made per call
        return params

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with _without_redundant_negatives(self.get_params(ctx)):
            super().format_help(ctx, formatter)


class _PlainGroup(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)
        _relabel(params)
        return params

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with _without_redundant_negatives(self.get_params(ctx)):
            super().format_help(ctx, formatter)


def reflow(text: str) -> str:
    """A docstring's paragraphs as single lines, so the terminal (or Markdown) wraps them.

    Rich help keeps a docstring's line breaks, which at 80 columns leaves a one-word line
    after each source line. A paragraph marked ``\\b`` or holding a list or an indented block
    keeps its lines."""
    paragraphs = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.split("\n")
        kept = paragraph.startswith("\b") or any(
            line.startswith((" ", "\t", "- ", "* ")) for line in lines[1:]
        )
        paragraphs.append(paragraph if kept else " ".join(line.strip() for line in lines))
    return "\n\n".join(paragraphs)


def _relabel_tree(command: Any) -> None:
    if type(command) is TyperCommand:
        command.__class__ = _PlainCommand
    elif type(command) is TyperGroup:
        command.__class__ = _PlainGroup
    if command.help:
        command.help = reflow(command.help)
    for sub in getattr(command, "commands", {}).values():
        _relabel_tree(sub)


class TipwatchGroup(_PlainGroup):
    """The ``tipwatch`` command: Typer builds the subcommands first, so relabelling them here
    covers every command and subcommand, including ones added later."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for sub in self.commands.values():
            _relabel_tree(sub)

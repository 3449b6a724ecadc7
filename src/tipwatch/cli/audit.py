"""Audit commands: ``audit list`` and ``audit verify``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from tipwatch import services
from tipwatch.cli import (
    DbOption,
    FormatOption,
    ObjectFormat,
    OutputFormat,
    SinceOption,
    UntilOption,
    _actor,
    _emit,
    _fail,
    _open,
    _parse_time,
    _print_json,
    _run,
    app,
    console,
)

audit_app = typer.Typer(
    help="The append-only audit log: who did what, when; verify its hash chain.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")


@audit_app.command("list")
def audit_list(
    db: DbOption = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Only this actor.", show_default=False)
    ] = None,
    action: Annotated[
        str | None,
        typer.Option(help="Only this action, or a prefix such as 'referral.'.", show_default=False),
    ] = None,
    object_type: Annotated[
        str | None, typer.Option(help="Only this kind of object.", show_default=False)
    ] = None,
    object_id: Annotated[
        str | None, typer.Option(help="Only events on this object id.", show_default=False)
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.", min=1)] = 100,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """List audit events with filters."""

    def body() -> None:
        events = services.audit.list_events(
            _open(db),
            _actor(),
            who=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            since=_parse_time(since, "--since"),
            until=_parse_time(until, "--until", end=True),
            limit=limit,
        )
        rows = [e.as_dict() for e in events]
        if fmt is OutputFormat.TABLE:
            for row in rows:
                row["at"] = str(row["at"])[:16]  # ISO 8601 to the minute
                ids = row.get("object_ids") or []
                row["objects"] = ", ".join(ids[:3]) + (f" +{len(ids) - 3}" if len(ids) > 3 else "")
        _emit(
            rows,
            fmt,
            ("id", "at", "actor", "action", "objects", "outcome", "detail")
            if fmt is OutputFormat.TABLE
            else list(rows[0].keys())
            if rows
            else ["id"],
        )

    _run(body)


@audit_app.command("verify")
def audit_verify(
    db: DbOption = None,
    fmt: Annotated[
        ObjectFormat, typer.Option("--format", "-f", help="table (a sentence) or json.")
    ] = ObjectFormat.TABLE,
) -> None:
    """Check every audit entry's hash and the chain between them.

    Exits with status 1 and names the first bad entry when any entry was edited, deleted or
    reordered.
    """

    def body() -> None:
        result = services.audit.verify(_open(db), _actor())
        if fmt is ObjectFormat.JSON:
            _print_json(
                {
                    "ok": result.ok,
                    "checked": result.checked,
                    "first_bad_id": result.first_bad_id,
                    "problem": result.problem,
                }
            )
        elif result.ok:
            console.print(Text(f"audit log intact: {result.checked:,} entries verified"))
        if not result.ok:
            _fail(f"the audit log has been altered: {result.problem}")

    _run(body)

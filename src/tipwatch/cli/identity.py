"""Identity commands: ``users``, ``tokens``, and ``serve`` (the REST API)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.text import Text

from tipwatch import services
from tipwatch.cli import (
    DbOption,
    FormatOption,
    OutputFormat,
    _actor,
    _emit,
    _open,
    _run,
    app,
    console,
    err_console,
)

users_app = typer.Typer(
    help="Users of the REST API and web pages: add, list, disable, reset a password, change a "
    "role, unlock after failed logins.",
    no_args_is_help=True,
)
tokens_app = typer.Typer(
    help="API tokens: create (the secret is shown once), list, revoke.", no_args_is_help=True
)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")

_USER_COLUMNS = ("name", "role", "country", "disabled", "totp", "locked_until", "created_at")
_TOKEN_COLUMNS = ("token_id", "user", "name", "scopes", "state", "expires_at", "created_by")

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from standard input (one line) instead of asking for it.",
    ),
]
CountryOption = Annotated[
    str | None,
    typer.Option(
        "--country",
        help="The country (ISO code) a liaison officer receives packages for; needed for "
        "the liaison role.",
        show_default=False,
    ),
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


def _print_enrolment(user: dict[str, Any]) -> None:
    enrolment = user.get("totp_enrolment")
    console.print(
        Text(
            f"user {user['name']}: role {user['role']}"
            + (f", country {user['country']}" if user.get("country") else "")
        )
    )
    if enrolment:
        console.print(
            Text(
                "TOTP secret (shown once; add it to an authenticator app): "
                f"{enrolment['secret']}\n{enrolment['uri']}"
            )
        )


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The user's login name.")],
    role: Annotated[
        str,
        typer.Option(
            "--role", help="admin, analyst, reviewer, liaison, auditor or ingest (a service)."
        ),
    ],
    country: CountryOption = None,
    totp: Annotated[
        bool,
        typer.Option(
            "--totp",
            help="Enrol a TOTP second factor (always done for admin and reviewer).",
        ),
    ] = False,
    password_stdin: PasswordStdin = False,
    db: DbOption = None,
) -> None:
    """Add a user. Admins and reviewers get a TOTP secret, printed once."""

    def body() -> None:
        password = _password(password_stdin)
        user = services.identity.add_user(
            _open(db), _actor(), name, role, password, country=country, totp=totp
        )
        _print_enrolment(user)

    _run(body)


@users_app.command("list")
def users_list(db: DbOption = None, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """List the users, their roles and whether they are disabled or locked."""

    def body() -> None:
        rows = services.identity.list_users(_open(db), _actor())
        _emit(rows, fmt, list(_USER_COLUMNS) if fmt is OutputFormat.TABLE else _all(rows))

    _run(body)


def _all(rows: list[dict[str, Any]]) -> list[str]:
    return list(rows[0]) if rows else ["name"]


@users_app.command("disable")
def users_disable(
    name: Annotated[str, typer.Argument(help="The user's login name.")],
    db: DbOption = None,
) -> None:
    """Disable a user: its sessions end and its tokens are revoked."""

    def body() -> None:
        services.identity.disable_user(_open(db), _actor(), name)
        console.print(Text(f"user {name} disabled; its sessions ended, its tokens revoked"))

    _run(body)


@users_app.command("reset-password")
def users_reset_password(
    name: Annotated[str, typer.Argument(help="The user's login name.")],
    password_stdin: PasswordStdin = False,
    db: DbOption = None,
) -> None:
    """Set a new password for a user; its sessions end."""

    def body() -> None:
        services.identity.reset_password(_open(db), _actor(), name, _password(password_stdin))
        console.print(Text(f"password of {name} reset; its sessions ended"))

    _run(body)


@users_app.command("roles")
def users_roles(
    name: Annotated[str, typer.Argument(help="The user's login name.")],
    role: Annotated[str, typer.Option("--role", help="The new role.")],
    country: CountryOption = None,
    db: DbOption = None,
) -> None:
    """Change a user's role (and country). A new admin or reviewer is enrolled in TOTP."""

    def body() -> None:
        user = services.identity.set_role(_open(db), _actor(), name, role, country=country)
        _print_enrolment(user)

    _run(body)


@users_app.command("unlock")
def users_unlock(
    name: Annotated[str, typer.Argument(help="The user's login name.")],
    db: DbOption = None,
) -> None:
    """Unlock a user locked out by failed logins (the unlock is audited)."""

    def body() -> None:
        services.identity.unlock_user(_open(db), _actor(), name)
        console.print(Text(f"user {name} unlocked"))

    _run(body)


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Argument(help="The user the token acts as.")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            help="What the token may do: ingest, read, match, route, admin (repeat the "
            "option for several). The user's role limits it further.",
        ),
    ],
    name: Annotated[
        str, typer.Option("--name", help="What the token is for (a system, a script).")
    ] = "api",
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            help="Days until it expires. Default: the token_days setting (90).",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Create an API token. Its secret is printed once, alone on standard output (the
    details go to standard error), and never stored."""

    def body() -> None:
        secret, row = services.identity.create_token(
            _open(db), _actor(), user, name, scope, days=days
        )
        err_console.print(
            Text(
                f"token {row['token_id']} for {user} ({' '.join(row['scopes'])}), expires "
                f"{row['expires_at'].isoformat()}Z; the secret below is shown only now:"
            )
        )
        sys.stdout.write(secret + "\n")

    _run(body)


@tokens_app.command("list")
def tokens_list(
    user: Annotated[
        str | None, typer.Option("--user", help="Only this user's tokens.", show_default=False)
    ] = None,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """List API tokens (never their secrets): active, expired or revoked."""

    def body() -> None:
        rows = services.identity.list_tokens(_open(db), _actor(), user=user)
        _emit(rows, fmt, list(_TOKEN_COLUMNS) if fmt is OutputFormat.TABLE else _all(rows))

    _run(body)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (from tokens list).")],
    db: DbOption = None,
) -> None:
    """Revoke an API token at once."""

    def body() -> None:
        services.identity.revoke_token(_open(db), _actor(), token_id)
        console.print(Text(f"token {token_id} revoked"))

    _run(body)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            help="Server processes. More than one needs a PostgreSQL store (an SQLite store "
            "has one writer at a time).",
            min=1,
        ),
    ] = 1,
    db: DbOption = None,
) -> None:
    """Serve the analysts' workspace (sign in at /) and the REST API (/api/v1; /openapi.json)."""

    def body() -> None:
        import uvicorn

        from tipwatch.errors import ConfigError
        from tipwatch.settings import export_to_children, get_settings

        url = db or get_settings().db
        store = _open(url)  # migrates, and refuses a missing SQLite file now
        dialect = store.dialect
        store.close()
        if workers > 1 and dialect != "postgresql":
            raise ConfigError(
                "several server processes need a PostgreSQL store",
                hint="use one process with an SQLite store, or a PostgreSQL store",
            )
        export_to_children(db=url)  # each worker process opens the same store
        err_console.print(
            Text(f"serving the tipwatch API on http://{host}:{port}/api/v1 ({dialect} store)")
        )
        uvicorn.run(
            "tipwatch.web.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
        )

    _run(body)

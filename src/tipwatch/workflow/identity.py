"""Users, API tokens and web sessions.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's second recommended
profile). API tokens and session cookies are random secrets shown once; the store keeps only
their SHA-256 (they are long and random, so a slow hash adds nothing). A token reads
``tw_<id>_<secret>``: the id finds the row, the secret proves possession.

Logins are throttled: after ``max_failures`` failures in a row an account is locked for a
while; only a success or an administrator's unlock resets the count. A TOTP code is accepted
once: the time step of the last code accepted is kept per user (``users.totp_last_step``) and
a code of that step or an earlier one is refused, even inside its window.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from tipwatch.errors import AuthenticationError, ConflictError, InputError, NotFoundError
from tipwatch.store.schema import api_tokens, users, web_sessions

__all__ = [
    "PENDING_MARK",
    "TOKEN_PREFIX",
    "TOTP_ROLES",
    "LoginResult",
    "add_user",
    "begin_second_factor",
    "check_password",
    "create_session",
    "create_token",
    "end_session",
    "get_user",
    "hash_password",
    "list_tokens",
    "list_users",
    "login",
    "now_utc",
    "redeem_second_factor",
    "resolve_session",
    "resolve_token",
    "resolve_token_until",
    "revoke_token",
    "totp_uri",
    "update_user",
    "verify_password",
]

TOKEN_PREFIX = "tw_"
TOTP_ROLES = frozenset({"admin", "reviewer"})
"""Roles that must give a TOTP code at login."""
_SESSION_PREFIX = "tws_"
_PENDING_PREFIX = "twp_"
PENDING_MARK = "*second-factor-pending*"
"""Held in a ``web_sessions`` row's CSRF column while the row is a sign-in waiting for its
second factor, not a session: a real CSRF token never contains ``*``, and a pending row is
never resolved as a session."""


def now_utc() -> datetime:
    """Now, as the store keeps times: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def hash_password(password: str) -> str:
    from argon2 import PasswordHasher

    return PasswordHasher().hash(password)


def verify_password(encoded: str, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return PasswordHasher().verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_HASH: str | None = None


def _spend_like_a_verify(password: str) -> None:
    """Spend the time of a real verification, so that an unknown user name is not told apart
    from a wrong password by the time the answer takes."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_hex(16))
    verify_password(_DUMMY_HASH, password)


def check_password(password: str, *, min_length: int) -> None:
    """Refuse a password that is too short or is only blanks."""
    if len(password) < min_length or not password.strip():
        raise InputError(
            f"a password has at least {min_length} characters",
            hint="choose a longer password (a passphrase of several words is easiest)",
        )


def totp_uri(name: str, secret: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (as a QR code or typed in)."""
    import pyotp

    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name="tipwatch")


def _user_dict(row: Any) -> dict[str, Any]:
    return {
        "name": row.name,
        "role": row.role,
        "country": row.country,
        "disabled": bool(row.disabled),
        "totp": row.totp_secret is not None,
        "failed_logins": row.failed_logins,
        "locked_until": row.locked_until,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "password_changed_at": row.password_changed_at,
    }


def _user_row(conn: Connection, name: str) -> Any:
    row = conn.execute(select(users).where(users.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no user named {name!r}")
    return row


def get_user(conn: Connection, name: str) -> dict[str, Any]:
    return _user_dict(_user_row(conn, name))


def list_users(conn: Connection) -> list[dict[str, Any]]:
    return [_user_dict(r) for r in conn.execute(select(users).order_by(users.c.name))]


def add_user(
    conn: Connection,
    name: str,
    role: str,
    password: str,
    *,
    created_by: str,
    country: str | None = None,
    totp: bool = False,
) -> tuple[dict[str, Any], str | None]:
    """Add a user; returns it and its new TOTP secret (``None`` without one)."""
    import pyotp

    if not name.strip() or len(name) > 200:
        raise InputError("a user name has 1 to 200 characters, not only blanks")
    if conn.execute(select(users.c.id).where(users.c.name == name)).first() is not None:
        raise ConflictError(f"there is already a user named {name!r}")
    secret = pyotp.random_base32() if (totp or role in TOTP_ROLES) else None
    now = now_utc()
    conn.execute(
        insert(users).values(
            name=name,
            role=role,
            country=country,
            password_hash=hash_password(password),
            totp_secret=secret,
            disabled=False,
            failed_logins=0,
            locked_until=None,
            created_by=created_by,
            created_at=now,
            password_changed_at=now,
        )
    )
    return get_user(conn, name), secret


def update_user(
    conn: Connection,
    name: str,
    *,
    role: str | None = None,
    country: str | None = None,
    clear_country: bool = False,
    password: str | None = None,
    disabled: bool | None = None,
    unlock: bool = False,
    new_totp: bool = False,
) -> tuple[dict[str, Any], str | None]:
    """Change a user; returns it and a new TOTP secret when one was made.

    A role that needs TOTP gets a secret if the user has none. Disabling a user or changing
    its password ends its sessions; disabling also revokes its tokens.
    """
    import pyotp

    row = _user_row(conn, name)
    values: dict[str, Any] = {}
    now = now_utc()
    if role is not None:
        values["role"] = role
    if country is not None:
        values["country"] = country
    elif clear_country:
        values["country"] = None
    if password is not None:
        values["password_hash"] = hash_password(password)
        values["password_changed_at"] = now
    if disabled is not None:
        values["disabled"] = disabled
    if unlock:
        values["failed_logins"] = 0
        values["locked_until"] = None
    secret: str | None = None
    if new_totp or (role in TOTP_ROLES and row.totp_secret is None):
        secret = pyotp.random_base32()
        values["totp_secret"] = secret
    if values:
        conn.execute(update(users).where(users.c.id == row.id).values(**values))
    if password is not None or disabled:
        conn.execute(
            update(web_sessions)
            .where(web_sessions.c.user_id == row.id, web_sessions.c.ended_at.is_(None))
            .values(ended_at=now)
        )
    if disabled:
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.user_id == row.id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return get_user(conn, name), secret


@dataclass(frozen=True, slots=True)
class LoginResult:
    """What a login attempt came to. ``user`` is set when the name is known."""

    ok: bool
    user: dict[str, Any] | None
    reason: str
    """For the audit log: why it failed (never shown to the caller)."""
    locked_now: bool = False
    pending: bool = False
    """The password was right and the second factor is still to come."""


def _failed(
    conn: Connection,
    row: Any,
    user: dict[str, Any],
    reason: str,
    *,
    max_failures: int,
    lockout: timedelta,
    now: datetime,
) -> LoginResult:
    failures = row.failed_logins + 1
    locked = failures >= max_failures
    conn.execute(
        update(users)
        .where(users.c.id == row.id)
        .values(failed_logins=failures, locked_until=now + lockout if locked else None)
    )
    if locked:
        reason += f"; locked after {failures} failures"
    return LoginResult(False, user, reason, locked_now=locked)


def _succeeded(conn: Connection, row: Any, user: dict[str, Any]) -> LoginResult:
    conn.execute(
        update(users).where(users.c.id == row.id).values(failed_logins=0, locked_until=None)
    )
    return LoginResult(True, user, "ok")


def _refusal_before_password(row: Any, user: dict[str, Any], now: datetime) -> str | None:
    if row.disabled:
        return "disabled"
    if row.locked_until is not None and row.locked_until > now:
        return f"locked until {row.locked_until.isoformat()}Z"
    return None


def _code_step(secret: str, code: str | None, now: datetime) -> int | None:
    """The TOTP time step whose code ``code`` is (the step before ``now``'s, its own or the
    next, for clocks a little apart), or ``None`` when it is none of them."""
    import pyotp

    given = (code or "").strip()
    if not given:
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now.replace(tzinfo=UTC))
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), given):
            return step
    return None


def _take_code(conn: Connection, row: Any, code: str | None, now: datetime) -> str | None:
    """Accept ``code`` for the user of ``row`` once: its time step must come after the last
    step accepted for the user, which it then becomes (a conditional update, so that two
    logins racing with one code cannot both win). ``None`` when accepted, else why not."""
    step = _code_step(row.totp_secret, code, now)
    if step is None:
        return "wrong or missing TOTP code"
    u = users.c
    taken = conn.execute(
        update(users)
        .where(u.id == row.id, or_(u.totp_last_step.is_(None), u.totp_last_step < step))
        .values(totp_last_step=step)
    )
    if not taken.rowcount:
        return "TOTP code already used"
    return None


def login(
    conn: Connection,
    name: str,
    password: str,
    totp_code: str | None,
    *,
    max_failures: int,
    lockout: timedelta,
    now: datetime | None = None,
    defer_second_factor: bool = False,
) -> LoginResult:
    """Check a login and record its effect on the failure count (the caller commits it).

    With ``defer_second_factor``, a right password of a user who needs a second factor is
    answered ``pending`` (neither a success nor a failure: the count is left as it is, so
    only a full sign-in resets it); :func:`begin_second_factor` then opens the second step.
    """
    now = now or now_utc()
    row = conn.execute(select(users).where(users.c.name == name)).first()
    if row is None:
        _spend_like_a_verify(password)
        return LoginResult(False, None, "unknown user")
    user = _user_dict(row)
    refusal = _refusal_before_password(row, user, now)
    if refusal is not None:
        _spend_like_a_verify(password)
        return LoginResult(False, user, refusal)
    if not verify_password(row.password_hash, password):
        return _failed(
            conn, row, user, "wrong password", max_failures=max_failures, lockout=lockout, now=now
        )
    if row.totp_secret is not None or row.role in TOTP_ROLES:
        if row.totp_secret is None:
            return _failed(
                conn,
                row,
                user,
                "no TOTP enrolled for a role that needs it",
                max_failures=max_failures,
                lockout=lockout,
                now=now,
            )
        if defer_second_factor:
            return LoginResult(
                False, user, "password accepted; second factor pending", pending=True
            )
        refused = _take_code(conn, row, totp_code, now)
        if refused is not None:
            return _failed(
                conn, row, user, refused, max_failures=max_failures, lockout=lockout, now=now
            )
    return _succeeded(conn, row, user)


def begin_second_factor(
    conn: Connection, name: str, *, minutes: float, now: datetime | None = None
) -> tuple[str, datetime]:
    """A sign-in waiting for its second factor: a random token (shown once; the store keeps
    its SHA-256 in ``web_sessions``, marked :data:`PENDING_MARK`) and its expiry."""
    row = _user_row(conn, name)
    token = _PENDING_PREFIX + secrets.token_urlsafe(32)
    now = now or now_utc()
    expires = now + timedelta(minutes=minutes)
    conn.execute(
        insert(web_sessions).values(
            session_hash=_sha256(token),
            user_id=row.id,
            csrf_token=PENDING_MARK,
            created_at=now,
            expires_at=expires,
            ended_at=None,
        )
    )
    return token, expires


def redeem_second_factor(
    conn: Connection,
    token: str,
    code: str | None,
    *,
    max_failures: int,
    lockout: timedelta,
    now: datetime | None = None,
) -> LoginResult:
    """Redeem a pending sign-in with its TOTP code. The token is used up by this attempt,
    right or wrong (a wrong code counts as a failed login; the password is asked again).
    An unknown, used or expired token is a failure without a user."""
    now = now or now_utc()
    s = web_sessions.c
    pending = conn.execute(
        select(web_sessions).where(s.session_hash == _sha256(token), s.csrf_token == PENDING_MARK)
    ).first()
    if pending is None:
        return LoginResult(False, None, "unknown second-factor token")
    row = conn.execute(select(users).where(users.c.id == pending.user_id)).first()
    if row is None:
        return LoginResult(False, None, "unknown second-factor token")
    user = _user_dict(row)
    used = conn.execute(
        update(web_sessions)
        .where(s.id == pending.id, s.ended_at.is_(None), s.expires_at > now)
        .values(ended_at=now)
    )
    if not used.rowcount:
        state = "used" if pending.ended_at is not None else "expired"
        return LoginResult(False, user, f"second-factor token {state}")
    refusal = _refusal_before_password(row, user, now)
    if refusal is not None:
        return LoginResult(False, user, refusal)
    refused = "no TOTP enrolled" if row.totp_secret is None else _take_code(conn, row, code, now)
    if refused is not None:
        return _failed(
            conn, row, user, refused, max_failures=max_failures, lockout=lockout, now=now
        )
    return _succeeded(conn, row, user)


def create_session(conn: Connection, name: str, *, hours: float) -> tuple[str, str, datetime]:
    """A new session for ``name``: (the cookie value, its CSRF token, its expiry)."""
    row = _user_row(conn, name)
    cookie = _SESSION_PREFIX + secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    now = now_utc()
    expires = now + timedelta(hours=hours)
    conn.execute(
        insert(web_sessions).values(
            session_hash=_sha256(cookie),
            user_id=row.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=expires,
            ended_at=None,
        )
    )
    return cookie, csrf, expires


def _live_user(conn: Connection, user_id: int) -> Any:
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    if row is None or row.disabled:
        raise AuthenticationError("the account is disabled", hint="log in again")
    return row


def resolve_session(conn: Connection, cookie: str) -> tuple[dict[str, Any], str]:
    """The user of a live session and the session's CSRF token."""
    s = web_sessions.c
    row = conn.execute(select(web_sessions).where(s.session_hash == _sha256(cookie))).first()
    if (
        row is None
        or row.csrf_token == PENDING_MARK
        or row.ended_at is not None
        or row.expires_at <= now_utc()
    ):
        raise AuthenticationError("the session has ended or expired", hint="log in again")
    return _user_dict(_live_user(conn, row.user_id)), row.csrf_token


def end_session(conn: Connection, cookie: str) -> bool:
    s = web_sessions.c
    done = conn.execute(
        update(web_sessions)
        .where(
            s.session_hash == _sha256(cookie),
            s.ended_at.is_(None),
            s.csrf_token != PENDING_MARK,
        )
        .values(ended_at=now_utc())
    )
    return bool(done.rowcount)


def _token_dict(row: Any, user_name: str) -> dict[str, Any]:
    now = now_utc()
    state = (
        "revoked"
        if row.revoked_at is not None
        else "expired"
        if row.expires_at <= now
        else "active"
    )
    return {
        "token_id": row.token_id,
        "user": user_name,
        "name": row.name,
        "scopes": row.scopes.split(),
        "expires_at": row.expires_at,
        "state": state,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "revoked_at": row.revoked_at,
        "last_used_at": row.last_used_at,
    }


def create_token(
    conn: Connection,
    user_name: str,
    name: str,
    scopes: list[str],
    *,
    expires_at: datetime,
    created_by: str,
) -> tuple[str, dict[str, Any]]:
    """A new token for ``user_name``: the secret (shown once) and its record."""
    user = _user_row(conn, user_name)
    if user.disabled:
        raise ConflictError(f"the user {user_name!r} is disabled")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    conn.execute(
        insert(api_tokens).values(
            token_id=token_id,
            secret_hash=_sha256(secret),
            user_id=user.id,
            name=name,
            scopes=" ".join(sorted(set(scopes))),
            expires_at=expires_at,
            created_by=created_by,
            created_at=now_utc(),
            revoked_at=None,
            last_used_at=None,
        )
    )
    row = conn.execute(select(api_tokens).where(api_tokens.c.token_id == token_id)).one()
    return f"{TOKEN_PREFIX}{token_id}_{secret}", _token_dict(row, user_name)


def resolve_token(conn: Connection, raw: str) -> tuple[dict[str, Any], frozenset[str]]:
    """The user a token acts for and the token's scopes; :class:`AuthenticationError` if the
    token is malformed, unknown, revoked or expired, or its user is disabled."""
    user, scopes, _expires = resolve_token_until(conn, raw)
    return user, scopes


def resolve_token_until(
    conn: Connection, raw: str
) -> tuple[dict[str, Any], frozenset[str], datetime]:
    """:func:`resolve_token` and the token's expiry (naive UTC)."""
    bad = AuthenticationError(
        "the token is not valid (unknown, revoked or expired)",
        hint="ask an administrator for a new token",
    )
    if not raw.startswith(TOKEN_PREFIX) or raw.count("_") < 2:
        raise bad
    token_id, _, secret = raw[len(TOKEN_PREFIX) :].partition("_")
    row = conn.execute(select(api_tokens).where(api_tokens.c.token_id == token_id)).first()
    if row is None or not hmac.compare_digest(row.secret_hash, _sha256(secret)):
        raise bad
    if row.revoked_at is not None or row.expires_at <= now_utc():
        raise bad
    return _user_dict(_live_user(conn, row.user_id)), frozenset(row.scopes.split()), row.expires_at


def list_tokens(conn: Connection, user_name: str | None = None) -> list[dict[str, Any]]:
    t, u = api_tokens.c, users.c
    query = select(api_tokens, u.name.label("user_name")).join(users, u.id == t.user_id)
    if user_name is not None:
        query = query.where(u.name == user_name)
    return [_token_dict(r, r.user_name) for r in conn.execute(query.order_by(t.created_at, t.id))]


def revoke_token(conn: Connection, token_id: str) -> dict[str, Any]:
    t = api_tokens.c
    row = conn.execute(
        select(api_tokens, users.c.name.label("user_name"))
        .join(users, users.c.id == t.user_id)
        .where(t.token_id == token_id)
    ).first()
    if row is None:
        raise NotFoundError(f"no token with id {token_id!r}")
    if row.revoked_at is not None:
        raise ConflictError(f"the token {token_id} was revoked already")
    conn.execute(update(api_tokens).where(t.id == row.id).values(revoked_at=now_utc()))
    return _token_dict(conn.execute(select(api_tokens).where(t.id == row.id)).one(), row.user_name)

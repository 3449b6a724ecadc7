"""Identity services: users, roles, logins, sessions and API tokens.

Administrators add users (``user.write``), change their roles, reset passwords, disable them
and unlock locked accounts (``user.unlock``), and issue and revoke API tokens
(``token.write``); each is an audited service call. A login is audited too, successful or
not: a failure is recorded with the failure count it raised, in the same transaction.

Resolving a token or a session cookie to an :class:`Actor` (:func:`authenticate_token`,
:func:`authenticate_session`) is not itself an action and is not audited: what the actor then
does is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from tipwatch.errors import AccessDenied, AuthenticationError, InputError
from tipwatch.services._unit import record, unit
from tipwatch.services.access import SCOPES, Actor, Role, may
from tipwatch.settings import get_settings
from tipwatch.store import Store

__all__ = [
    "SECOND_FACTOR_MINUTES",
    "SecondFactorNeeded",
    "Session",
    "add_user",
    "authenticate_session",
    "authenticate_token",
    "begin_login",
    "cached_token_actor",
    "create_token",
    "disable_user",
    "finish_login",
    "list_tokens",
    "list_users",
    "login",
    "logout",
    "require",
    "reset_password",
    "revoke_token",
    "set_role",
    "unlock_user",
]


def _role(role: str) -> str:
    try:
        return Role(role).value
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise InputError(f"no role {role!r}; the roles are {roles}") from None


def _country_for(role: str, country: str | None) -> str | None:
    from tipwatch.countries import require_country_code

    if country is None:
        if role == Role.LIAISON:
            raise InputError("a liaison officer needs a country: it sees only what is routed there")
        return None
    return require_country_code(country)


def _enrolment(name: str, secret: str | None) -> dict[str, str] | None:
    from tipwatch.workflow.identity import totp_uri

    if secret is None:
        return None
    return {"secret": secret, "uri": totp_uri(name, secret)}


def add_user(
    store: Store,
    actor: Actor,
    name: str,
    role: str,
    password: str,
    *,
    country: str | None = None,
    totp: bool = False,
) -> dict[str, Any]:
    """Add a user. Admins and reviewers always get a TOTP secret (others when ``totp``);
    it is returned once, under ``totp``, and never shown again."""
    from tipwatch.workflow.identity import add_user as _add
    from tipwatch.workflow.identity import check_password

    role = _role(role)
    check_password(password, min_length=get_settings().password_min_length)
    with unit(store, actor, "user.write", object_type="user", object_ids=[name]) as work:
        code = _country_for(role, country)
        user, secret = _add(
            work.conn,  # type: ignore[arg-type]
            name,
            role,
            password,
            created_by=actor.name,
            country=code,
            totp=totp,
        )
        work.detail = f"added with role {role}" + (f" for {code}" if code else "")
    return {**user, "totp_enrolment": _enrolment(name, secret)}


def list_users(store: Store, actor: Actor) -> list[dict[str, Any]]:
    from tipwatch.workflow.identity import list_users as _list

    with unit(store, actor, "user.read", object_type="user", writes=False) as work:
        return _list(work.conn)  # type: ignore[arg-type]


def disable_user(store: Store, actor: Actor, name: str) -> dict[str, Any]:
    """Disable a user: its sessions end and its tokens are revoked. An administrator does
    not disable its own account (that would lock out the one acting)."""
    from tipwatch.errors import ConflictError
    from tipwatch.workflow.identity import update_user

    with unit(store, actor, "user.write", object_type="user", object_ids=[name]) as work:
        if name == actor.name:
            raise ConflictError(
                f"{name} may not disable its own account",
                hint="ask another administrator to disable it",
            )
        _forget_tokens_on_commit(store)
        user, _ = update_user(work.conn, name, disabled=True)  # type: ignore[arg-type]
        work.detail = "disabled; sessions ended, tokens revoked"
    return user


def reset_password(store: Store, actor: Actor, name: str, password: str) -> dict[str, Any]:
    """Set a new password; the user's sessions end."""
    from tipwatch.workflow.identity import check_password, update_user

    check_password(password, min_length=get_settings().password_min_length)
    with unit(store, actor, "user.write", object_type="user", object_ids=[name]) as work:
        user, _ = update_user(work.conn, name, password=password)  # type: ignore[arg-type]
        work.detail = "password reset; sessions ended"
    return user


def set_role(
    store: Store, actor: Actor, name: str, role: str, *, country: str | None = None
) -> dict[str, Any]:
    """Change a user's role (and country). A role that needs TOTP enrols the user if needed;
    the new secret is returned once, under ``totp_enrolment``."""
    from tipwatch.workflow.identity import update_user

    role = _role(role)
    with unit(store, actor, "user.write", object_type="user", object_ids=[name]) as work:
        _forget_tokens_on_commit(store)
        code = _country_for(role, country)
        user, secret = update_user(
            work.conn,  # type: ignore[arg-type]
            name,
            role=role,
            country=code,
            clear_country=code is None,
        )
        work.detail = f"role {role}" + (f" for {code}" if code else "")
    return {**user, "totp_enrolment": _enrolment(name, secret)}


def unlock_user(store: Store, actor: Actor, name: str) -> dict[str, Any]:
    """End a lockout after failed logins, and reset the failure count."""
    from tipwatch.workflow.identity import update_user

    with unit(store, actor, "user.unlock", object_type="user", object_ids=[name]) as work:
        user, _ = update_user(work.conn, name, unlock=True)  # type: ignore[arg-type]
        work.detail = "unlocked"
    return user


def require(store: Store, actor: Actor, action: str) -> None:
    """Refuse at once, and audit the refusal, when ``actor`` may not perform ``action``: an
    interface checks this before it reads a request's body, so that a role without the right
    learns nothing from how its request would have been judged."""
    from tipwatch.services._unit import Work, _authorised

    _authorised(store, actor, action, Work(None, None))


@dataclass(frozen=True, slots=True)
class Session:
    """A login session: the cookie value (a secret), its CSRF token, expiry and actor."""

    cookie: str
    csrf_token: str
    expires_at: datetime
    actor: Actor


def _actor_of(user: dict[str, Any], scopes: frozenset[str] | None = None) -> Actor:
    return Actor(user["name"], Role(user["role"]), user["country"], scopes)


SECOND_FACTOR_MINUTES = 5
"""How long a sign-in waits for its second factor after the password was accepted."""


@dataclass(frozen=True, slots=True)
class SecondFactorNeeded:
    """The password was right; the sign-in goes on with the one-time code. ``token`` (a
    secret, single-use, shown this once) is redeemed with :func:`finish_login`."""

    token: str
    expires_at: datetime
    user: str


def _refused() -> AuthenticationError:
    return AuthenticationError(
        "the user name, password or one-time code is not right, or the account is locked",
        hint="try again; after repeated failures ask an administrator to unlock the account",
    )


def _conclude(store: Store, name: str, result: Any) -> Session | None:
    """Audit a login attempt's result; on success (and if the role may log in) open the
    session. Runs inside the caller's transaction. ``AccessDenied`` for a token-only role."""
    from tipwatch.workflow.identity import create_session

    user = result.user
    who = _actor_of(user) if user is not None else Actor(name[:200], Role.ANALYST)
    if not result.ok:
        record(
            store,
            who,
            "session.login",
            outcome="failed",
            detail=result.reason,
            object_type="user",
            object_ids=[name[:200]],
            role=None if user is not None else "unknown",
        )
        return None
    if not may(who, "session.login"):
        record(
            store,
            who,
            "session.login",
            outcome="denied",
            detail=f"the {who.role.value} role logs in with tokens only",
            object_type="user",
            object_ids=[name],
        )
        raise AccessDenied(who.name, who.role.value, "session.login", what="log in")
    with unit(store, who, "session.login", object_type="user", object_ids=[name]) as w:
        cookie, csrf, expires = create_session(
            w.conn,  # type: ignore[arg-type]
            name,
            hours=get_settings().session_hours,
        )
        w.detail = "session opened"
    return Session(cookie, csrf, expires, who)


def _address_refused(store: Store, name: str, key: str, until: datetime, now: datetime) -> None:
    """Audit and raise the refusal of a login from a client address that is held back."""
    from tipwatch.errors import TooManyAttempts

    seconds = math.ceil((until - now).total_seconds())
    record(
        store,
        Actor(name[:200], Role.ANALYST),
        "session.login",
        outcome="denied",
        detail=f"client address {key} refused until {until.isoformat()}Z "
        "after too many failed logins from it",
        object_type="user",
        object_ids=[name[:200]],
        role="unknown",
    )
    raise TooManyAttempts(
        "too many failed logins from this address: logins from it are refused for now",
        retry_after=seconds,
        hint=f"wait {seconds} seconds, then try again",
    )


def _attempt(store: Store, name: str, check: Any, client: str | None) -> Any:
    """Run ``check(conn)`` (a login step), its effect on the failure counts (the account's,
    and the client address's) and its audit event as one transaction; a denial is raised
    after the transaction is kept. A client address held back after too many failures is
    refused before anything is checked (:class:`~tipwatch.errors.TooManyAttempts`)."""
    from tipwatch.store.throttle import address_key, blocked_until, note_failure
    from tipwatch.workflow.identity import now_utc

    settings = get_settings()
    key = address_key(client) if settings.login_address_max_failures > 0 else None
    denied: AccessDenied | None = None
    outcome: Any = None
    with store.atomic() as conn:
        now = now_utc()
        until = blocked_until(conn, key, now) if key is not None else None
        if until is None:
            result = check(conn)
            if getattr(result, "pending", False):
                outcome = result
            else:
                if not result.ok and key is not None:
                    failures, blocked = note_failure(
                        conn,
                        key,
                        max_failures=settings.login_address_max_failures,
                        window=timedelta(minutes=settings.login_address_window_minutes),
                        block=timedelta(minutes=settings.login_address_block_minutes),
                        now=now,
                    )
                    if blocked is not None:
                        result = replace(
                            result,
                            reason=f"{result.reason}; client address {key} refused until "
                            f"{blocked.isoformat()}Z after {failures} failed logins from it",
                        )
                try:
                    outcome = _conclude(store, result.user["name"] if result.user else name, result)
                except AccessDenied as exc:
                    denied = exc
    if until is not None:
        assert key is not None
        _address_refused(store, name, key, until, now)
    if denied is not None:
        raise denied
    if outcome is None:
        raise _refused()
    return outcome


def login(
    store: Store,
    name: str,
    password: str,
    totp_code: str | None = None,
    *,
    client: str | None = None,
) -> Session:
    """Check a user's password (and TOTP code where needed) and open a session.

    Every attempt is audited (``session.login``, ok or failed with the reason). Too many
    failures in a row lock the account (settings ``login_max_failures`` and
    ``login_lockout_minutes``). The error says nothing of which part was wrong.
    """
    from tipwatch.workflow.identity import login as _login

    settings = get_settings()

    def check(conn: Any) -> Any:
        return _login(
            conn,
            name,
            password,
            totp_code,
            max_failures=settings.login_max_failures,
            lockout=timedelta(minutes=settings.login_lockout_minutes),
        )

    session: Session = _attempt(store, name, check, client)
    return session


def begin_login(
    store: Store, name: str, password: str, *, client: str | None = None
) -> Session | SecondFactorNeeded:
    """The first step of a sign-in in two: the password alone. A wrong password is a failed
    login (audited, counted towards the lockout) as with :func:`login`. A user without a
    second factor gets the session at once; one with a second factor gets a pending sign-in
    (:class:`SecondFactorNeeded`, valid :data:`SECOND_FACTOR_MINUTES` minutes, used once),
    audited as ``session.login`` ok with "password accepted; second factor pending".
    ``client`` is throttled as in :func:`login`."""
    from tipwatch.workflow.identity import begin_second_factor
    from tipwatch.workflow.identity import login as _login

    settings = get_settings()

    def check(conn: Any) -> Any:
        return _login(
            conn,
            name,
            password,
            None,
            max_failures=settings.login_max_failures,
            lockout=timedelta(minutes=settings.login_lockout_minutes),
            defer_second_factor=True,
        )

    outcome = _attempt(store, name, check, client)
    if isinstance(outcome, Session):
        return outcome
    who = _actor_of(outcome.user)
    if not may(who, "session.login"):
        record(
            store,
            who,
            "session.login",
            outcome="denied",
            detail=f"the {who.role.value} role logs in with tokens only",
            object_type="user",
            object_ids=[name],
        )
        raise AccessDenied(who.name, who.role.value, "session.login", what="log in")
    with unit(store, who, "session.login", object_type="user", object_ids=[name]) as w:
        token, expires = begin_second_factor(
            w.conn,  # type: ignore[arg-type]
            name,
            minutes=SECOND_FACTOR_MINUTES,
        )
        w.detail = "password accepted; second factor pending"
    return SecondFactorNeeded(token, expires, name)


def finish_login(store: Store, token: str, totp_code: str, *, client: str | None = None) -> Session:
    """The second step: redeem a pending sign-in with the TOTP code and open the session.
    The pending sign-in is used up by the attempt; a wrong code is a failed login (audited,
    counted), and an unknown, used or expired token is refused (audited too)."""
    from tipwatch.workflow.identity import redeem_second_factor

    settings = get_settings()

    def check(conn: Any) -> Any:
        return redeem_second_factor(
            conn,
            token,
            totp_code,
            max_failures=settings.login_max_failures,
            lockout=timedelta(minutes=settings.login_lockout_minutes),
        )

    session: Session = _attempt(store, "(second-factor token)", check, client)
    return session


def logout(store: Store, actor: Actor, cookie: str) -> None:
    from tipwatch.workflow.identity import end_session

    with unit(store, actor, "session.logout", object_type="user", object_ids=[actor.name]) as w:
        ended = end_session(w.conn, cookie)  # type: ignore[arg-type]
        w.detail = "session ended" if ended else "no live session"


def authenticate_session(store: Store, cookie: str) -> tuple[Actor, str]:
    """The actor of a live session cookie and the session's CSRF token."""
    from tipwatch.workflow.identity import resolve_session

    with store.read() as conn:
        user, csrf = resolve_session(conn, cookie)
    return _actor_of(user), csrf


class _TokenCache:
    """Tokens this process has resolved lately: (store, SHA-256 of the token) -> the actor and
    the monotonic time until which it may be reused. Only successes are kept.

    A change made through this process's services (a token revoked, a user disabled or given
    another role) empties it once its transaction has committed; the generation number keeps
    a lookup that read the store before that commit from putting its stale answer back."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._entries: dict[tuple[int, bytes], tuple[Actor, float]] = {}
        self.generation = 0

    @staticmethod
    def _key(store: Store, raw: str) -> tuple[int, bytes]:
        import hashlib

        return id(store), hashlib.sha256(raw.encode("utf-8", "surrogateescape")).digest()

    def get(self, store: Store, raw: str, now: float) -> Actor | None:
        key = self._key(store, raw)
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if found[1] <= now:
                del self._entries[key]
                return None
            return found[0]

    def put(self, store: Store, raw: str, actor: Actor, until: float, generation: int) -> None:
        with self._lock:
            if generation != self.generation:
                return  # an identity change committed while this token was being looked up
            if len(self._entries) >= _TOKEN_CACHE_SIZE:
                self._entries.clear()
            self._entries[self._key(store, raw)] = (actor, until)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()


_TOKEN_CACHE_SIZE = 10_000
_TOKENS = _TokenCache()


def _forget_tokens_on_commit(store: Store) -> None:
    """Empty the token cache once the open transaction (an identity change) has committed."""
    store.after_transaction(_TOKENS.clear)


def cached_token_actor(store: Store, raw: str) -> Actor | None:
    """The actor of ``raw`` if this process resolved it within its reuse delay (see
    :func:`authenticate_token`), else ``None``; never reads the store."""
    import time

    return _TOKENS.get(store, raw, time.monotonic())


def authenticate_token(store: Store, raw: str, *, reuse_seconds: float = 0.0) -> Actor:
    """The actor an API token acts as, narrowed to the token's scopes.

    With ``reuse_seconds`` (a server passes its ``api_token_cache_seconds`` setting), a token
    resolved by this process within that many seconds is not looked up again (and never past
    its expiry). A token revoked, or a user disabled or given another role, through this
    process's services is refused or changed at once; the same change made by another
    process is honoured within ``reuse_seconds``."""
    import time

    from tipwatch.workflow.identity import now_utc, resolve_token_until

    if reuse_seconds > 0:
        now = time.monotonic()
        known = _TOKENS.get(store, raw, now)
        if known is not None:
            return known
        generation = _TOKENS.generation
    with store.read() as conn:
        user, scopes, expires_at = resolve_token_until(conn, raw)
    actor = _actor_of(user, scopes)
    if reuse_seconds > 0:
        left = (expires_at - now_utc()).total_seconds()
        _TOKENS.put(store, raw, actor, now + min(reuse_seconds, left), generation)
    return actor


def create_token(
    store: Store,
    actor: Actor,
    user: str,
    name: str,
    scopes: Sequence[str],
    *,
    days: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """A new API token for ``user``: the secret (shown this once, never stored) and its
    record. It expires after ``days`` (default: the ``token_days`` setting)."""
    from tipwatch.workflow.identity import create_token as _create
    from tipwatch.workflow.identity import now_utc

    wanted = sorted(set(scopes))
    if not wanted:
        raise InputError(f"a token has at least one scope: {', '.join(SCOPES)}")
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown:
        raise InputError(f"no scope {unknown[0]!r}; the scopes are {', '.join(SCOPES)}")
    lifetime = days if days is not None else get_settings().token_days
    if not 1 <= lifetime <= 3650:
        raise InputError(f"a token lasts 1 to 3650 days, not {lifetime}")
    with unit(store, actor, "token.write", object_type="user", object_ids=[user]) as work:
        secret, row = _create(
            work.conn,  # type: ignore[arg-type]
            user,
            name,
            wanted,
            expires_at=now_utc() + timedelta(days=lifetime),
            created_by=actor.name,
        )
        work.detail = f"token {row['token_id']} ({' '.join(wanted)}) for {lifetime} days"
    return secret, row


def list_tokens(store: Store, actor: Actor, *, user: str | None = None) -> list[dict[str, Any]]:
    from tipwatch.workflow.identity import list_tokens as _list

    with unit(store, actor, "token.read", object_type="token", writes=False) as work:
        return _list(work.conn, user)  # type: ignore[arg-type]


def revoke_token(store: Store, actor: Actor, token_id: str) -> dict[str, Any]:
    from tipwatch.workflow.identity import revoke_token as _revoke

    with unit(store, actor, "token.write", object_type="token", object_ids=[token_id]) as work:
        _forget_tokens_on_commit(store)
        row = _revoke(work.conn, token_id)  # type: ignore[arg-type]
        work.detail = f"revoked (user {row['user']})"
    return row

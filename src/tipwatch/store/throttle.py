"""Failed logins counted per client address, across every account they named.

One row per address (``login_throttle``): the failures since the window began and, once they
reach the limit, when the address is refused until. The row is created with an insert that
ignores a conflict and counted with an ``UPDATE ... SET failures = failures + 1``, so that two
server processes counting the same address at once neither collide nor lose a failure.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tipwatch.store.schema import login_throttle

__all__ = ["address_key", "blocked_until", "note_failure"]

_IPV6_NETWORK = 64
"""An IPv6 client is counted by its /64 network: one host commonly holds a whole /64."""


def address_key(address: str | None) -> str | None:
    """What failures are counted under: an IPv4 address as it is (an IPv4-mapped IPv6
    address as its IPv4), an IPv6 address by its /64 network, anything else (a test client's
    name) lower-cased; ``None`` when the address is not known."""
    if address is None or not address.strip():
        return None
    text = address.strip()
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return text.lower()[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, _IPV6_NETWORK), strict=False))
    return str(ip)


def blocked_until(conn: Connection, key: str, now: datetime) -> datetime | None:
    """When logins from ``key`` are refused until, if they are refused at ``now``."""
    until = conn.execute(
        select(login_throttle.c.blocked_until).where(login_throttle.c.address == key)
    ).scalar()
    return until if until is not None and until > now else None


def note_failure(
    conn: Connection,
    key: str,
    *,
    max_failures: int,
    window: timedelta,
    block: timedelta,
    now: datetime,
) -> tuple[int, datetime | None]:
    """Count one failed login from ``key``; returns the failures in the window and, when this
    one reached ``max_failures``, the time the address is now refused until. After a block
    ends, a further failure within the same window blocks the address again."""
    t = login_throttle.c
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        insert(login_throttle)
        .values(address=key, failures=0, window_start=now, blocked_until=None)
        .on_conflict_do_nothing(index_elements=["address"])
    )
    # A window that has passed (and no block still running) starts again.
    conn.execute(
        update(login_throttle)
        .where(
            t.address == key,
            t.window_start <= now - window,
            or_(t.blocked_until.is_(None), t.blocked_until <= now),
        )
        .values(failures=0, window_start=now, blocked_until=None)
    )
    conn.execute(update(login_throttle).where(t.address == key).values(failures=t.failures + 1))
    failures = int(conn.execute(select(t.failures).where(t.address == key)).scalar_one())
    # Rows of addresses whose window and block are both over say nothing any more.
    conn.execute(
        delete(login_throttle).where(
            t.address != key,
            t.window_start <= now - window,
            or_(t.blocked_until.is_(None), t.blocked_until <= now),
        )
    )
    if failures < max_failures:
        return failures, None
    until = now + block
    conn.execute(
        update(login_throttle)
        .where(t.address == key, or_(t.blocked_until.is_(None), t.blocked_until <= now))
        .values(blocked_until=until)
    )
    return failures, until

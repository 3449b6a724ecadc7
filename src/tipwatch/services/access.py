"""Who may do what: the roles, the actions, and the one table between them.

Every service names its action (``referral.show``, ``route.create``...) and calls
:func:`authorise` before it touches the store. The table is deliberately small and explicit:
a role's rights are read off one line, and a new action is denied to everyone until it is
added here.

Roles:

- ``admin``: everything, including users, settings and verifying the audit log.
- ``analyst``: intake, matching, triage, routing, trends and the assessment; reads dossiers.
- ``reviewer``: an analyst who may also view media where a deployment keeps them (the
  only role that may: not an administrator, and never through a token).
- ``liaison``: a national liaison officer: reads the referrals and packages routed to its
  country (and only those), and acknowledges them.
- ``auditor``: reads the audit log and verifies it; changes nothing.
- ``ingest``: a service account of a partner system: writes referrals and hash lists only.

Two rules narrow a role further, and both fail closed:

- *Objects*: an actor tied to a country (a liaison officer) sees only referrals and packages
  routed to that country. A liaison officer with no country sees nothing. A referral that is
  not visible is reported as not found, exactly as one that does not exist.
- *Scopes*: an API token carries scopes (``ingest``, ``read``, ``match``, ``route``,
  ``admin``); an action is allowed only when the role allows it *and* one of the token's
  scopes covers it (:data:`SCOPE_ACTIONS`). A password session or the command line has no
  scopes to narrow it (``scopes`` is ``None``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tipwatch.errors import AccessDenied

__all__ = [
    "ACTIONS",
    "COUNTRY_BOUND_ROLES",
    "MEDIA_VIEWING",
    "PERMISSIONS",
    "SCOPES",
    "SCOPE_ACTIONS",
    "Actor",
    "Role",
    "authorise",
    "bound_country",
    "may",
]


class Role(StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"
    REVIEWER = "reviewer"
    LIAISON = "liaison"
    AUDITOR = "auditor"
    INGEST = "ingest"


COUNTRY_BOUND_ROLES = frozenset({Role.LIAISON})
"""Roles whose actor sees only what was routed to its own country."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a name for the audit log and the role that decides what is allowed.

    ``country`` ties a liaison officer to the country whose packages it receives; ``scopes``
    are an API token's (``None`` for a password session or the command line).
    """

    name: str
    role: Role
    country: str | None = None
    scopes: frozenset[str] | None = None

    @classmethod
    def of(cls, name: str, role: str, *, country: str | None = None) -> Actor:
        try:
            parsed = Role(role)
        except ValueError:
            from tipwatch.errors import ConfigError

            roles = ", ".join(r.value for r in Role)
            raise ConfigError(f"unknown role {role!r}; the roles are {roles}") from None
        return cls(name, parsed, country.upper() if country else None)


ACTIONS: dict[str, str] = {
    # referrals and intake
    "store.init": "create a store",
    "intake.ingest": "read referral files into the store",
    "referral.list": "list referrals",
    "referral.show": "read a referral's dossier",
    "referral.reindex": "write the search index of referrals stored before it existed",
    "quarantine.list": "list quarantined records",
    "quarantine.show": "read a quarantined record",
    "quarantine.retry": "read quarantined records again",
    "quarantine.dismiss": "set quarantined records aside with a reason",
    # media and matching
    "media.hash": "hash media files",
    "list.import": "import a hash list version",
    "list.read": "list and show hash lists",
    "list.export": "export a hash list",
    "list.remove": "remove a hash list",
    "match.run": "match media or referrals against the lists",
    "media.attach": "hand in the media of a referral's file (hashed; kept, sealed, only "
    "where the deployment keeps media)",
    "media.view": "see a referral's kept media, greyscale and blurred (reviewers only)",
    "media.reveal": "reveal a kept medium in full, counted as an exposure (reviewers only)",
    "list.connect": "feed a hash list from an exchange (NCMEC, StopNCII, ThreatExchange)",
    "list.sync": "sync a hash list from its exchange",
    "list.vote": "propose a vote on an exchange's entry, to be sent back to it",
    "list.vote.approve": "approve (and send) or reject another user's proposed vote",
    "list.hold": "release or retire an entry held for review (flood quarantine)",
    # triage and routing
    "triage.run": "attribute, link and score referrals",
    "queue.read": "read the queue",
    "links.read": "read links between referrals",
    "route.create": "make a routing package for a country",
    "route.preview": "see what a route would send, recording no package",
    "route.recall": "recall an unacknowledged routing package, returning its referrals",
    "route.ack": "record a package's acknowledgement or outcome by its recipient",
    "package.read": "list routing packages",
    "recipient.write": "register a recipient of routing packages",
    "recipient.read": "list the recipients of routing packages",
    # the URL list and blocked-access accounting
    "url.import": "import a URL list version",
    "url.read": "list URL lists, their versions and differences",
    "url.check": "check URLs against the URL lists",
    "url.export": "export a URL list for filters",
    "url.ingest_log": "count blocked access from filter logs into signals",
    # signals, trends, assessment
    "signal.import": "import a signal feed",
    "signal.read": "read signals and series",
    "event.read": "read the event calendar",
    "event.write": "add or import events",
    "trends.read": "analyse trends and alerts",
    "alert.ack": "acknowledge an alert episode with a note",
    "assessment.create": "write the threat assessment",
    "assessment.read": "list assessment drafts and their published versions",
    "assessment.edit": "draft an assessment: the analyst's sections and decisions on findings",
    "assessment.publish": "publish a version of an assessment draft",
    "demo.run": "run the demo",
    # forum monitoring
    "forum.ingest": "read forum exports into the store",
    "forum.read": "read forum themes, series, emerging terms and summaries",
    "forum.purge": "remove forum post text past its retention",
    # the audit log
    "audit.read": "list audit events",
    "audit.verify": "verify the audit log's chain",
    # identity
    "session.login": "log in",
    "session.logout": "log out",
    "password.change": "change one's own password",
    "user.read": "list users",
    "user.write": "add, change or disable users",
    "user.unlock": "unlock a user locked out by failed logins",
    "token.read": "list API tokens",
    "token.write": "create or revoke API tokens",
    # the case workflow
    "case.read": "read a referral's case: status, assignee and due time",
    "case.write": "change a referral's case status",
    "case.claim": "claim or release a referral",
    "case.assign": "assign a referral to someone",
    "note.read": "read notes",
    "note.write": "write notes",
    "search.read": "list saved searches",
    "search.write": "save or delete a search",
    "job.read": "follow a job's progress",
}
"""Every action a service can perform, with what it means."""

_READ = frozenset(
    {
        "referral.list",
        "referral.show",
        "queue.read",
        "links.read",
        "package.read",
        "recipient.read",
        "signal.read",
        "event.read",
        "trends.read",
        "list.read",
        "url.read",
        "url.check",
        "forum.read",
        "assessment.read",
    }
)
_SESSION = frozenset({"session.login", "session.logout", "password.change", "job.read"})
_CASES = frozenset(
    {
        "case.read",
        "case.write",
        "case.claim",
        "case.assign",
        "note.read",
        "note.write",
        "search.read",
        "search.write",
    }
)
_ANALYST = (
    _READ
    | _SESSION
    | _CASES
    | {
        "store.init",
        "intake.ingest",
        "quarantine.list",
        "quarantine.show",
        "quarantine.retry",
        "quarantine.dismiss",
        "media.hash",
        "list.import",
        "list.export",
        "url.import",
        "url.export",
        "url.ingest_log",
        "match.run",
        "list.connect",
        "list.sync",
        "list.vote",
        "list.vote.approve",
        "list.hold",
        "triage.run",
        "route.create",
        "route.preview",
        "route.recall",
        "route.ack",
        "recipient.write",
        "signal.import",
        "event.write",
        "assessment.create",
        "assessment.edit",
        "assessment.publish",
        "demo.run",
        "forum.ingest",
        "forum.purge",
        "alert.ack",
    }
)

MEDIA_VIEWING = frozenset({"media.view", "media.reveal"})
"""Seeing kept media: the reviewer's alone. Not an administrator's (who can do all else),
and not through any token scope: a reviewer sees media in a signed-in session only."""

PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset(ACTIONS) - MEDIA_VIEWING,
    Role.ANALYST: frozenset(_ANALYST | {"media.attach"}),
    Role.REVIEWER: frozenset(_ANALYST | {"media.attach"} | MEDIA_VIEWING),
    # A liaison officer acknowledges what was sent to them and reports its outcome; the
    # object rule (bound_country) keeps them to their own country's referrals and packages.
    Role.LIAISON: _SESSION
    | {
        "referral.list",
        "referral.show",
        "package.read",
        "recipient.read",
        "route.ack",
        "case.read",
        "note.read",
    },
    Role.AUDITOR: _SESSION | {"audit.read", "audit.verify"},
    # A partner system's account: it writes referrals and hash lists, through tokens only
    # (no session.login), and follows the jobs it started.
    Role.INGEST: frozenset({"intake.ingest", "list.import", "media.attach", "job.read"}),
}
"""The actions each role may perform."""

SCOPES = ("ingest", "read", "match", "route", "admin")
"""The scopes an API token can carry."""

SCOPE_ACTIONS: dict[str, frozenset[str]] = {
    "read": _READ
    | {
        "case.read",
        "note.read",
        "search.read",
        "job.read",
        "audit.read",
        "audit.verify",
        "quarantine.list",
        "quarantine.show",
    },
    "ingest": frozenset({"intake.ingest", "list.import", "media.attach", "job.read"}),
    "match": frozenset({"match.run", "media.hash", "list.read", "job.read"}),
    "route": frozenset(
        {
            "route.preview",
            "route.create",
            "route.recall",
            "route.ack",
            "package.read",
            "recipient.read",
            "case.read",
            "case.write",
            "case.claim",
            "case.assign",
            "note.read",
            "note.write",
            "search.write",
            "job.read",
        }
    ),
    "admin": frozenset(ACTIONS) - MEDIA_VIEWING,
}
"""The actions each token scope covers (the role must allow them too)."""


def may(actor: Actor, action: str) -> bool:
    """Whether ``actor`` may perform ``action``: its role allows it and, for a token, one of
    the token's scopes covers it."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if action not in PERMISSIONS[actor.role]:
        return False
    if actor.scopes is None:
        return True
    return any(action in SCOPE_ACTIONS.get(scope, frozenset()) for scope in actor.scopes)


def authorise(actor: Actor, action: str) -> None:
    """Raise :class:`AccessDenied` unless ``actor``'s role (and token scopes) allow ``action``."""
    if not may(actor, action):
        by_scope = action in PERMISSIONS[actor.role]
        raise AccessDenied(
            actor.name,
            actor.role.value,
            action,
            what=ACTIONS[action],
            hint="use a token with a scope that allows it"
            if by_scope
            else "ask an administrator for a role that allows it",
        )


def bound_country(actor: Actor) -> str | None:
    """The country an actor is kept to (``None``: no such bound).

    A country-bound role without a country sees nothing: :class:`AccessDenied`.
    """
    if actor.role not in COUNTRY_BOUND_ROLES:
        return None
    if not actor.country:
        raise AccessDenied(
            actor.name,
            actor.role.value,
            "referral.list",
            what="see referrals without a country (a liaison officer sees its country's only)",
            hint="ask an administrator to set the user's country",
        )
    return actor.country

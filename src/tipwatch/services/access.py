"""Who may do what: the roles, the actions, and the one table between them.

Every service names its action (``referral.show``, ``route.create``...) and calls
:func:`authorise` before it touches the store. The table is deliberately small and explicit:
a role's rights are read off one line, and a new action is denied to everyone until it is
added here.

Roles:

- ``admin``: everything, including users, settings and verifying the audit log.
- ``analyst``: intake, matching, triage, routing, trends and the assessment; reads dossiers.
- ``reviewer``: an analyst who may also view media where a deployment keeps them.
- ``liaison``: a national liaison officer: reads referrals, the queue and packages.
- ``auditor``: reads the audit log and verifies it; reads what was done, changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tipwatch.errors import AccessDenied

__all__ = ["ACTIONS", "PERMISSIONS", "Actor", "Role", "authorise", "may"]


class Role(StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"
    REVIEWER = "reviewer"
    LIAISON = "liaison"
    AUDITOR = "auditor"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a name for the audit log and the role that decides what is allowed."""

    name: str
    role: Role

    @classmethod
    def of(cls, name: str, role: str) -> Actor:
        try:
            return cls(name, Role(role))
        except ValueError:
            from tipwatch.errors import ConfigError

            roles = ", ".join(r.value for r in Role)
            raise ConfigError(f"unknown role {role!r}; the roles are {roles}") from None


ACTIONS: dict[str, str] = {
    # referrals and intake
    "store.init": "create a store",
    "intake.ingest": "read referral files into the store",
    "referral.list": "list referrals",
    "referral.show": "read a referral's dossier",
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
    # signals, trends, assessment
    "signal.import": "import a signal feed",
    "signal.read": "read signals and series",
    "event.read": "read the event calendar",
    "event.write": "add or import events",
    "trends.read": "analyse trends and alerts",
    "assessment.create": "write the threat assessment",
    "assessment.read": "list assessment drafts and their published versions",
    "assessment.edit": "draft an assessment: the analyst's sections and decisions on findings",
    "assessment.publish": "publish a version of an assessment draft",
    "demo.run": "run the demo",
    # the audit log
    "audit.read": "list audit events",
    "audit.verify": "verify the audit log's chain",
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
        "assessment.read",
    }
)
_ANALYST = _READ | {
    "store.init",
    "intake.ingest",
    "quarantine.list",
    "quarantine.show",
    "quarantine.retry",
    "quarantine.dismiss",
    "media.hash",
    "list.import",
    "list.export",
    "match.run",
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
}

PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset(ACTIONS),
    Role.ANALYST: frozenset(_ANALYST),
    Role.REVIEWER: frozenset(_ANALYST),
    # A liaison officer acknowledges what was sent to them and reports its outcome.
    Role.LIAISON: frozenset(
        {
            "referral.list",
            "referral.show",
            "queue.read",
            "package.read",
            "recipient.read",
            "route.ack",
        }
    ),
    Role.AUDITOR: frozenset({"audit.read", "audit.verify", "package.read", "referral.list"}),
}
"""The actions each role may perform."""


def may(actor: Actor, action: str) -> bool:
    """Whether ``actor`` may perform ``action``."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    return action in PERMISSIONS[actor.role]


def authorise(actor: Actor, action: str) -> None:
    """Raise :class:`AccessDenied` unless ``actor``'s role may perform ``action``."""
    if not may(actor, action):
        raise AccessDenied(
            actor.name,
            actor.role.value,
            action,
            what=ACTIONS[action],
            hint="ask an administrator for a role that allows it",
        )

"""Services: what every interface (the CLI, the REST API, the web pages) calls.

A service function takes the store and an :class:`~tipwatch.services.access.Actor`, checks
that the actor's role may perform the action (:mod:`tipwatch.services.access`), runs one
transaction (long batch work commits batch by batch instead, and says so), appends an audit
event inside that same transaction, and returns typed results. Domain rules live in the
domain packages; services import them lazily, so that starting an interface stays fast.

One module per area: :mod:`~tipwatch.services.referrals`, :mod:`~tipwatch.services.matching`,
:mod:`~tipwatch.services.exchanges`,
:mod:`~tipwatch.services.triage`, :mod:`~tipwatch.services.trends`,
:mod:`~tipwatch.services.urls`, :mod:`~tipwatch.services.forums`,
:mod:`~tipwatch.services.media` (media kept with a referral's file, for reviewers),
:mod:`~tipwatch.services.assessment`, :mod:`~tipwatch.services.audit`,
:mod:`~tipwatch.services.access`, :mod:`~tipwatch.services.stores`,
:mod:`~tipwatch.services.demo`, :mod:`~tipwatch.services.identity` (users, logins, tokens),
:mod:`~tipwatch.services.cases` (the case workflow), :mod:`~tipwatch.services.jobs` and
:mod:`~tipwatch.services.workspace` (what the analyst's pages need besides).
"""

from typing import TYPE_CHECKING

from tipwatch.services.access import Actor, Role

if TYPE_CHECKING:
    from tipwatch.services import (
        access,
        assessment,
        audit,
        cases,
        demo,
        exchanges,
        exports,
        forums,
        identity,
        jobs,
        matching,
        media,
        referrals,
        stores,
        trends,
        triage,
        urls,
        workspace,
    )

__all__ = [
    "Actor",
    "Role",
    "access",
    "assessment",
    "audit",
    "cases",
    "demo",
    "exchanges",
    "exports",
    "forums",
    "identity",
    "jobs",
    "matching",
    "media",
    "referrals",
    "stores",
    "trends",
    "triage",
    "urls",
    "workspace",
]


def __getattr__(name: str) -> object:
    # The area modules load on first use: `tipwatch --help` must not import numpy.
    if name in __all__:
        import importlib

        return importlib.import_module(f"tipwatch.services.{name}")
    raise AttributeError(f"module 'tipwatch.services' has no attribute {name!r}")

"""Where a service's bulk work runs: the compute settings, with a command's own options."""

from __future__ import annotations

from tipwatch.compute import Compute
from tipwatch.settings import get_settings


def compute_for(*, jobs: int = 0, cluster: str | None = None) -> Compute:
    """The :class:`Compute` of the settings, ``cluster`` (when given) replacing theirs, with
    ``jobs`` local processes (0: one per CPU)."""
    settings = get_settings(cluster=cluster) if cluster else get_settings()
    return Compute.from_settings(settings, workers=jobs)

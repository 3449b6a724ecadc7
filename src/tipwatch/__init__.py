"""tipwatch: referral intake, hash matching, triage and trend analysis.

The library is the product; the CLI, API and web pages are thin layers over it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tipwatch")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

"""The URL list: canonical URLs, entries with an explicit scope, exports that filters load,
and blocked-access accounting from the filters' own logs (``docs/urls.md``).

The public API: :func:`canonicalize` and :func:`expressions` (after Safe Browsing's "URLs
and Hashing") and the error they raise (:class:`URLError`); entries (:class:`Scope`,
:func:`entry_key`) and the index that answers "is this URL listed?" (:class:`UrlIndex`).
"""

from tipwatch.urls._canonical import (
    CanonicalURL,
    URLError,
    canonical_parts,
    canonicalize,
    expressions,
)
from tipwatch.urls._list import EntryKey, Match, Scope, UrlIndex, entry_key, state_sha256

__all__ = [
    "CanonicalURL",
    "EntryKey",
    "Match",
    "Scope",
    "URLError",
    "UrlIndex",
    "canonical_parts",
    "canonicalize",
    "entry_key",
    "expressions",
    "state_sha256",
]

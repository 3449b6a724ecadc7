"""The URL list: canonical URLs, entries with an explicit scope, exports that filters load,
and blocked-access accounting from the filters' own logs (``docs/urls.md``).

The public API: :func:`canonicalize` and :func:`expressions` (after Safe Browsing's "URLs
and Hashing"), the error they raise (:class:`URLError`), and the list (:class:`UrlList`).
"""

from tipwatch.urls._canonical import (
    CanonicalURL,
    URLError,
    canonical_parts,
    canonicalize,
    expressions,
)

__all__ = ["CanonicalURL", "URLError", "canonical_parts", "canonicalize", "expressions"]

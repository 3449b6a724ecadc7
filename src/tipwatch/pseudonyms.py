"""Keyed pseudonyms: what stands in the store for a person's identifier that tipwatch must
count but never keep (a filter log's client address, a forum author's handle).

One mechanism for every use: HMAC-SHA-256 under the deployment's ``pseudonym_key`` setting.
The same identifier gives the same pseudonym in every run with the same key; without the key
it cannot be turned back, nor guessed from a list of candidates. Each use keeps its own prefix
and length (see :func:`tipwatch.urls._accounting.pseudonymise` and
:func:`tipwatch.forums.run.pseudonym`)."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["keyed_hex"]


def keyed_hex(key: bytes, text: str) -> str:
    """HMAC-SHA-256 of ``text`` (UTF-8; a lone surrogate becomes ``?``) under ``key``, as 64
    hex digits."""
    return hmac.new(key, text.encode("utf-8", "replace"), hashlib.sha256).hexdigest()

"""Media kept at rest, sealed: AES-256-GCM with a key from the settings.

Only a deployment that keeps media uses this (``media_keep``); by default tipwatch keeps none.
Each medium is sealed with a fresh 96-bit nonce, and the referral's and file's ids are bound
in as associated data: sealed bytes copied onto another file's row do not open there. The
key is named by :func:`key_id` (a keyed digest, not the key), so that a store can say which
key sealed what without holding it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MediaKey",
    "MediaKeyError",
    "SealedMedia",
    "browser_type",
    "new_key",
    "open_sealed",
    "seal",
]

_NONCE_BYTES = 12


class MediaKeyError(ValueError):
    """The key is not 32 bytes in URL-safe base64, or sealed media do not open with it."""


@dataclass(frozen=True, slots=True)
class MediaKey:
    """A 256-bit key for sealing media (never printed: its ``repr`` shows the id only)."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise MediaKeyError(f"a media key is 32 bytes, not {len(self.raw)}")

    @classmethod
    def parse(cls, text: str) -> MediaKey:
        """The key written as URL-safe base64 (padding optional)."""
        cleaned = text.strip()
        try:
            raw = base64.urlsafe_b64decode(cleaned.encode("ascii") + b"=" * (-len(cleaned) % 4))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise MediaKeyError("the media key is not URL-safe base64") from None
        return cls(raw)

    @property
    def key_id(self) -> str:
        """A short name for the key (16 hex digits of a digest keyed by it)."""
        return hashlib.blake2b(b"tipwatch media key id", key=self.raw, digest_size=8).hexdigest()

    def __repr__(self) -> str:
        return f"MediaKey(key_id={self.key_id!r})"


@dataclass(frozen=True, slots=True)
class SealedMedia:
    """What is stored: the nonce, the ciphertext with its tag, and the key's id."""

    nonce: bytes
    ciphertext: bytes
    key_id: str


def new_key() -> str:
    """A fresh random key, as URL-safe base64 (for ``media_key``)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def _bound(report_id: str, file_id: str) -> bytes:
    return f"tipwatch kept media\x00{report_id}\x00{file_id}".encode()


def _aesgcm(key: MediaKey) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        raise MediaKeyError(
            "the cryptography package, which encrypts kept media, is not installed"
        ) from None
    return AESGCM(key.raw)


def seal(key: MediaKey, plaintext: bytes, *, report_id: str, file_id: str) -> SealedMedia:
    """``plaintext`` encrypted and authenticated, bound to the referral's file."""
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext: bytes = _aesgcm(key).encrypt(nonce, plaintext, _bound(report_id, file_id))
    return SealedMedia(nonce, ciphertext, key.key_id)


def open_sealed(key: MediaKey, sealed: SealedMedia, *, report_id: str, file_id: str) -> bytes:
    """The plaintext of ``sealed``; :class:`MediaKeyError` when another key sealed it, or it
    was altered, or it belongs to another file."""
    if sealed.key_id != key.key_id:
        raise MediaKeyError(
            f"the media were sealed with key {sealed.key_id}, not the configured key {key.key_id}"
        )
    cipher = _aesgcm(key)
    from cryptography.exceptions import InvalidTag

    try:
        plaintext: bytes = cipher.decrypt(
            sealed.nonce, sealed.ciphertext, _bound(report_id, file_id)
        )
    except InvalidTag:
        raise MediaKeyError(
            "the sealed media do not open: altered, or stored for another file"
        ) from None
    return plaintext


_BROWSER_TYPES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
)


def browser_type(head: bytes, kind: str) -> str:
    """The media type a browser is told for a file beginning with ``head`` (``kind`` is the
    sniffed ``image`` or ``video``): one it can show, else ``application/octet-stream``,
    which a browser told not to sniff will not render."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for offset, magic, media_type in _BROWSER_TYPES:
        if head[offset : offset + len(magic)] == magic:
            return media_type
    if kind == "video" and head[4:8] == b"ftyp":
        return "video/mp4"
    return "application/octet-stream"

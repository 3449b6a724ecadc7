"""URL canonicalisation and lookup expressions, after Safe Browsing's "URLs and Hashing".

The steps (each explained in ``docs/urls.md``):

1. surrounding spaces are trimmed and tab, CR and LF removed everywhere; the fragment is
   dropped; a URL without a scheme is read as ``http://``;
2. the authority, path and query are split apart *before* unescaping (an escaped ``#`` or
   ``?`` is data, not a delimiter), then each is percent-unescaped until nothing is left to
   unescape (at most :data:`MAX_UNESCAPE_ROUNDS` rounds);
3. the host loses its user information and port, leading and trailing dots, and runs of
   dots; an IPv4 address in any legal encoding (octal, hex, fewer than four parts) becomes
   dotted decimal; a bracketed IPv6 address is compressed, and an IPv4-mapped or NAT64
   (``64:ff9b::/96``) one becomes the dotted IPv4 address it carries; an international name
   becomes punycode (IDNA 2008 with the UTS 46 mapping); the host is lower-cased;
4. the path resolves ``/./`` and ``/../`` and collapses runs of slashes; the query is kept as
   it is (an empty query keeps its ``?``);
5. every byte up to 32, from 127, ``#`` and ``%`` is percent-escaped with upper-case hex (in
   the host also the bytes that would end it: ``/ ? @ : [ ] \\``, so that the canonical
   form reads back as itself).

Whatever cannot be canonicalised raises :class:`URLError` with the reason; nothing else is
raised for any input.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import NamedTuple

from tipwatch.errors import InputError

__all__ = [
    "MAX_UNESCAPE_ROUNDS",
    "MAX_URL_LENGTH",
    "CanonicalURL",
    "URLError",
    "canonical_parts",
    "canonicalize",
    "expressions",
    "host_suffixes",
]

MAX_URL_LENGTH = 65_536
"""Longest URL read, in characters (or bytes); a longer one is refused (the default of the
``url_max_length`` setting)."""

MAX_UNESCAPE_ROUNDS = 64
"""Rounds of percent-unescaping before a URL is refused as endlessly encoded. A URL that
needs more than a handful is crafted; the specification's deepest example needs eight."""

_MAX_HOST_BYTES = 255


class URLError(InputError):
    """A URL that cannot be canonicalised; the message says why."""


class CanonicalURL(NamedTuple):
    """A canonical URL in parts: ``host`` and ``path`` escaped, ``query`` ``None`` when the
    URL has no ``?``. (A named tuple: immutable, and made faster than a frozen dataclass.)"""

    scheme: str
    host: str
    path: str
    query: str | None
    ip: bool
    """The host is an IP address (it has no parent domains)."""

    def __str__(self) -> str:
        return f"{self.scheme}://{self.expression()}"

    def expression(self) -> str:
        """The host, path and query without the scheme: the form entries are keyed by."""
        if self.query is None:
            return self.host + self.path
        return f"{self.host}{self.path}?{self.query}"


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_ESCAPE_TABLE = [f"%{b:02X}" if b <= 32 or b >= 127 or b in b"#%" else chr(b) for b in range(256)]
_HOST_ESCAPE_TABLE = [
    f"%{b:02X}" if b <= 32 or b >= 127 or b in b"#%/?@:[]\\" else chr(b) for b in range(256)
]
_NEEDS_ESCAPE = re.compile(rb"[\x00-\x20\x7f-\xff#%]")
_HEX = b"0123456789abcdefABCDEF"
_IPV4_PART = re.compile(r"^(?:0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _unescape(data: bytes, what: str) -> bytes:
    """``data`` percent-unescaped until no escape is left."""
    for _ in range(MAX_UNESCAPE_ROUNDS):
        if b"%" not in data:
            return data
        parts = data.split(b"%")
        out = [parts[0]]
        changed = False
        for part in parts[1:]:
            if len(part) >= 2 and part[0] in _HEX and part[1] in _HEX:
                out.append(bytes((int(part[:2], 16),)) + part[2:])
                changed = True
            else:
                out.append(b"%" + part)
        if not changed:
            return data
        data = b"".join(out)
    if b"%" in data and re.search(rb"%[0-9A-Fa-f]{2}", data):
        raise URLError(f"the {what} is percent-encoded more than {MAX_UNESCAPE_ROUNDS} levels deep")
    return data


def _escape(data: bytes, table: list[str] = _ESCAPE_TABLE) -> str:
    if table is _ESCAPE_TABLE and not _NEEDS_ESCAPE.search(data):
        return data.decode("ascii")
    return "".join([table[b] for b in data])


def _ipv4(host: str) -> str | None:
    """``host`` as dotted-decimal IPv4 when it is an IPv4 address in any legal encoding."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.match(p) for p in parts):
        return None
    values = []
    for p in parts:
        if p[:2] in ("0x", "0X"):
            values.append(int(p[2:] or "0", 16))
        elif len(p) > 1 and p[0] == "0":
            values.append(int(p, 8))
        else:
            values.append(int(p))
    last_bits = 8 * (5 - len(parts))
    if any(v > 255 for v in values[:-1]) or values[-1] >= 1 << last_bits:
        return None
    number = values[-1]
    for i, v in enumerate(values[:-1]):
        number |= v << (24 - 8 * i)
    return str(ipaddress.IPv4Address(number))


def _ipv6(inner: str) -> str:
    try:
        addr = ipaddress.IPv6Address(inner)
    except ValueError:
        raise URLError(f"invalid IPv6 address [{inner[:80]}]") from None
    if addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    if addr in _NAT64:
        return str(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    return f"[{addr.compressed}]"


@lru_cache(maxsize=65_536)
def _host(raw: bytes) -> tuple[str, bool]:
    """The canonical host of an authority's host part (escaped) and whether it is an IP."""
    data = _unescape(raw, "host").strip(b".")
    if data[:1] == b"[":
        end = data.find(b"]")
        if end < 0:
            raise URLError("an IPv6 address without its closing ]")
        try:
            inner = data[1:end].decode("ascii")
        except UnicodeDecodeError:
            raise URLError("invalid IPv6 address (bytes outside ASCII)") from None
        if "%" in inner:  # a zone id names an interface of the client; it is not the host's
            inner = inner.split("%", 1)[0]
        host = _ipv6(inner)
        return host, True
    while b".." in data:
        data = data.replace(b"..", b".")
    if not data:
        raise URLError("no host")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        text = _idna(data)
    ip = _ipv4(text)
    if ip is not None:
        return ip, True
    host = _escape(text.lower().encode("utf-8", "surrogateescape"), _HOST_ESCAPE_TABLE)
    if len(host) > _MAX_HOST_BYTES * 3:
        raise URLError(f"the host is {len(host):,} characters long; a host name has at most 253")
    return host, False


def _idna(data: bytes) -> str:
    """A host with bytes outside ASCII: its IDNA (punycode) form when it is a valid
    international name; bytes that are not UTF-8 are kept, to be escaped."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("ascii", "surrogateescape")
    import idna

    try:
        return idna.encode(text, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError) as exc:
        raise URLError(f"invalid international host name {text[:80]!r}: {exc}") from None


def _path(data: bytes) -> bytes:
    if b"/." not in data and b"//" not in data:
        return data
    out: list[bytes] = []
    segments = data.split(b"/")
    trailing = False
    for seg in segments[1:]:
        trailing = False
        if seg == b"" or seg == b".":
            trailing = True
        elif seg == b"..":
            if out:
                out.pop()
            trailing = True
        else:
            out.append(seg)
    path = b"/" + b"/".join(out)
    if trailing and out:
        path += b"/"
    return path


def _as_bytes(url: str | bytes, max_length: int) -> bytes:
    if isinstance(url, str):
        if len(url) > max_length:
            raise URLError(f"the URL is {len(url):,} characters long; at most {max_length:,}")
        return url.encode("utf-8", "surrogateescape")
    if isinstance(url, bytes | bytearray | memoryview):
        data = bytes(url)
        if len(data) > max_length:
            raise URLError(f"the URL is {len(data):,} bytes long; at most {max_length:,}")
        return data
    raise URLError(f"a URL is text or bytes, not {type(url).__name__}")


# A URL that is already canonical in the common way (lower-case http(s), a lower-case name
# ending in a letter, nothing to unescape, escape or resolve) is taken apart without the
# general steps; a test checks that both ways agree.
_PLAIN_URL = re.compile(
    r"(https?)://([a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.[a-z][a-z0-9-]*)"
    r"(/[!\x22\x24\x26-\x3e@-~]*)?(?:\?([!\x22\x24\x26-\x7e]*))?\Z"
)


def canonical_parts(url: str | bytes, *, max_length: int = MAX_URL_LENGTH) -> CanonicalURL:
    """``url`` canonicalised, in parts. Raises :class:`URLError` saying why it cannot be."""
    if type(url) is str and len(url) <= max_length:
        plain = _PLAIN_URL.match(url)
        if plain is not None:
            scheme, host, path, query = plain.groups()
            if not path:
                path = "/"
            if "/." not in path and "//" not in path and len(host) <= 253:
                return CanonicalURL(scheme, host, path, query, False)
    return _canonical_parts(url, max_length)


def _canonical_parts(url: str | bytes, max_length: int) -> CanonicalURL:
    data = _as_bytes(url, max_length)
    data = data.strip(b" ")
    if b"\t" in data or b"\r" in data or b"\n" in data:
        data = data.replace(b"\t", b"").replace(b"\r", b"").replace(b"\n", b"")
    hash_at = data.find(b"#")
    if hash_at >= 0:
        data = data[:hash_at]
    if not data:
        raise URLError("empty URL")
    match = _SCHEME.match(data[:64].decode("latin-1")) if data[:1].isalpha() else None
    if match:
        scheme = match.group(1).lower()
        rest = data[match.end() :]
    else:
        scheme = "http"
        rest = data
    cut = len(rest)
    for delimiter in (b"/", b"?"):
        at = rest.find(delimiter)
        if 0 <= at < cut:
            cut = at
    authority, tail = rest[:cut], rest[cut:]
    authority = authority.rpartition(b"@")[2]
    if authority[:1] == b"[":
        end = authority.find(b"]")
        host_raw = authority if end < 0 else authority[: end + 1]
        port = b"" if end < 0 else authority[end + 1 :].removeprefix(b":")
    else:
        host_raw, _, port = authority.partition(b":")
    if port and not port.isdigit():
        raise URLError(f"the port {port[:20].decode('latin-1')!r} is not a number")
    host, ip = _host(host_raw)
    query: bytes | None
    path_raw, question, query = tail.partition(b"?")
    if not question:
        query = None
    path = _path(_unescape(path_raw, "path") or b"/")
    if path[:1] != b"/":
        path = b"/" + path
    return CanonicalURL(
        scheme,
        host,
        _escape(path),
        None if query is None else _escape(_unescape(query, "query")),
        ip,
    )


def canonicalize(url: str | bytes, *, max_length: int = MAX_URL_LENGTH) -> str:
    """``url`` in the canonical form of Safe Browsing's "URLs and Hashing" (with the
    version 5 rules for IPv6 hosts).

    >>> canonicalize("http://www.GOOgle.com/a/./b/../c#frag")
    'http://www.google.com/a/c'

    Raises :class:`URLError` (an :class:`~tipwatch.errors.InputError`) with the reason when
    ``url`` cannot be canonicalised: longer than ``max_length``, no host, an invalid IPv6 or
    international host name, a port that is not a number, endless percent-encoding."""
    return str(canonical_parts(url, max_length=max_length))


def host_suffixes(host: str, *, limit: int = 5) -> list[str]:
    """``host`` and its parent domains from the last ``limit`` labels down to two labels
    (the top-level domain alone is never one), ``host`` first."""
    labels = host.split(".")
    out = [host]
    for k in range(min(len(labels) - 1, limit), 1, -1):
        suffix = ".".join(labels[-k:])
        if suffix != host:
            out.append(suffix)
    return out


def expressions(url: str | bytes | CanonicalURL) -> list[str]:
    """The host-suffix and path-prefix expressions a list is looked up with, most specific
    first: at most 5 hosts (the exact host, then up to four parent domains from the last five
    labels; none for an IP address) by at most 6 paths (the exact path with and without its
    query, then ``/`` and up to three folders below it)."""
    parts = url if isinstance(url, CanonicalURL) else canonical_parts(url)
    hosts = [parts.host] if parts.ip else host_suffixes(parts.host)
    paths: list[str] = []
    if parts.query is not None:
        paths.append(f"{parts.path}?{parts.query}")
    paths.append(parts.path)
    segments = parts.path.split("/")[1:-1]
    prefix = "/"
    for segment in [None, *segments[:3]]:
        if segment is not None:
            prefix = f"{prefix}{segment}/"
        if prefix not in paths:
            paths.append(prefix)
    return [h + p for h in hosts for p in paths]

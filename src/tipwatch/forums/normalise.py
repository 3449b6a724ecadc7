"""Text normalisation for matching: the forms a post's words are compared in.

Coded language is the point of forum monitoring, so a phrase must be found however it is
written. Each character of a post is mapped, through one table built lazily per character,
to its matching form:

1. zero-width and bidirectional control characters (Unicode category Cf: U+200B-U+200F,
   U+202A-U+202E, U+2060-U+2069, U+FEFF, the soft hyphen ...) and variation selectors are
   dropped;
2. Unicode NFKC (fullwidth and mathematical letters, ligatures, circled digits ...);
3. case folding (``str.casefold``: ``ß`` becomes ``ss``);
4. the confusable skeleton of UTS #39: a look-alike of another script becomes its prototype
   (Cyrillic a, U+0430, becomes Latin ``a``), from the confusables data of ``confusable-homoglyphs``
   (Unicode's confusables.txt). ASCII characters are prototypes themselves here: ``m`` stays
   ``m`` (UTS #39 would write ``rn``) and digits stay digits (the leet channel reads them);
5. the diacritics of Latin, Greek and Cyrillic letters (the combining marks U+0300-U+036F)
   are dropped, before and after step 4, so ``écoles`` and ``ecoles`` meet, as do Cyrillic yo and
   ie; small capitals and kra, the prototypes UTS #39 gives several lowercase Cyrillic and
   Greek letters, are read as the Latin letters they look like (Cyrillic te as ``t``, ka as ``k``);
6. every character that is not a letter, mark or digit becomes a space: words are then the
   runs between spaces, Unicode-aware in every script (a Cyrillic term never matches inside a
   longer Cyrillic word, which ASCII-only ``\\b`` boundaries cannot promise).

The **leet channel** is the same with digits and a few symbols read as the letters they stand
for (``0`` o, ``1`` i, ``3`` e, ``4`` a, ``5`` s, ``7`` t, ``8`` b, ``@`` a, ``$`` s), a second
reading of the same post: ``k1ds`` is found there, while ``24/7`` stays ``24 7`` in the plain
one.

The raw text is never changed: :class:`Folded` keeps, for each character of the folded form,
the position of the raw character it came from, so that evidence is shown as written.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = [
    "LEET",
    "CodePage",
    "Folded",
    "fold",
    "fold_bytes",
    "fold_phrase",
    "fold_text",
    "fold_text_by_words",
    "fold_words",
    "light_words",
    "single_byte",
    "skeleton_map",
]

LEET: dict[str, str] = {
    "0": "o",
    "1": "i",
    "3": "e",
    "4": "a",
    "5": "s",
    "7": "t",
    "8": "b",
    "@": "a",
    "$": "s",
}
"""Digits and symbols read as letters in the leet channel."""

_VARIATION_SELECTORS = frozenset(range(0xFE00, 0xFE10)) | frozenset(range(0xE0100, 0xE01F0))


@cache
def skeleton_map() -> dict[str, str]:
    """Each non-ASCII character with a look-alike prototype, and that prototype.

    The confusables data of ``confusable-homoglyphs`` lists every pair in both directions; a
    prototype is the side that has several look-alikes (or is ASCII). Where a pair stands
    alone, the lower code point is taken as the prototype: what matters for matching is that
    both sides meet.
    """
    try:
        text = (resources.files("confusable_homoglyphs") / "confusables.json").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - a broken install
        return {}
    data: dict[str, list[dict[str, str]]] = json.loads(text)

    def clean(s: str) -> str:
        return s.replace("\u200e", "").replace("\u200f", "")

    entries = {clean(k): [clean(e["c"]) for e in v] for k, v in data.items()}
    out: dict[str, str] = {}
    for char, others in entries.items():
        if len(char) != 1 or char.isascii() or len(others) != 1:
            continue
        target = others[0]
        if not target:
            continue
        back = entries.get(target, [])
        if (
            target.isascii()
            or len(back) > 1
            or len(target) > 1
            or (back == [char] and ord(target) < ord(char))
        ):
            out[char] = target
    # A prototype that is itself mapped (rare) is followed to its end.
    for char, target in list(out.items()):
        seen = {char}
        while len(target) == 1 and target in out and target not in seen:
            seen.add(target)
            target = out[target]
        out[char] = target
    return out


def _is_word_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LMN"


@cache
def _small_capitals() -> dict[str, str]:
    """Small capitals and kra as their Latin letters: the prototypes UTS #39 gives lowercase
    Cyrillic and Greek letters (Cyrillic te is small capital T, ka and Greek kappa are kra)
    look like those
    letters in most fonts, and forum users use them so."""
    out = {"\u0138": "k"}
    for cp in range(0x0250, 0x1E00):
        name = unicodedata.name(chr(cp), "")
        prefix = "LATIN LETTER SMALL CAPITAL "
        if name.startswith(prefix) and len(name) == len(prefix) + 1:
            out[chr(cp)] = name[-1].lower()
    return out


def _without_diacritics(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not 0x300 <= ord(c) <= 0x36F)
    )


def _fold_char(ch: str, *, leet: bool, skeleton: bool) -> str:
    cp = ord(ch)
    if unicodedata.category(ch) == "Cf" or cp in _VARIATION_SELECTORS:
        return ""
    text = _without_diacritics(unicodedata.normalize("NFKC", ch).casefold())
    if skeleton:
        protos = skeleton_map()
        text = "".join(c if c.isascii() else protos.get(c, c) for c in text).casefold()
        text = _without_diacritics("".join(_small_capitals().get(c, c) for c in text))
    if leet:
        text = "".join(LEET.get(c, c) for c in text)
    return "".join(c if _is_word_char(c) else " " for c in text)


class _Table(dict[int, str]):
    """A ``str.translate`` table that computes a character's form on first sight."""

    def __init__(self, *, leet: bool, skeleton: bool) -> None:
        super().__init__()
        self.leet = leet
        self.skeleton = skeleton
        for cp in range(128):  # ASCII at once: the common case never calls __missing__
            self[cp] = _fold_char(chr(cp), leet=leet, skeleton=skeleton)

    def __missing__(self, cp: int) -> str:
        value = _fold_char(chr(cp), leet=self.leet, skeleton=self.skeleton)
        self[cp] = value
        return value


_PLAIN = _Table(leet=False, skeleton=True)
_LEET = _Table(leet=True, skeleton=True)
_LIGHT = _Table(leet=False, skeleton=False)


@dataclass(slots=True)
class Folded:
    """A post's text in one channel: ``text`` is ``" " + words joined by one space + " "``,
    so that a whole-word phrase is ``" phrase "`` in it."""

    raw: str
    text: str
    table: dict[int, str]
    _same: str | None = None
    """The raw text folded character for character, when that keeps every position."""
    _spans: list[tuple[int, int]] | None = None

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """The raw text's span of the words that ``text[start:end]`` covers (``start`` and
        ``end`` inside words or on the spaces around them)."""
        text = self.text
        first_char = start + 1 if text[start] == " " else start
        last_char = end - 2 if text[end - 1] == " " else end - 1
        first = text.count(" ", 0, first_char) - 1
        last = max(text.count(" ", 0, last_char) - 1, first)
        if self._same is None and self._spans is None:
            if self.raw.isascii():  # ASCII folds one character for one
                ascii_table = _LEET_ASCII if self.table is _LEET else _PLAIN_ASCII
                self._same = self.raw.encode("ascii").translate(ascii_table).decode("ascii")
            else:
                self._spans = _word_spans(self.raw, self.table)
        if self._same is not None:
            # One character for one: the k-th word of the folded text is the k-th run of
            # non-spaces of the raw text folded in place; a regular expression skips to it.
            same = self._same
            begin = _skip_words(first).match(same)
            if begin is None or begin.end() >= len(same):
                return 0, 0
            last_begin = _skip_words(last - first).match(same, begin.end())
            word_start = last_begin.end() if last_begin is not None else begin.end()
            stop = same.find(" ", word_start)
            return begin.end(), len(same) if stop < 0 else stop
        spans = self._spans or []
        if not spans:
            return 0, 0
        first = min(first, len(spans) - 1)
        last = min(last, len(spans) - 1)
        return spans[first][0], spans[last][1]


@cache
def _skip_words(count: int) -> re.Pattern[str]:
    return re.compile(" *" if count == 0 else rf" *(?:\S+ +){{{count}}}")


def _word_spans(raw: str, table: dict[int, str]) -> list[tuple[int, int]]:
    """The raw span of each word of the folded form of ``raw``, in order."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    last_end = 0
    for i, ch in enumerate(raw):
        out = table[ord(ch)]
        if not out:
            continue  # dropped (zero-width): it belongs to the word around it, if any
        for c in out:
            if c == " ":
                if start is not None:
                    spans.append((start, last_end))
                    start = None
            elif start is None:
                start = i
        if out.strip():
            last_end = i + 1
    if start is not None:
        spans.append((start, last_end))
    return spans


def _ascii_bytes(table: dict[int, str]) -> bytes:
    out = bytearray(range(256))
    for cp in range(128):
        value = table[cp]
        assert len(value) == 1 and value.isascii(), "ASCII folds to one ASCII character"
        out[cp] = ord(value)
    return bytes(out)


# ASCII text, the common case, is folded by bytes.translate: ten times str.translate's speed.
_PLAIN_ASCII = _ascii_bytes(_PLAIN)
_LEET_ASCII = _ascii_bytes(_LEET)


_SPACE_RUN = re.compile("  +")
_SPACE_RUN_BYTES = re.compile(b"  +")
_WORD_CACHE: tuple[dict[str, str], dict[str, str]] = ({}, {})
_WORD_CACHE_SIZE = 200_000


@dataclass(frozen=True, slots=True)
class CodePage:
    """A single-byte encoding in which a post can be folded byte for byte.

    Text whose every character is in the encoding ``name``, and folds to one character in
    both channels, is folded by ``bytes.translate`` (no lookup per character in Python):
    ASCII, and through Windows code pages the Latin letters of Western and Central Europe,
    Cyrillic and Greek. ``plain`` and ``leet`` are the 256-byte tables from a byte of ``name``
    to a byte of the folded form, whose characters are ``letters`` (ASCII as itself, the
    others, such as the look-alike prototypes of Cyrillic letters, numbered from 128 on);
    ``safe`` the bytes that fold so (a post holding any other takes the character table)."""

    name: str
    plain: bytes
    leet: bytes
    safe: bytes
    letters: str

    def encode_folded(self, text: str) -> bytes | None:
        """Folded ``text`` (a key) in this page's folded bytes, or ``None`` if it cannot be
        written there (then no text of this page holds it)."""
        if text.isascii():
            return text.encode("ascii")
        codes = {c: i for i, c in enumerate(self.letters) if i >= 128}
        try:
            return bytes(ord(c) if c.isascii() else codes[c] for c in text)
        except KeyError:
            return None

    def decode_folded(self, data: bytes) -> str:
        """The folded text that ``data``, this page's folded bytes, stand for."""
        if data.isascii():
            return data.decode("ascii")
        return data.decode("latin-1").translate(_letter_table(self.letters))


@cache
def _letter_table(letters: str) -> dict[int, str]:
    return dict(enumerate(letters))


def _code_page(name: str) -> CodePage:
    plain = bytearray(range(256))
    leet = bytearray(range(256))
    safe = bytearray()
    letters = [chr(i) for i in range(128)]
    codes: dict[str, int] = {}

    def code(char: str) -> int | None:
        if char.isascii():
            return ord(char)
        if char not in codes:
            if len(letters) == 256:
                return None
            codes[char] = len(letters)
            letters.append(char)
        return codes[char]

    for b in range(256):
        try:
            char = bytes([b]).decode(name)
        except UnicodeDecodeError:
            continue
        p, q = _PLAIN[ord(char)], _LEET[ord(char)]
        if len(p) != 1 or len(q) != 1:
            continue
        p_code, q_code = code(p), code(q)
        if p_code is not None and q_code is not None:
            plain[b], leet[b] = p_code, q_code
            safe.append(b)
    letters += ["\x00"] * (256 - len(letters))
    return CodePage(name, bytes(plain), bytes(leet), bytes(safe), "".join(letters))


_ASCII_PAGE = CodePage(
    "ascii", _PLAIN_ASCII, _LEET_ASCII, bytes(range(128)), "".join(map(chr, range(256)))
)
_CODE_PAGES: list[CodePage] = []
"""Tried in turn for text that is not ASCII, the last one that fitted first (built on first
use: their tables read the confusables data)."""


def _code_pages() -> list[CodePage]:
    if not _CODE_PAGES:
        _CODE_PAGES.extend(_code_page(n) for n in ("cp1252", "cp1251", "cp1250", "cp1253"))
    return _CODE_PAGES


def single_byte(raw: str) -> tuple[CodePage, bytes] | None:
    """``raw`` encoded in a :class:`CodePage` it folds in byte for byte, or ``None``."""
    if raw.isascii():
        return _ASCII_PAGE, raw.encode("ascii")
    pages = _CODE_PAGES or _code_pages()
    for i, page in enumerate(pages):
        try:
            data = raw.encode(page.name)
        except UnicodeEncodeError:
            continue
        if data.translate(None, page.safe):
            continue  # a character that folds to none or several (ß, a soft hyphen ...)
        if i:
            pages.insert(0, pages.pop(i))
        return page, data
    return None


def fold_bytes(page: CodePage, data: bytes, *, leet: bool = False) -> bytes:
    """The folded form (as :func:`fold_text`) of ``data``, text encoded in ``page``, as the
    page's folded bytes: one byte a character, so that positions are those of the text."""
    folded = data.translate(page.leet if leet else page.plain)
    if b"  " in folded:  # runs of separators become one space (a search first: often none)
        folded = _SPACE_RUN_BYTES.sub(b" ", folded)
    return b" " + folded.strip(b" ") + b" "


def fold_text(raw: str, *, leet: bool = False) -> str:
    """The folded form of ``raw``: its words joined by one space, with one space around."""
    if raw.isascii():
        folded = raw.encode("ascii").translate(_LEET_ASCII if leet else _PLAIN_ASCII)
        text = folded.decode("ascii")
        if "  " in text:  # runs of separators become one space (a search first: often none)
            text = _SPACE_RUN.sub(" ", text)
        return f" {text.strip(' ')} "
    encoded = single_byte(raw)
    if encoded is not None:
        page, data = encoded
        return page.decode_folded(fold_bytes(page, data, leet=leet))
    return fold_text_by_words(raw, leet=leet)


def fold_text_by_words(raw: str, *, leet: bool = False) -> str:
    """:func:`fold_text` through the character table, word by word, for any text."""
    # str.translate costs a lookup per character, and words recur, so each word's form is
    # remembered (the cache is emptied when it grows large).
    cache = _WORD_CACHE[leet]
    if len(cache) > _WORD_CACHE_SIZE:
        cache.clear()
    words = raw.split()
    parts = list(map(cache.get, words))
    if None in parts:
        table_of = _LEET if leet else _PLAIN
        for i, word in enumerate(words):
            if parts[i] is None:
                parts[i] = cache[word] = " ".join(word.translate(table_of).split())
    return " " + " ".join(filter(None, parts)) + " "


def fold(raw: str, *, leet: bool = False) -> Folded:
    """``raw`` in the plain channel (or the leet one), with the way back to raw positions."""
    return Folded(raw, fold_text(raw, leet=leet), _LEET if leet else _PLAIN)


def fold_words(raw: str, *, leet: bool = False) -> str:
    """The folded words of ``raw`` joined by one space, no spaces around (a phrase's form)."""
    return " ".join(raw.translate(_LEET if leet else _PLAIN).split())


def fold_phrase(raw: str, *, leet: bool = False) -> str:
    """Alias of :func:`fold_words` for phrases of a theme or lexicon."""
    return fold_words(raw, leet=leet)


def light_words(raw: str) -> list[str]:
    """The words of ``raw`` for term counts: NFKC, case folding, no invisible characters,
    diacritics of Latin, Greek and Cyrillic dropped, split on anything not a letter, mark or
    digit; look-alikes are not replaced, so that a term reads as it was written."""
    return raw.translate(_LIGHT).split()

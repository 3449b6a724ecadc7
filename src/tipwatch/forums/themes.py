"""Themes: the theme file, licensed keyword lists, and the tagger that finds them in posts.

The theme file (TOML, shipped as ``themes.toml`` with neutral default phrasing; a team's own
through the ``forum_themes`` setting) has one table per theme: ``label``, ``description`` and,
under each language's code, its phrases. Licensed keyword lists
(:mod:`tipwatch.formats.forum_lexicon`) add terms to the theme named by their category.

The :class:`Tagger` compiles every phrase, in the plain and the leet channel of
:mod:`tipwatch.forums.normalise`, into one multi-pattern automaton per channel
(``ahocorasick_rs``; ``pyahocorasick`` when that is not installed) and reads each post once per
channel: a whole-word phrase is the pattern ``" phrase "`` in the folded text, whose words are
separated by single spaces, so that every match is a whole-word match without a second check.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from tipwatch.errors import ConfigError
from tipwatch.forums.normalise import (
    _ASCII_PAGE,
    _LEET,
    _PLAIN,
    LEET,
    CodePage,
    Folded,
    fold_bytes,
    fold_text,
    fold_text_by_words,
    fold_words,
    single_byte,
)

__all__ = [
    "DEFAULT_THEMES",
    "Evidence",
    "Tagger",
    "Term",
    "Theme",
    "ThemeSet",
    "load_themes",
]

DEFAULT_THEMES = "themes.toml"
"""The shipped theme file (in this package)."""


@dataclass(frozen=True, slots=True)
class Term:
    """One phrase of a theme."""

    theme: str
    text: str
    language: str = "und"
    match: str = "word"
    source: str = "themes"


@dataclass
class Theme:
    name: str
    label: str
    description: str = ""
    terms: list[Term] = field(default_factory=list)


@dataclass
class ThemeSet:
    """Themes with their terms, and where they came from."""

    themes: dict[str, Theme]
    sources: list[str] = field(default_factory=list)

    @property
    def digest(self) -> str:
        """A short digest of every term, to tell which theme set tagged a post."""
        h = hashlib.sha256()
        for name in sorted(self.themes):
            for t in sorted(self.themes[name].terms, key=lambda t: (t.text, t.language, t.match)):
                h.update(f"{name}\x1f{t.text}\x1f{t.language}\x1f{t.match}\x1e".encode())
        return h.hexdigest()[:16]

    def add_lexicon(self, entries: Iterable[Any], source: str) -> int:
        """Add the entries of a keyword list (category = theme). Returns how many."""
        n = 0
        for e in entries:
            theme = self.themes.get(e.category)
            if theme is None:
                theme = self.themes[e.category] = Theme(e.category, e.category)
            theme.terms.append(Term(e.category, e.term, e.language, e.match, e.source or source))
            n += 1
        self.sources.append(source)
        return n


_RESERVED = frozenset({"label", "description"})


def _term(theme: str, language: str, phrase: str, where: str) -> Term:
    text = phrase.strip()
    match = "word"
    if len(text) > 2 and text.startswith("*") and text.endswith("*"):
        text, match = text[1:-1], "substring"
    elif text.endswith("*"):
        text, match = text[:-1], "prefix"
    if not fold_words(text):
        raise ConfigError(f"{where}: theme {theme!r} has a phrase with no letters or digits")
    return Term(theme, text, language, match)


def load_themes(path: Path | None = None) -> ThemeSet:
    """The themes of ``path`` (TOML), else the shipped defaults. Raises
    :class:`ConfigError` naming the file and the problem."""
    if path is None:
        where = f"the shipped {DEFAULT_THEMES}"
        text = (resources.files("tipwatch.forums") / DEFAULT_THEMES).read_text("utf-8")
    else:
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"theme file {where} cannot be read: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"theme file {where} is not valid TOML: {exc}") from None
    themes: dict[str, Theme] = {}
    for name, body in data.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: {name!r} must be a table of a theme")
        if len(name) > 100:
            raise ConfigError(f"{where}: theme name {name[:40]!r}... is longer than 100")
        theme = Theme(name, str(body.get("label") or name), str(body.get("description") or ""))
        for key, phrases in body.items():
            if key in _RESERVED:
                continue
            if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
                raise ConfigError(f"{where}: theme {name!r}, {key!r} must be a list of phrases")
            theme.terms.extend(_term(name, key.lower(), p, where) for p in phrases)
        if not theme.terms:
            raise ConfigError(f"{where}: theme {name!r} has no phrases")
        themes[name] = theme
    if not themes:
        raise ConfigError(f"{where} defines no themes")
    return ThemeSet(themes, [where])


class Evidence(NamedTuple):
    """Where a theme's term was found: the term, its channel, and the raw span of the post.

    (A named tuple: posts with evidence are built by the hundred thousand.)"""

    theme: str
    term: str
    language: str
    channel: str
    start: int
    end: int
    raw: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "theme": self.theme,
            "term": self.term,
            "language": self.language,
            "channel": self.channel,
            "start": self.start,
            "end": self.end,
            "raw": self.raw,
        }


class _Automaton(Protocol):
    @property
    def matches(self) -> Callable[[str], list[tuple[int, int, int]]]: ...


class _BytesAutomaton(Protocol):
    @property
    def matches(self) -> Callable[[bytes], list[tuple[int, int, int]]]: ...


class _RsAutomaton:
    def __init__(self, keys: Sequence[str]) -> None:
        import ahocorasick_rs

        # The DFA takes more memory to build and reads short texts fastest (measured in
        # benchmarks/forums.py).
        self._ac = ahocorasick_rs.AhoCorasick(
            keys,
            matchkind=ahocorasick_rs.MatchKind.Standard,
            implementation=ahocorasick_rs.Implementation.DFA,
        )

        # A C-level callable, without a Python frame per post.
        self.matches: Callable[[str], list[tuple[int, int, int]]] = functools.partial(
            self._ac.find_matches_as_indexes, overlapping=True
        )


class _RsBytesAutomaton:
    def __init__(self, keys: Sequence[bytes]) -> None:
        import ahocorasick_rs

        self._ac = ahocorasick_rs.BytesAhoCorasick(
            keys,
            matchkind=ahocorasick_rs.MatchKind.Standard,
            implementation=ahocorasick_rs.Implementation.DFA,
        )
        self.matches: Callable[[bytes], list[tuple[int, int, int]]] = functools.partial(
            self._ac.find_matches_as_indexes, overlapping=True
        )


class _PyAutomaton:
    def __init__(self, keys: Sequence[str]) -> None:
        import ahocorasick

        self._lengths = [len(k) for k in keys]
        self._ac = ahocorasick.Automaton()
        for i, key in enumerate(keys):
            self._ac.add_word(key, i)
        self._ac.make_automaton()

    def matches(self, text: str) -> list[tuple[int, int, int]]:
        n = self._lengths
        return [(i, end + 1 - n[i], end + 1) for end, i in self._ac.iter(text)]


class _PyBytesAutomaton:
    """Bytes read as Latin-1 characters, one for one, by ``pyahocorasick``."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        self._ac = _PyAutomaton([k.decode("latin-1") for k in keys])

    def matches(self, data: bytes) -> list[tuple[int, int, int]]:
        return self._ac.matches(data.decode("latin-1"))


def _automaton(keys: Sequence[str], backend: str) -> _Automaton:
    if backend in ("auto", "ahocorasick_rs"):
        try:
            return _RsAutomaton(keys)
        except ImportError:
            if backend != "auto":
                raise
    return _PyAutomaton(keys)


def _bytes_automaton(keys: Sequence[bytes], backend: str) -> _BytesAutomaton:
    if backend in ("auto", "ahocorasick_rs"):
        try:
            return _RsBytesAutomaton(keys)
        except ImportError:
            if backend != "auto":
                raise
    return _PyBytesAutomaton(keys)


_LEET_CHARS = "[" + re.escape("".join(LEET)) + "\uff10-\uff19]"
# The leet channel reads a post only where a digit, @ or $ touches a letter (k1ds, @t): a
# number standing alone (2020, 24/7) is no disguise.
# (Written to begin with the character class, so that the search skips ahead quickly.)
_HAS_LEET = re.compile(rf"{_LEET_CHARS}(?:(?<=[^\W\d_]{_LEET_CHARS})|(?=[^\W\d_]))")


_BY_POSITION = operator.itemgetter(4, 1)  # an Evidence's start, then its term
_NOT_LEET = bytes(c for c in range(128) if chr(c) not in LEET)
_NOT_LEET_BYTE = bytes(c for c in range(256) if chr(c) not in LEET)
"""Every byte but the leet characters' (ASCII in each code page)."""


def _leet_disguised(text: str) -> bool:
    """Whether a digit, @ or $ touches a letter in ``text`` (ASCII text without any of them,
    the common case, is told apart by a byte filter first)."""
    if text.isascii() and not text.encode("ascii").translate(None, _NOT_LEET):
        return False
    return _HAS_LEET.search(text) is not None


_Hits = list[
    tuple[
        str,
        bool,
        list[list[Term]],
        Callable[[int, int], tuple[int, int]],
        list[tuple[int, int, int]],
    ]
]
"""Per channel read with matches: its name, whether leet, its terms by key, the way from a
span of the folded text to the raw span of its words, the matches."""


def _word_span(folded: bytes, shift: int, start: int, end: int) -> tuple[int, int]:
    """The raw span of the words that ``folded[start:end]`` covers, where the folded text
    is the raw text byte for byte, ``shift`` places on."""
    first = start + 1 if folded[start] == 32 else start
    last = end - 2 if folded[end - 1] == 32 else end - 1
    begin = folded.rfind(b" ", 0, first + 1) + 1
    stop = folded.find(b" ", last)
    return begin + shift, stop + shift


class Tagger:
    """Finds the themes of posts, with their evidence.

    A post that one :class:`~tipwatch.forums.normalise.CodePage` holds (ASCII, Western and
    Central European Latin, Cyrillic, Greek) is folded and searched as bytes of that encoding,
    by an automaton of the keys written in it (built on first use); other text through the
    character table."""

    def __init__(self, themes: ThemeSet, *, backend: str = "auto") -> None:
        self.themes = themes
        self._backend = backend
        self._tables = {False: _PLAIN, True: _LEET}
        self._channels: list[tuple[str, bool, _Automaton, list[list[Term]]]] = []
        self._keys: list[list[str]] = []
        for channel, leet in (("plain", False), ("leet", True)):
            keys: dict[str, list[Term]] = {}
            for theme in themes.themes.values():
                for term in theme.terms:
                    words = fold_words(term.text, leet=leet)
                    if not words:
                        continue
                    if term.match == "word":
                        key = f" {words} "
                    elif term.match == "prefix":
                        key = f" {words}"
                    else:
                        key = words
                    keys.setdefault(key, []).append(term)
            ordered = list(keys)
            self._keys.append(ordered)
            self._channels.append(
                (channel, leet, _automaton(ordered, backend), [keys[k] for k in ordered])
            )
        # Per code page and channel: the automaton's matches and the terms of each of its keys.
        self._paged: dict[
            str, tuple[tuple[Callable[[bytes], list[tuple[int, int, int]]], list[list[Term]]], ...]
        ] = {}

    def _page_automata(
        self, page: CodePage
    ) -> tuple[tuple[Callable[[bytes], list[tuple[int, int, int]]], list[list[Term]]], ...]:
        found = self._paged.get(page.name)
        if found is None:
            built = []
            for keys, (_c, _l, _a, terms) in zip(self._keys, self._channels, strict=True):
                encoded: list[bytes] = []
                kept: list[list[Term]] = []
                for key, key_terms in zip(keys, terms, strict=True):
                    key_bytes = page.encode_folded(key)
                    if key_bytes is None:
                        continue  # a key the page cannot write is never in its text
                    encoded.append(key_bytes)
                    kept.append(key_terms)
                if not encoded:  # an automaton needs a key: one no folded text holds
                    encoded, kept = [b"\x00"], [[]]
                built.append((_bytes_automaton(encoded, self._backend).matches, kept))
            found = self._paged[page.name] = tuple(built)
        return found

    def _hits(self, text: str) -> _Hits:
        """The matches of ``text`` in each channel read (the leet one only where a digit,
        @ or $ touches a letter); empty when there are none."""
        if text.isascii():  # the common case, without a call
            page, data = _ASCII_PAGE, text.encode("ascii")
        else:
            encoded = single_byte(text)
            if encoded is None:
                return self._hits_by_characters(text)
            page, data = encoded
        (plain, plain_terms), leet = self._paged.get(page.name) or self._page_automata(page)
        found: _Hits = []
        same = data.translate(page.plain)  # one folded byte for each character of the text
        if b"  " in same:  # runs of separators: one space each
            self._read(text, page, data, False, plain, plain_terms, found)
        else:
            folded = b" " + same.strip(b" ") + b" "
            hits = plain(folded)
            if hits:
                # Position i of the folded text is i - 1 of the text, or i with a separator
                # in front.
                shift = 0 if same[:1] == b" " else -1
                span_of = functools.partial(_word_span, folded, shift)
                found.append(("plain", False, plain_terms, span_of, hits))
        if data.translate(None, _NOT_LEET_BYTE) and _HAS_LEET.search(text) is not None:
            self._read(text, page, data, True, *leet, found)
        return found

    def _read(
        self,
        text: str,
        page: CodePage,
        data: bytes,
        leet: bool,
        automaton: Callable[[bytes], list[tuple[int, int, int]]],
        terms: list[list[Term]],
        found: _Hits,
    ) -> None:
        """One channel's matches of ``data``, ``text`` encoded in ``page``, into ``found``."""
        folded = fold_bytes(page, data, leet=leet)
        hits = automaton(folded)
        if not hits:
            return
        if len(folded) == len(data) + 2 and folded[1:-1] == data.translate(
            page.leet if leet else page.plain
        ):
            span_of: Callable[[int, int], tuple[int, int]] = functools.partial(
                _word_span, folded, -1
            )
        else:  # separators were merged: the way back goes word by word
            span_of = Folded(text, page.decode_folded(folded), self._tables[leet]).raw_span
        found.append(("leet" if leet else "plain", leet, terms, span_of, hits))

    def _hits_by_characters(self, text: str) -> _Hits:
        """:meth:`_hits` for any text: ASCII folded by bytes, other text through the
        character table, word by word."""
        found: _Hits = []
        for channel, leet, automaton, terms in self._channels:
            if leet and not _leet_disguised(text):
                continue
            if text.isascii():
                folded = fold_text(text, leet=leet)
            else:
                folded = fold_text_by_words(text, leet=leet)
            hits = automaton.matches(folded)
            if hits:
                spans = Folded(text, folded, self._tables[leet])
                found.append((channel, leet, terms, spans.raw_span, hits))
        return found

    def themes_of(self, text: str) -> set[str]:
        """The themes of ``text`` (no evidence: the fast path of counting)."""
        found: set[str] = set()
        for _channel, _leet, terms, _folded, hits in self._hits(text):
            for index, _s, _e in hits:
                found.update(term.theme for term in terms[index])
        return found

    def tag(self, text: str) -> dict[str, list[Evidence]]:
        """Each theme of ``text`` with its evidence (term, channel, raw span and text), in
        order of position; a term found in both channels is given once (plain)."""
        found = self._hits(text)
        return self._evidence(text, found) if found else {}

    def tag_by_characters(self, text: str) -> dict[str, list[Evidence]]:
        """:meth:`tag` without the code pages: ASCII folded by bytes and searched as text,
        other text through the character table, word by word (the way every post was read
        before; the reference of the tests and the benchmark)."""
        found = self._hits_by_characters(text)
        return self._evidence(text, found) if found else {}

    def _evidence(self, text: str, found: _Hits) -> dict[str, list[Evidence]]:
        out: dict[str, list[Evidence]] = {}
        seen: set[tuple[str, str, int]] = set()
        for channel, _leet, terms, span_of, matches in found:
            for index, s, e in matches:
                start, end = span_of(s, e)
                for term in terms[index]:
                    key = (term.theme, term.text, start)
                    if key in seen:
                        continue
                    seen.add(key)
                    out.setdefault(term.theme, []).append(
                        Evidence(
                            term.theme,
                            term.text,
                            term.language,
                            channel,
                            start,
                            end,
                            text[start:end],
                        )
                    )
        for evidence in out.values():
            if len(evidence) > 1:
                evidence.sort(key=_BY_POSITION)
        return out

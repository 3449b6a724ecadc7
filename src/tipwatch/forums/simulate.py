"""Generated forum data with known answers, for tests and benchmarks.

Everything here is invented and benign: filler sentences about weather, cooking and hobbies in
six languages (one in Cyrillic), the neutral theme phrases of the shipped theme file, and
made-up words. Nothing here resembles real forum content beyond its shape.

* :func:`labelled_posts`: posts labelled with the themes whose phrases were written into them,
  some disguised (look-alike letters of another script, zero-width characters, leet digits,
  fullwidth letters, odd case and spacing; a few with their letters apart, "k.i.d.s", which
  the tagger does not undo), and hard negatives (a phrase's words inside longer
  words, a phrase cut short, its words apart).
* :func:`term_stream`: a stream of posts over days from thousands of stable words, with new
  terms planted at known dates (used by many authors in many threads), one term pushed by one
  author alone and one confined to one thread.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from tipwatch.forums.emerging import PostTerms, terms_of
from tipwatch.forums.themes import ThemeSet

__all__ = [
    "FILLER",
    "LabelledPost",
    "StreamPost",
    "TermStream",
    "labelled_posts",
    "regex_matchers",
    "term_stream",
]

FILLER: dict[str, list[str]] = {
    "en": [
        "the weather was mild today",
        "we baked bread with the new oven",
        "the garden needs water",
        "my bicycle has a flat tyre",
        "the train was late again",
        "this recipe uses lentils",
        "the library opens on monday",
        "I painted the fence blue",
        "our cat sleeps all day",
        "the match ended in a draw",
        "a contestant on the quiz show won a kettle",
        "the school bus passed",
        "kids love the park",
        "home cooking tastes better",
        "we talked about the vpn settings of the office printer",
        "the challenge trophy is gold",
    ],
    "de": [
        "das wetter war heute mild",
        "wir haben brot gebacken",
        "der garten braucht wasser",
        "mein fahrrad hat einen platten",
        "der zug hatte verspätung",
        "die bibliothek ist neu",
        "die wettbewerbsfähigkeit der firma steigt",
        "die kinderzimmer sind hell",
    ],
    "fr": [
        "il fait beau aujourd'hui",
        "nous avons fait du pain",
        "le jardin a besoin d'eau",
        "mon vélo est crevé",
        "le train est en retard",
        "la bibliothèque ouvre lundi",
        "les concurrents sont prêts",
        "la maison est calme",
    ],
    "es": [
        "hace buen tiempo hoy",
        "hicimos pan en casa",
        "el jardín necesita agua",
        "mi bicicleta está rota",
        "el tren llegó tarde",
        "la biblioteca abre el lunes",
        "los concursantes llegaron",
        "la escuela de música",
    ],
    "nl": [
        "het weer was zacht vandaag",
        "we hebben brood gebakken",
        "de tuin heeft water nodig",
        "mijn fiets is lek",
        "de trein was te laat",
        "de bibliotheek is open",
        "de wedstrijdsecretaris belde",
        "de kinderen spelen buiten",
    ],
    "ru": [
        "сегодня тёплая погода",
        "мы испекли хлеб",
        "саду нужна вода",
        "мой велосипед сломался",
        "поезд опоздал",
        "библиотека открыта в понедельник",
        "детина колол дрова",
        "конкурсант получил чайник",
        "школьный автобус проехал",
        "домашний суп вкуснее",
    ],
}
"""Benign filler sentences per language; some hold a theme word inside a longer word."""

# Latin letters and the Cyrillic or Greek letters that look like them, both ways.
_LOOKALIKE = {
    "a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441",
    "x": "\u0445", "y": "\u0443", "i": "\u0456", "k": "\u03ba", "s": "\u0455",
    "\u0430": "a", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0441": "c",
    "\u0445": "x",
}  # fmt: skip
_LEET_OF = {"o": "0", "i": "1", "e": "3", "a": "4", "s": "5", "t": "7"}
_ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e"]


@dataclass(frozen=True)
class LabelledPost:
    text: str
    themes: frozenset[str]
    language: str
    disguise: str


def _disguise(phrase: str, rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.03:
        # Letters apart (k.i.d.s): a disguise the tagger does not undo, kept in the set so
        # that the figures show it.
        return " ".join(".".join(word) for word in phrase.split()), "dotted"
    kind = rng.choice(["none", "case", "lookalike", "zero-width", "leet", "fullwidth", "spacing"])
    if kind == "case":
        return "".join(c.upper() if rng.random() < 0.5 else c for c in phrase), kind
    if kind == "lookalike":
        chars = list(phrase)
        spots = [i for i, c in enumerate(chars) if c in _LOOKALIKE]
        for i in rng.sample(spots, min(len(spots), 2)):
            chars[i] = _LOOKALIKE[chars[i]]
        return "".join(chars), kind
    if kind == "zero-width":
        chars = list(phrase)
        inner = [i for i in range(1, len(chars)) if chars[i - 1].isalpha() and chars[i].isalpha()]
        for i in sorted(rng.sample(inner, min(len(inner), 2)), reverse=True):
            chars.insert(i, rng.choice(_ZERO_WIDTH))
        return "".join(chars), kind
    if kind == "leet":
        spots = [i for i, c in enumerate(phrase) if c in _LEET_OF]
        if not spots:
            return phrase, "none"
        chars = list(phrase)
        for i in rng.sample(spots, min(len(spots), 2)):
            chars[i] = _LEET_OF[chars[i]]
        return "".join(chars), kind
    if kind == "fullwidth":
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in phrase), kind
    if kind == "spacing":
        return re.sub(" ", lambda _m: rng.choice(["  ", " - ", ", ", "\n"]), phrase), kind
    return phrase, "none"


def _phrases(themes: ThemeSet, language: str) -> dict[str, list[str]]:
    return {
        name: [t.text for t in theme.terms if t.language == language and t.match == "word"]
        for name, theme in themes.themes.items()
    }


def _near_miss(phrase: str, rng: random.Random) -> str:
    """A benign variant of ``phrase`` that must not match: a word glued to more letters, or
    the phrase's words apart."""
    words = phrase.split()
    if len(words) == 1 or rng.random() < 0.5:
        i = rng.randrange(len(words))
        glue = "ов" if any("\u0400" <= c <= "\u04ff" for c in words[i]) else "ous"
        words[i] = words[i] + glue if rng.random() < 0.5 else glue[::-1] + words[i]
        return " ".join(words)
    return f"{words[0]} and then much later {' '.join(words[1:])}"


def labelled_posts(themes: ThemeSet, n: int, *, seed: int = 0) -> list[LabelledPost]:
    """``n`` posts, about half with one or two themes (their phrases disguised or not), the
    rest without, among them hard negatives."""
    rng = random.Random(seed)
    languages = sorted(FILLER)
    out: list[LabelledPost] = []
    for _ in range(n):
        lang = rng.choice(languages)
        phrases = {k: v for k, v in _phrases(themes, lang).items() if v}
        parts = [rng.choice(FILLER[lang]) for _ in range(rng.randint(1, 3))]
        labels: set[str] = set()
        disguise = "none"
        roll = rng.random()
        if roll < 0.5 and phrases:
            for theme in rng.sample(sorted(phrases), 1 if rng.random() < 0.8 else 2):
                text, disguise = _disguise(rng.choice(phrases[theme]), rng)
                parts.insert(rng.randint(0, len(parts)), text)
                labels.add(theme)
        elif roll < 0.8 and phrases:
            theme = rng.choice(sorted(phrases))
            parts.insert(rng.randint(0, len(parts)), _near_miss(rng.choice(phrases[theme]), rng))
            disguise = "near-miss"
        out.append(LabelledPost(". ".join(parts) + ".", frozenset(labels), lang, disguise))
    return out


def regex_matchers(themes: ThemeSet) -> dict[str, re.Pattern[str]]:
    """The baseline: one plain regular expression per theme over the same phrases, case
    folded, with Unicode word boundaries (``(?<!\\w)`` and ``(?!\\w)``)."""
    out: dict[str, re.Pattern[str]] = {}
    for name, theme in themes.themes.items():
        parts = []
        for t in theme.terms:
            body = r"\s+".join(re.escape(w) for w in t.text.split())
            if t.match == "word":
                parts.append(rf"(?<!\w){body}(?!\w)")
            elif t.match == "prefix":
                parts.append(rf"(?<!\w){body}")
            else:
                parts.append(body)
        out[name] = re.compile("|".join(parts), re.IGNORECASE)
    return out


@dataclass
class StreamPost:
    post_id: str
    forum: str
    thread: str
    author: str
    day: date
    text: str

    def post_terms(self) -> PostTerms:
        return PostTerms(
            self.post_id,
            self.thread,
            self.author,
            self.day,
            frozenset(terms_of(self.text)),
            self.forum,
        )


@dataclass
class TermStream:
    posts: list[StreamPost]
    start: date
    days: int
    planted: dict[str, date] = field(default_factory=dict)
    """Each planted term and the day its use began."""
    one_author: str = ""
    one_thread: str = ""


def _made_up_word(rng: random.Random, syllables: int) -> str:
    cons, vowels = "bdfgklmnprstvz", "aeiou"
    return "".join(rng.choice(cons) + rng.choice(vowels) for _ in range(syllables))


def term_stream(
    *,
    seed: int = 0,
    days: int = 150,
    posts_per_day: int = 300,
    vocabulary: int = 4000,
    planted: int = 10,
    authors: int = 600,
    threads: int = 200,
    start: date = date(2020, 1, 1),
) -> TermStream:
    """A stream of posts over ``days`` days: words drawn from a stable Zipf vocabulary, and
    ``planted`` new terms (single words and two-word phrases) starting at known days after
    the first ten weeks, each used by many authors in many threads at a rising rate. One more
    term is pushed by one author alone (in many posts and threads), another by many authors in
    one thread only: neither may be reported."""
    rng = random.Random(seed)
    words = sorted({_made_up_word(rng, rng.randint(2, 4)) for _ in range(vocabulary * 2)})
    words = words[:vocabulary]
    rng.shuffle(words)
    weights = [1.0 / (rank + 1) ** 1.05 for rank in range(len(words))]
    cumulative = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    new_terms: dict[str, date] = {}
    first_plant = 70
    for k in range(planted):
        term = _made_up_word(rng, 3) + "x"
        if k % 3 == 2:
            term = f"{term} {_made_up_word(rng, 2)}q"
        new_terms[term] = start + timedelta(days=rng.randint(first_plant, days - 10))
    one_author_term = _made_up_word(rng, 3) + "y"
    one_thread_term = _made_up_word(rng, 3) + "w"
    spammer = "author-spam"
    out: list[StreamPost] = []
    n = 0
    for d in range(days):
        day = start + timedelta(days=d)
        count = max(1, int(rng.gauss(posts_per_day, posts_per_day**0.5)))
        for _ in range(count):
            n += 1
            text_words = rng.choices(words, cum_weights=cumulative, k=rng.randint(8, 16))
            author = f"author-{rng.randrange(authors)}"
            thread = f"thread-{rng.randrange(threads)}"
            for term, began in new_terms.items():
                age = (day - began).days
                # From a few posts a day, rising over two weeks, then staying.
                if age >= 0 and rng.random() < min(0.004 + 0.002 * age, 0.03):
                    text_words.insert(rng.randrange(len(text_words) + 1), term)
            if d >= first_plant and rng.random() < 0.01:
                thread = "thread-one"
                text_words.insert(0, one_thread_term)
            out.append(StreamPost(f"p{n}", "forum-a", thread, author, day, " ".join(text_words)))
        if d >= first_plant:
            for _ in range(15):  # one author, many posts, many threads
                n += 1
                text_words = rng.choices(words, cum_weights=cumulative, k=10)
                text_words.insert(3, one_author_term)
                out.append(
                    StreamPost(
                        f"p{n}",
                        "forum-a",
                        f"thread-{rng.randrange(threads)}",
                        spammer,
                        day,
                        " ".join(text_words),
                    )
                )
    return TermStream(out, start, days, new_terms, one_author_term, one_thread_term)


def speed_corpus(
    *, posts: int = 100_000, terms: int = 5000, themes: int = 20, seed: int = 0
) -> tuple[ThemeSet, list[str]]:
    """A lexicon of ``terms`` invented terms (one to three words) in ``themes`` themes, and
    ``posts`` posts of about 200 characters: invented filler words, a tenth of the posts with
    a term of the lexicon, a fifth with a number, a tenth in Cyrillic letters."""
    from tipwatch.forums.themes import Term, Theme

    rng = random.Random(seed)
    vocabulary = sorted({_made_up_word(rng, rng.randint(1, 4)) for _ in range(40_000)})
    rng.shuffle(vocabulary)
    lexicon_words, filler = vocabulary[:3000], vocabulary[3000:]
    to_cyrillic = str.maketrans("bdfgklmnprstvzaeiou", "бдфгклмнпрствзаеиоу")
    theme_set = ThemeSet({}, ["generated"])
    seen: set[str] = set()
    while len(seen) < terms:
        phrase = " ".join(rng.sample(lexicon_words, rng.choice([1, 1, 2, 2, 3])))
        if phrase in seen:
            continue
        seen.add(phrase)
        name = f"theme-{len(seen) % themes:02d}"
        theme = theme_set.themes.setdefault(name, Theme(name, name))
        theme.terms.append(Term(name, phrase, "und"))
    all_terms = [t.text for theme in theme_set.themes.values() for t in theme.terms]
    out: list[str] = []
    for _ in range(posts):
        words: list[str] = []
        length = 0
        while length < 190:
            word = rng.choice(filler)
            words.append(word)
            length += len(word) + 1
        if rng.random() < 0.1:
            words.insert(rng.randrange(len(words)), rng.choice(all_terms))
        if rng.random() < 0.2:
            words.insert(rng.randrange(len(words)), str(rng.randrange(1, 2020)))
        text = " ".join(words)
        if rng.random() < 0.1:
            text = text.translate(to_cyrillic)
        out.append(text[:1].upper() + text[1:] + ".")
    return theme_set, out

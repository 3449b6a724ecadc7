"""The theme file, keyword lists as data, and the tagger's evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tipwatch.errors import ConfigError, InputError
from tipwatch.formats.forum_lexicon import read_lexicon
from tipwatch.forums.themes import Tagger, load_themes

SHIPPED_THEMES = {
    "lockdown",
    "competitions",
    "live-requests",
    "self-generated",
    "access-sharing",
    "security-advice",
}


def test_the_shipped_themes_cover_the_period_in_several_languages() -> None:
    themes = load_themes()
    assert set(themes.themes) == SHIPPED_THEMES
    for theme in themes.themes.values():
        languages = {t.language for t in theme.terms}
        assert {"en", "de", "fr", "es", "nl", "ru"} <= languages, theme.name
        assert any(any("\u0400" <= c <= "\u04ff" for c in t.text) for t in theme.terms)


def test_evidence_gives_term_channel_and_raw_span() -> None:
    tagger = Tagger(load_themes())
    text = "Update: the SCHOOLS ARE CLOSED and k1ds @t h0me; which\u200bvpn? which vpn!"
    found = tagger.tag(text)
    assert set(found) == {"lockdown", "security-advice"}
    lockdown = {(e.term, e.channel, e.raw) for e in found["lockdown"]}
    assert ("schools are closed", "plain", "SCHOOLS ARE CLOSED") in lockdown
    assert ("kids at home", "leet", "k1ds @t h0me") in lockdown
    for e in found["lockdown"]:
        assert text[e.start : e.end] == e.raw
    # "which\u200bvpn" joins into one word: not the phrase; the second one is
    assert [e.raw for e in found["security-advice"]] == ["which vpn"]


@pytest.mark.parametrize(
    "text",
    ["детина дома", "предети дома", "a contestant", "contestants", "kids athome", "webcams"],
)
def test_no_match_inside_longer_words(text: str) -> None:
    assert Tagger(load_themes()).tag(text) == {}


def test_theme_file_match_modes(tmp_path: Path) -> None:
    path = tmp_path / "themes.toml"
    path.write_text(
        '[weather]\nlabel = "Weather"\nen = ["rain*", "*storm*", "sunny day"]\nru = ["дождь"]\n',
        encoding="utf-8",
    )
    tagger = Tagger(load_themes(path))
    assert tagger.themes_of("raining again") == {"weather"}
    assert tagger.themes_of("a thunderstorms night") == {"weather"}
    assert tagger.themes_of("brain") == set()
    assert tagger.themes_of("ДОЖДЬ") == {"weather"}
    assert tagger.themes_of("дождьливый") == set()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not toml [", "not valid TOML"),
        ('x = "a"', "must be a table"),
        ('[a]\nlabel = "A"\n', "has no phrases"),
        ('[a]\nen = "one"\n', "must be a list of phrases"),
        ('[a]\nen = ["..."]\n', "no letters or digits"),
    ],
)
def test_bad_theme_files_are_refused_with_the_reason(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "t.toml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_themes(path)


def test_keyword_lists_load_as_data_and_report_bad_entries(tmp_path: Path) -> None:
    csv_path = tmp_path / "list.csv"
    csv_path.write_text(
        "term,language,category,source,date,match\n"
        "glimmerword,en,lockdown,partner-a,2020-04-01,word\n"
        "sparkl,en,newtheme,partner-a,2020-04-02,prefix\n"
        ",en,lockdown,partner-a,2020-04-01,word\n"
        "x,en,lockdown,partner-a,April,word\n"
        "y,en,lockdown,partner-a,2020-04-01,fuzzy\n",
        encoding="utf-8",
    )
    read = read_lexicon(csv_path)
    assert [e.term for e in read.entries] == ["glimmerword", "sparkl"]
    assert len(read.problems) == 3
    assert "line 4: no term" in read.problems[0]
    assert "not YYYY-MM-DD" in read.problems[1]
    assert "match mode 'fuzzy'" in read.problems[2]
    json_path = tmp_path / "list.json"
    json_path.write_text(
        json.dumps({"entries": [{"term": "шиммер", "language": "ru", "category": "lockdown"}]})
    )
    themes = load_themes()
    themes.add_lexicon(read.entries, str(csv_path))
    themes.add_lexicon(read_lexicon(json_path).entries, str(json_path))
    tagger = Tagger(themes)
    assert tagger.themes_of("a glimmerword here") == {"lockdown"}
    assert tagger.themes_of("sparkling") == {"newtheme"}
    assert tagger.themes_of("ШИММЕР") == {"lockdown"}
    assert themes.digest != load_themes().digest


def test_a_keyword_list_without_the_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("word,lang\nx,en\n")
    with pytest.raises(InputError, match="term and category"):
        read_lexicon(path)


def test_the_fallback_automaton_finds_the_same() -> None:
    pytest.importorskip("ahocorasick")
    themes = load_themes()
    fast, fallback = Tagger(themes), Tagger(themes, backend="pyahocorasick")
    for text in [
        "schools closed and kids at home",
        "Wettbewerb! welches VPN? k1ds @t h0me",
        "ДЕТИ ДОМА, конкурс",
        "nothing here",
    ]:
        assert fast.tag(text) == fallback.tag(text)


def test_evidence_spans_hold_the_term_on_every_labelled_post() -> None:
    """On thousands of generated posts (disguised phrases in six languages), the raw text of
    each evidence span folds to its term: the way back from folded to raw positions holds."""
    from tipwatch.forums.normalise import fold_words
    from tipwatch.forums.simulate import labelled_posts

    themes = load_themes()
    tagger = Tagger(themes)
    checked = 0
    for labelled in labelled_posts(themes, 2000, seed=3):
        for evidence in (e for found in tagger.tag(labelled.text).values() for e in found):
            leet = evidence.channel == "leet"
            assert labelled.text[evidence.start : evidence.end] == evidence.raw
            assert fold_words(evidence.raw, leet=leet) == fold_words(evidence.term, leet=leet)
            checked += 1
    assert checked > 900


def test_the_code_page_path_tags_as_the_character_table_does() -> None:
    """Posts that a single-byte code page holds (ASCII, Latin with accents, Cyrillic, Greek)
    are read as bytes; the themes and evidence are those of the character table's reading,
    on generated posts in six languages and on the speed corpus (a tenth in Cyrillic)."""
    from tipwatch.forums.normalise import single_byte
    from tipwatch.forums.simulate import labelled_posts, speed_corpus

    themes = load_themes()
    tagger = Tagger(themes)
    texts = [p.text for p in labelled_posts(themes, 2000, seed=5)]
    texts += [
        "ДЕТИ ДОМА, конкурс",
        "Schulen geschlossen, Kinder zu Hause; Straße",  # ß folds to two letters
        "les écoles fermées, les enfants à la maison",
        "k1ds @t h0me, \u0434\u0435\u0442\u0438 \u04340\u043c\u0430",
        "\u03ba\u03b9\u03b4\u03c2 at home",  # Greek look-alikes
        "",
        "...",
    ]
    by_bytes = sum(single_byte(t) is not None and not t.isascii() for t in texts)
    assert by_bytes > 300  # the non-ASCII code-page path is exercised
    tagged = 0
    for text in texts:
        expected = tagger.tag_by_characters(text)
        assert tagger.tag(text) == expected, text
        assert tagger.themes_of(text) == set(expected), text
        tagged += bool(expected)
    assert tagged > 900
    lexicon, posts = speed_corpus(posts=3000, terms=2000, seed=4)
    on_lexicon = Tagger(lexicon)
    for text in posts:
        assert on_lexicon.tag(text) == on_lexicon.tag_by_characters(text), text
    assert sum(not t.isascii() for t in posts) > 200


def test_a_key_outside_a_code_page_is_still_found_in_other_text(tmp_path: Path) -> None:
    """A Georgian or Arabic phrase (no code page holds it) is found through the character
    table, and a Cyrillic one in a post that also holds a character outside its code page."""
    path = tmp_path / "themes.toml"
    path.write_text(
        '[t]\nka = ["\u10e1\u10d9\u10dd\u10da\u10d0"]\nru = ["\u0434\u043e\u043c\u0430"]\n'
        'ar = ["\u0645\u062f\u0631\u0633\u0629"]\n',
        encoding="utf-8",
    )
    tagger = Tagger(load_themes(path))
    for text, term in [
        ("a \u10e1\u10d9\u10dd\u10da\u10d0 b", "\u10e1\u10d9\u10dd\u10da\u10d0"),
        (
            "\u0434\u043e\u043c\u0430 \u0645\u062f\u0631\u0633\u0629",
            "\u0645\u062f\u0631\u0633\u0629",
        ),
        ("\u0434\u043e\u043c\u0430 \u10e1", "\u0434\u043e\u043c\u0430"),
        ("\u0414\u041e\u041c\u0410!", "\u0434\u043e\u043c\u0430"),
    ]:
        found = tagger.tag(text)
        assert term in {e.term for e in found["t"]}, text
        assert found == tagger.tag_by_characters(text)
    assert tagger.tag("\u0434\u043e\u043c\u0430\u0448\u043d\u0438\u0439") == {}


@pytest.mark.parametrize(
    "text",
    ["k1ds @t h0me", "so k1ds @t h0me now", " k1ds @t h0me", "k1ds @t h0me!", "k1ds @t  h0me"],
)
def test_leet_evidence_spans_with_and_without_merged_separators(text: str) -> None:
    tagger = Tagger(load_themes())
    found = tagger.tag(text)
    assert found == tagger.tag_by_characters(text)
    leet = [e for e in found["lockdown"] if e.channel == "leet"]
    assert [e.raw.split() for e in leet] == [["k1ds", "@t", "h0me"]]
    assert text[leet[0].start : leet[0].end] == leet[0].raw

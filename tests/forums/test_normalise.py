"""Normalisation: every disguise the issue names reaches the same folded form; words are
Unicode-aware; evidence points back at the raw text."""

from __future__ import annotations

import pytest

from tipwatch.forums.normalise import fold, fold_text, fold_words, light_words, skeleton_map


@pytest.mark.parametrize(
    "raw",
    [
        "kids at home",
        "Kids At HOME",
        "".join(chr(ord(c) + 0xFEE0) if c != " " else c for c in "kids at home"),  # fullwidth
        "k\u200bids at h\u200dome",  # zero-width space and joiner
        "kids\u202e at\u202c home",  # bidirectional controls
        "k\u0456ds at home",  # Cyrillic i
        "kids  at,  home!",  # spacing and punctuation
        "\U0001d424ids at home",  # mathematical bold k
    ],
)
def test_disguises_fold_to_the_plain_phrase(raw: str) -> None:
    assert fold_text(raw) == " kids at home "


def test_leet_digits_are_a_second_channel_only() -> None:
    assert fold_text("k1ds @t h0me") == " k1ds t h0me "
    assert fold_text("k1ds @t h0me", leet=True) == " kids at home "
    assert fold_text("open 24/7") == " open 24 7 "


def test_diacritics_and_case_folding() -> None:
    assert fold_words("Écoles FERMÉES") == fold_words("ecoles fermees")
    assert fold_words("Straße") == "strasse"


def test_cyrillic_upper_and_lower_case_meet_and_mixed_script_lookalikes_too() -> None:
    assert fold_words("ДЕТИ ДОМА") == fold_words("дети дома")
    # a Latin o inside a Cyrillic word, as a disguise
    contest = "\u043a\u043e\u043d\u043a\u0443\u0440\u0441"
    assert fold_words(contest.replace("\u043e", "o")) == fold_words(contest)
    assert fold_words("детина") != fold_words("дети")


def test_the_skeleton_map_has_the_confusables_data() -> None:
    protos = skeleton_map()
    assert len(protos) > 5000
    assert protos["\u0430"] == "a"  # Cyrillic a
    assert all(not c.isascii() for c in protos)


def test_raw_spans_point_at_the_written_words() -> None:
    raw = "Look: k\u200bids  at HOME, now"
    folded = fold(raw)
    start = folded.text.index(" kids at home ")
    s, e = folded.raw_span(start, start + len(" kids at home "))
    assert raw[s:e] == "k\u200bids  at HOME"
    ascii_raw = "well, kids at home."
    f2 = fold(ascii_raw)
    i = f2.text.index(" kids")
    assert ascii_raw[slice(*f2.raw_span(i, i + len(" kids at home ")))] == "kids at home"


def test_light_words_keep_scripts_readable() -> None:
    assert light_words("Школы ЗАКРЫТЫ!") == ["школы", "закрыты"]
    assert light_words("k\u200bids") == ["kids"]


def test_the_fast_paths_fold_as_the_character_table_does() -> None:
    """ASCII text is folded through bytes and other text word by word (cached): both give
    exactly the character table's words joined by one space."""
    from tipwatch.forums import normalise
    from tipwatch.forums.simulate import labelled_posts, speed_corpus
    from tipwatch.forums.themes import load_themes

    _themes, posts = speed_corpus(posts=2000, terms=200)
    texts = [*posts, *(p.text for p in labelled_posts(load_themes(), 2000, seed=2))]
    texts += ["", "   ", "...", "a", " a  b ", "\t\nx\ty\n", "k1ds @t h0me", "x,,y"]
    for text in texts:
        for leet in (False, True):
            table = normalise._LEET if leet else normalise._PLAIN
            expected = " " + " ".join(text.translate(table).split()) + " "
            assert fold_text(text, leet=leet) == expected, text


def test_every_character_of_the_code_pages_folds_as_the_character_table_does() -> None:
    """Each character of each code page, alone, between letters and doubled, folds through
    the page's bytes exactly as through the character table; characters that fold to none
    or several (a soft hyphen, ß) send the text to the character table instead."""
    from tipwatch.forums import normalise

    assert normalise.single_byte("Stra\u00dfe") is None
    assert normalise.single_byte("k\u00adids") is None
    pages = list(normalise._code_pages())
    assert {p.name for p in pages} == {"cp1250", "cp1251", "cp1252", "cp1253"}
    checked = 0
    for page in pages:
        assert len(page.safe) > 200, page.name
        for byte in page.safe:
            char = bytes([byte]).decode(page.name)
            for text in (char, f"a{char}b", f"{char}{char} x{char}", f"1{char}3 {char}@"):
                encoded = normalise.single_byte(text)
                assert encoded is not None, (page.name, char)
                for leet in (False, True):
                    table = normalise._LEET if leet else normalise._PLAIN
                    expected = " " + " ".join(text.translate(table).split()) + " "
                    got = encoded[0].decode_folded(normalise.fold_bytes(*encoded, leet=leet))
                    assert got == expected, (page.name, char, leet)
                    assert fold_text(text, leet=leet) == expected
                    checked += 1
    assert checked > 7000

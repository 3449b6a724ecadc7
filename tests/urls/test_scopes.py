"""Entries with an explicit scope: what each scope matches, and that a page never widens."""

from __future__ import annotations

import pytest

from tipwatch.urls import Scope, URLError, UrlIndex, entry_key


def _index(*entries: tuple[str, Scope | None]) -> UrlIndex:
    index = UrlIndex()
    for url, scope in entries:
        index.add(entry_key(url, scope), "test", "cat")
    return index


def _hit(index: UrlIndex, url: str) -> list[tuple[str, str]]:
    return [(m.scope.value, m.key) for m in index.check(url)]


# (entry URL, scope, URLs it matches, URLs it must not match)
SCOPE_CASES = [
    (
        "http://a.invalid/dir/page.html",
        Scope.PAGE,
        [
            "http://a.invalid/dir/page.html",
            "https://A.invalid/dir/./page.html?x=1",
            "http://a.invalid/dir/page.html#top",
            "http://a.invalid/dir//page.html",
        ],
        [
            "http://a.invalid/",
            "http://a.invalid/dir/",
            "http://a.invalid/dir/page.html/more",
            "http://www.a.invalid/dir/page.html",
            "http://invalid/dir/page.html",
            "http://a.invalid/dir/page.htm",
        ],
    ),
    (
        "http://a.invalid/view?id=7",
        Scope.PAGE_QUERY,
        ["http://a.invalid/view?id=7", "http://a.invalid/view?id=%37"],
        ["http://a.invalid/view", "http://a.invalid/view?id=8", "http://a.invalid/view?id=7&x"],
    ),
    (
        "http://a.invalid/dir/",
        Scope.FOLDER,
        [
            "http://a.invalid/dir/",
            "http://a.invalid/dir/x",
            "http://a.invalid/dir/1/2/3/4/5/6/7/deep.html",
        ],
        ["http://a.invalid/dir", "http://a.invalid/directory/x", "http://b.a.invalid/dir/x"],
    ),
    (
        "a.invalid",
        Scope.HOST,
        ["http://a.invalid/", "http://a.invalid/any/page?q", "http://A.INVALID./x"],
        ["http://www.a.invalid/", "http://aa.invalid/", "http://invalid/"],
    ),
    (
        "a.invalid",
        Scope.SUBDOMAINS,
        [
            "http://a.invalid/",
            "http://www.a.invalid/x",
            "http://1.2.3.4.5.6.7.a.invalid/deep",
        ],
        ["http://aa.invalid/", "http://a.invalid.example/", "http://invalid/"],
    ),
]


@pytest.mark.parametrize(
    ("entry", "scope", "hits", "misses"), SCOPE_CASES, ids=[c[1].value for c in SCOPE_CASES]
)
def test_every_scope(entry: str, scope: Scope, hits: list[str], misses: list[str]) -> None:
    index = _index((entry, scope))
    key = entry_key(entry, scope)
    for url in hits:
        assert _hit(index, url) == [(scope.value, key.key)], url
    for url in misses:
        assert _hit(index, url) == [], url


def test_a_url_without_scope_is_the_narrowest_page_entry() -> None:
    assert entry_key("http://a.invalid/x").scope is Scope.PAGE
    assert entry_key("http://a.invalid/x?y=1").scope is Scope.PAGE_QUERY
    assert entry_key("http://a.invalid/").key == "a.invalid/"
    index = _index(("http://a.invalid/", None))
    assert _hit(index, "http://a.invalid/other") == []


def test_keys_and_refusals() -> None:
    assert entry_key("http://a.invalid/dir/file", Scope.FOLDER).key == "a.invalid/dir/file/"
    assert entry_key("http://a.invalid/x/y?z", Scope.HOST).key == "a.invalid"
    with pytest.raises(URLError, match="needs a URL with a query"):
        entry_key("http://a.invalid/x", Scope.PAGE_QUERY)
    with pytest.raises(URLError, match="no subdomains"):
        entry_key("http://192.0.2.1/", Scope.SUBDOMAINS)
    with pytest.raises(URLError, match="unknown scope"):
        Scope.parse("everything")
    assert Scope.parse("Host+Subdomains") is Scope.SUBDOMAINS


def test_matches_come_most_specific_first_and_carry_each_list() -> None:
    index = UrlIndex()
    index.add(entry_key("a.invalid", Scope.SUBDOMAINS), "wide", None)
    index.add(entry_key("http://www.a.invalid/p", Scope.PAGE), "narrow", "A1")
    index.add(entry_key("http://www.a.invalid/p", Scope.PAGE), "other", "B1")
    found = index.check("http://www.a.invalid/p")
    assert [(m.scope.value, m.list_name, m.category) for m in found] == [
        ("page", "narrow", "A1"),
        ("page", "other", "B1"),
        ("host+subdomains", "wide", None),
    ]
    assert len(index) == 2
    assert index.may_match_host("x.www.a.invalid") and not index.may_match_host("b.invalid")


def test_ip_hosts_match_in_any_encoding_and_have_no_parents() -> None:
    index = _index(("http://192.0.2.1/", Scope.HOST))
    assert _hit(index, "http://3221225985/x") == [("host", "192.0.2.1")]
    assert _hit(index, "http://[::ffff:192.0.2.1]/") == [("host", "192.0.2.1")]
    assert _hit(index, "http://0xc0.0.2.1/") == [("host", "192.0.2.1")]

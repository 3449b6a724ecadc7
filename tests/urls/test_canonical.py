"""Canonicalisation and lookup expressions against Safe Browsing's "URLs and Hashing"."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tipwatch.errors import InputError
from tipwatch.urls import URLError, canonicalize, expressions

# The canonicalisation examples published with the specification (version 4; version 5 adds
# the IPv6 rules below). One example is given as bytes: its host holds the raw bytes 0x01 and
# 0x80, which only bytes can carry.
SPEC_EXAMPLES: list[tuple[str | bytes, str]] = [
    ("http://host/%25%32%35", "http://host/%25"),
    ("http://host/%25%32%35%25%32%35", "http://host/%25%25"),
    ("http://host/%2525252525252525", "http://host/%25"),
    ("http://host/asdf%25%32%35asd", "http://host/asdf%25asd"),
    ("http://host/%%%25%32%35asd%%", "http://host/%25%25%25asd%25%25"),
    ("http://www.google.com/", "http://www.google.com/"),
    (
        "http://%31%36%38%2e%31%38%38%2e%39%39%2e%32%36/%2E%73%65%63%75%72%65/%77%77%77%2E%65%62%61%79%2E%63%6F%6D/",
        "http://168.188.99.26/.secure/www.ebay.com/",
    ),
    (
        "http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/",
        "http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/",
    ),
    (
        "http://host%23.com/%257Ea%2521b%2540c%2523d%2524e%25f%255E00%252611%252A22%252833%252944_55%252B",
        "http://host%23.com/~a!b@c%23d$e%25f^00&11*22(33)44_55+",
    ),
    ("http://3279880203/blah", "http://195.127.0.11/blah"),
    ("http://www.google.com/blah/..", "http://www.google.com/"),
    ("www.google.com/", "http://www.google.com/"),
    ("www.google.com", "http://www.google.com/"),
    ("http://www.evil.com/blah#frag", "http://www.evil.com/blah"),
    ("http://www.GOOgle.com/", "http://www.google.com/"),
    ("http://www.google.com.../", "http://www.google.com/"),
    ("http://www.google.com/foo\tbar\rbaz\n2", "http://www.google.com/foobarbaz2"),
    ("http://www.google.com/q?", "http://www.google.com/q?"),
    ("http://www.google.com/q?r?", "http://www.google.com/q?r?"),
    ("http://www.google.com/q?r?s", "http://www.google.com/q?r?s"),
    ("http://evil.com/foo#bar#baz", "http://evil.com/foo"),
    ("http://evil.com/foo;", "http://evil.com/foo;"),
    ("http://evil.com/foo?bar;", "http://evil.com/foo?bar;"),
    (b"http://\x01\x80.com/", "http://%01%80.com/"),
    ("http://notrailingslash.com", "http://notrailingslash.com/"),
    ("http://www.gotaport.com:1234/", "http://www.gotaport.com/"),
    ("  http://www.google.com/  ", "http://www.google.com/"),
    ("http:// leadingspace.com/", "http://%20leadingspace.com/"),
    ("http://%20leadingspace.com/", "http://%20leadingspace.com/"),
    ("%20leadingspace.com/", "http://%20leadingspace.com/"),
    ("https://www.securesite.com/", "https://www.securesite.com/"),
    ("http://host.com/ab%23cd", "http://host.com/ab%23cd"),
    ("http://host.com//twoslashes?more//slashes", "http://host.com/twoslashes?more//slashes"),
    # version 5: IPv6 hosts
    ("http://[2001:0db8:0000::1]/", "http://[2001:db8::1]/"),
    ("http://[::ffff:1.2.3.4]/", "http://1.2.3.4/"),
    ("http://[64:ff9b::1.2.3.4]/", "http://1.2.3.4/"),
]


@pytest.mark.parametrize(
    ("url", "expected"), SPEC_EXAMPLES, ids=[repr(u)[:60] for u, _ in SPEC_EXAMPLES]
)
def test_specification_examples(url: str | bytes, expected: str) -> None:
    assert canonicalize(url) == expected


# The specification's expression examples.
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://a.b.c/1/2.html?param=1",
            [
                "a.b.c/1/2.html?param=1",
                "a.b.c/1/2.html",
                "a.b.c/",
                "a.b.c/1/",
                "b.c/1/2.html?param=1",
                "b.c/1/2.html",
                "b.c/",
                "b.c/1/",
            ],
        ),
        (
            "http://a.b.c.d.e.f.g/1.html",
            [
                "a.b.c.d.e.f.g/1.html",
                "a.b.c.d.e.f.g/",
                "c.d.e.f.g/1.html",
                "c.d.e.f.g/",
                "d.e.f.g/1.html",
                "d.e.f.g/",
                "e.f.g/1.html",
                "e.f.g/",
                "f.g/1.html",
                "f.g/",
            ],
        ),
        ("http://1.2.3.4/1/", ["1.2.3.4/1/", "1.2.3.4/"]),
    ],
)
def test_specification_expressions(url: str, expected: list[str]) -> None:
    assert expressions(url) == expected


def test_expressions_are_bounded_to_five_hosts_and_six_paths() -> None:
    found = expressions("http://a.b.c.d.e.f.g.h/1/2/3/4/5/6.html?q=1")
    hosts = {e.split("/", 1)[0] for e in found}
    paths = {e[e.index("/") :] for e in found}
    assert len(hosts) == 5 and len(paths) == 6
    assert "/1/2/3/" in paths and "/1/2/3/4/" not in paths


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://0300.0250.0.01/", "http://192.168.0.1/"),
        ("http://192.0x00.2.010/", "http://192.0.2.8/"),
        ("http://192.0.513/", "http://192.0.2.1/"),
        ("http://256.1.1.1/", "http://256.1.1.1/"),  # not an address: kept as a name
        ("http://BÜCHER.invalid/a", "http://xn--bcher-kva.invalid/a"),
        ("http://user:pw@Host.invalid:8080/x", "http://host.invalid/x"),
        ("HTTP://host.invalid/a/./b/../../c//d/", "http://host.invalid/c/d/"),
        ("http://[2001:DB8::0:1]:443/", "http://[2001:db8::1]/"),
        ("http://[fe80::1%25eth0]/", "http://[fe80::1]/"),
        ("http://a%2Fb.invalid/", "http://a%2Fb.invalid/"),
    ],
)
def test_hosts(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "empty URL"),
        ("http:///path", "no host"),
        ("http://[1:2:3]/", "invalid IPv6"),
        ("http://[::1/", "closing"),
        ("http://.%5B/", "closing"),  # found by the property test: '.[' once read as a name
        ("http://host.invalid:port/", "not a number"),
        ("http://xn--a.invalid/\u00e9", None),  # fine: the path carries any byte
        ("http://a\u200d\u0301.invalid/", "international host"),
        ("http://h.invalid/%" + "25" * 100 + "41", "levels deep"),
        ("http://h.invalid/" + "a" * 1_000_000, "characters long"),
    ],
)
def test_refusals_say_why(url: str, reason: str | None) -> None:
    if reason is None:
        assert canonicalize(url).startswith("http://xn--a.invalid/%C3%A9")
        return
    with pytest.raises(URLError, match=reason):
        canonicalize(url)


def test_the_error_is_an_input_error() -> None:
    assert issubclass(URLError, InputError)
    with pytest.raises(URLError, match="text or bytes"):
        canonicalize(42)  # type: ignore[arg-type]


_url_text = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda scheme, host, path, q: f"{scheme}{host}{path}{q}",
        st.sampled_from(["", "http://", "https://", "HTTP://", "ftp://"]),
        st.text(alphabet=st.sampled_from(list("aZ09.-%[]:@_\u00e9\x00 /")), max_size=40),
        st.text(alphabet=st.sampled_from(list("/.a%25%2e?#&=\t\n\x7f\u00fc")), max_size=60),
        st.sampled_from(["", "?", "?a=1", "#f", "?x#y"]),
    ),
)


@settings(max_examples=600, deadline=None)
@given(_url_text)
def test_idempotent_and_never_raises_anything_else(url: str) -> None:
    try:
        once = canonicalize(url)
    except URLError:
        return
    assert canonicalize(once) == once
    assert all(e and "/" in e for e in expressions(once))
    assert expressions(once) == expressions(url)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_raw_bytes(url: bytes) -> None:
    try:
        once = canonicalize(url)
    except URLError:
        return
    assert once.isascii()
    assert canonicalize(once) == once


_plain_looking = st.builds(
    lambda scheme, labels, path, query: f"{scheme}://{'.'.join(labels)}{path}{query}",
    st.sampled_from(["http", "https", "HTTP"]),
    st.lists(st.text(alphabet="abz09-_A", min_size=1, max_size=6), min_size=1, max_size=4),
    st.text(alphabet=st.sampled_from(list("/.a-~!\"$&'()*+,;=:@%#?\\ Z")), max_size=30),
    st.sampled_from(["", "?", "?a=1", "?a?b", "?%41", "#x"]),
)


@settings(max_examples=1500, deadline=None)
@given(_plain_looking)
def test_the_fast_path_agrees_with_the_general_steps(url: str) -> None:
    from tipwatch.urls._canonical import MAX_URL_LENGTH, _canonical_parts, canonical_parts

    try:
        slow = _canonical_parts(url, MAX_URL_LENGTH)
    except URLError:
        with pytest.raises(URLError):
            canonical_parts(url)
        return
    assert canonical_parts(url) == slow

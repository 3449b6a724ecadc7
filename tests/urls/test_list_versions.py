"""URL list versions through the services: imports, deltas, state hashes, diffs, exports."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

from tipwatch import services
from tipwatch.errors import AccessDenied, ConflictError, InputError, NotFoundError
from tipwatch.services import Actor, Role
from tipwatch.store import Store
from tipwatch.store.audit import list_events

ANALYST = Actor("ana", Role.ANALYST)
LIAISON = Actor("lia", Role.LIAISON)

PLAIN_V1 = """# a list of pages and hosts
http://pages.invalid/a/one.html
http://pages.invalid/view?id=7
http://pages.invalid/dir/ folder
whole.invalid host
wide.invalid host+subdomains
http://192.0.2.7/x.html
not a url line with too many fields
http://[1:2:3]/ page
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _export(
    store: Store, fmt: str, version: str | None = None, name: str = "hotline"
) -> tuple[str, object]:
    out = io.StringIO()
    result = services.urls.export_list(store, ANALYST, name, fmt, out, version=version)
    return out.getvalue(), result


def test_import_check_versions_and_state_hash(store: Store, tmp_path: Path) -> None:
    v1 = services.urls.import_list(
        store,
        ANALYST,
        _write(tmp_path, "v1.txt", PLAIN_V1),
        list_name="hotline",
        version="1",
        category="csam",
    )
    assert v1.entries == 6 and v1.added == 6
    assert len(v1.problems) == 2
    assert "line 8" in v1.problems[0] and "fields" in v1.problems[0]
    assert "line 9" in v1.problems[1] and "invalid IPv6" in v1.problems[1]

    plain, _result = _export(store, "plain")
    assert hashlib.sha256(plain.encode()).hexdigest() == v1.state_sha256
    assert plain.splitlines()[0] == "folder\tpages.invalid/dir/"

    checked = services.urls.check_urls(
        store,
        ANALYST,
        [
            "http://PAGES.invalid/a/./one.html#x",
            "http://pages.invalid/a/two.html",
            "http://x.wide.invalid/",
            "http://[1:2:3]/",
        ],
    )
    assert [bool(r.matches) for r in checked] == [True, False, True, False]
    assert checked[0].matches[0] == {
        "scope": "page",
        "key": "pages.invalid/a/one.html",
        "list": "hotline",
        "category": "csam",
    }
    assert checked[3].error and "IPv6" in checked[3].error

    # a delta: one removal, one addition, one removal of something not listed
    delta = _write(
        tmp_path,
        "d2.txt",
        "- whole.invalid host\n+ http://pages.invalid/a/two.html\n- nothere.invalid host\n",
    )
    v2 = services.urls.import_list(
        store, ANALYST, delta, list_name="hotline", version="2", delta=True
    )
    assert (v2.added, v2.retired, v2.entries) == (1, 1, 6)
    assert any("does not hold" in p for p in v2.problems)

    # a whole list: states everything, so entries it leaves out are retired
    whole = _write(tmp_path, "v3.csv", "url,scope,category\nwide.invalid,host+subdomains,csam\n")
    v3 = services.urls.import_list(store, ANALYST, whole, list_name="hotline", version="3")
    assert (v3.entries, v3.retired) == (1, 5)

    versions = services.urls.list_versions(store, ANALYST, "hotline")
    assert [v["version"] for v in versions] == ["1", "2", "3"]
    assert [v["entries"] for v in versions] == [6, 6, 1]
    assert [(v["format"], v["delta"]) for v in versions] == [
        ("plain", False),
        ("plain", True),
        ("csv", False),
    ]
    assert versions[0]["state_sha256"] == v1.state_sha256

    # any version's state is rebuilt and hashes the same as when it was imported
    for v in versions:
        text, _ = _export(store, "plain", v["version"])
        assert hashlib.sha256(text.encode()).hexdigest() == v["state_sha256"]

    diff = services.urls.diff_versions(store, ANALYST, "hotline", "1", "2")
    assert diff.added == [("page", "pages.invalid/a/two.html")]
    assert diff.removed == [("host", "whole.invalid")]

    lists = services.urls.list_lists(store, ANALYST)
    assert lists[0]["name"] == "hotline" and lists[0]["version"] == "3"

    with pytest.raises(ConflictError, match="already has a version"):
        services.urls.import_list(store, ANALYST, whole, list_name="hotline", version="3")
    with pytest.raises(NotFoundError, match="no URL list"):
        services.urls.list_versions(store, ANALYST, "nothing")
    with pytest.raises(AccessDenied):
        services.urls.import_list(store, LIAISON, whole, list_name="hotline")
    actions = [e.action for e in list_events(store)]
    assert actions.count("url.import") == 5  # three imports, the conflict, the denial


def test_jsonl_and_csv_imports(store: Store, tmp_path: Path) -> None:
    jsonl = _write(
        tmp_path,
        "list.jsonl",
        json.dumps({"url": "http://j.invalid/p", "category": "A1", "added": "2020-03-01"})
        + "\n{broken\n"
        + json.dumps({"url": "j2.invalid", "scope": "host", "source": "partner"})
        + "\n[1]\n",
    )
    result = services.urls.import_list(store, ANALYST, jsonl, list_name="j")
    assert result.entries == 2
    assert [p.split(":")[0] for p in result.problems] == ["line 2", "line 4"]
    csv_file = _write(
        tmp_path,
        "list.csv",
        "url,scope,added\nhttp://c.invalid/x,,2020-13-01\nhttp://c.invalid/y,page,\n'=cmd,page,\n",
    )
    result = services.urls.import_list(store, ANALYST, csv_file, list_name="c")
    assert result.entries == 2  # the '=cmd cell is read back as =cmd, a page on host =cmd
    assert "not a date" in result.problems[0]
    empty = _write(tmp_path, "empty.txt", "# nothing\n")
    with pytest.raises(InputError, match="no entry could be read"):
        services.urls.import_list(store, ANALYST, empty, list_name="e")


def test_exports(store: Store, tmp_path: Path) -> None:
    services.urls.import_list(
        store, ANALYST, _write(tmp_path, "v1.txt", PLAIN_V1), list_name="hotline", version="1"
    )
    rpz, result = _export(store, "rpz")
    assert "whole.invalid CNAME .\n" in rpz and "*.wide.invalid CNAME .\n" in rpz
    assert "*.whole.invalid" not in rpz and "pages.invalid" not in rpz
    assert result.left_out_pages == 4 and result.left_out_other == 0
    assert "4 page, page+query and folder entries left out" in rpz

    hosts, result = _export(store, "hosts")
    assert "0.0.0.0 whole.invalid\n" in hosts and "0.0.0.0 wide.invalid\n" in hosts
    assert "1 host+subdomains entries cover the name itself only" in hosts

    csv_text, _ = _export(store, "csv")
    assert csv_text.splitlines()[0] == "scope,key,url,category,list,added_version"
    assert "page,pages.invalid/a/one.html,http://pages.invalid/a/one.html" in csv_text

    folder = tmp_path / "squid"
    result = services.urls.export_list(store, ANALYST, "hotline", "squid", folder)
    domains = (folder / "blocked_domains.txt").read_text().splitlines()
    assert "whole.invalid" in domains and ".wide.invalid" in domains
    regexes = [r for r in (folder / "blocked_urls.txt").read_text().splitlines() if r[0] != "#"]
    import re

    page = next(r for r in regexes if "one" in r)
    assert re.match(page, "http://pages.invalid/a/one.html?x=1")
    assert not re.match(page, "http://pages.invalid/a/one.html2")
    assert "tipwatch_hosts dstdomain" in (folder / "tipwatch-acl.conf").read_text()

    splash, _ = _export(store, "splash")
    assert "<h1>Access blocked</h1>" in splash and "crime" in splash
    with pytest.raises(InputError, match="unknown export format"):
        _export(store, "pdf")


def test_malicious_urls_in_a_list_are_refused_line_by_line(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(
        b"http://ok.invalid/1\n"
        b"http://h.invalid/\xff\xfe raw\n"
        b"http://h.invalid/%"
        + b"25" * 200
        + b"41\n"
        + b"http://h.invalid/"
        + b"a" * 70_000
        + b"\n"
        + b"http://\x00\x01.invalid/\x7f\n"
        + b"http://ok.invalid/2\n"
    )
    result = services.urls.import_list(store, ANALYST, path, list_name="bad")
    assert result.entries == 3  # 1, 2 and the control-character host (escaped)
    reasons = " | ".join(result.problems)
    assert "line 2: not UTF-8" in reasons
    assert "line 3" in reasons and "levels deep" in reasons
    assert "line 4" in reasons and "characters long" in reasons
    text, _ = _export(store, "plain", name="bad")
    assert "page\t%00%01.invalid/%7F\n" in text


def test_checks_reuse_the_index_until_a_version_changes(store: Store, tmp_path: Path) -> None:
    from tipwatch.urls import _versions

    path = _write(tmp_path, "a.txt", "a.invalid host\n")
    services.urls.import_list(store, ANALYST, path, list_name="l", version="1")
    assert services.urls.check_urls(store, ANALYST, ["http://a.invalid/"])[0].matches
    first = next(iter(_versions._cached.values()))[1]
    services.urls.check_urls(store, ANALYST, ["http://b.invalid/"])
    assert next(iter(_versions._cached.values()))[1] is first
    path = _write(tmp_path, "b.txt", "b.invalid host\n")
    services.urls.import_list(store, ANALYST, path, list_name="l", version="2")
    found = services.urls.check_urls(store, ANALYST, ["http://a.invalid/", "http://b.invalid/"])
    assert [bool(r.matches) for r in found] == [False, True]
    assert next(iter(_versions._cached.values()))[1] is not first

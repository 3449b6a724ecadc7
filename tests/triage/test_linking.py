"""Linking against planted ground truth and against a brute-force pairwise check."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tipwatch.triage.linking import (
    LinkBuilder,
    LinkSettings,
    referral_keys,
    shared_keys,
    shared_ties,
)

T0 = datetime(2020, 3, 1, tzinfo=UTC)


def doc(
    n: int,
    *,
    account: str | None = None,
    screen: str | None = None,
    email: str | None = None,
    ips: list[tuple[str, datetime]] | None = None,
    service: str = "Example Photo Service",
    batched: bool = False,
) -> dict[str, Any]:
    party: dict[str, Any] = {"esp_identifier": account or f"solo-{n}", "esp_service": service}
    if screen:
        party["screen_name"] = screen
    if email:
        party["person"] = {"emails": [{"address": email}]}
    party["ip_events"] = [
        {"ip_address": ip, "event_name": "Login", "date_time": t.isoformat()} for ip, t in ips or []
    ]
    out: dict[str, Any] = {"reported": [party]}
    if batched:
        out["batched_reason"] = "VIRAL_POTENTIAL_MEME"
    return out


def file(n: int, md5: str | None = None, pdq: str | None = None) -> dict[str, Any]:
    hashes = {"md5": md5 or f"{n:032x}"}
    if pdq:
        hashes["pdq"] = pdq
    return {"file_id": f"f{n}", "hashes": hashes}


def build(
    items: list[tuple[dict[str, Any], list[dict[str, Any]]]], settings: LinkSettings | None = None
) -> tuple[LinkBuilder, list[set[int]], list[set[int]]]:
    builder = LinkBuilder(settings)
    for d, files in items:
        builder.add(referral_keys(d, files, T0))
    groups = builder.build()
    linked = [set(g.members) for g in groups if g.kind == "linked"]
    viral = [set(g.members) for g in groups if g.kind == "viral"]
    return builder, linked, viral


def test_each_kind_of_link() -> None:
    items = [
        (doc(0), [file(0, md5="a" * 32)]),  # 0-1 share a file
        (doc(1), [file(1, md5="A" * 32)]),
        (doc(2, account="acct-9"), []),  # 2-3 share an account
        (doc(3, account="ACCT-9"), []),
        (doc(4, screen="Shadow"), []),  # 4-5 share a screen name on the same service
        (doc(5, screen="shadow"), []),
        (doc(6, email="x@example.invalid"), []),  # 6-7 share an e-mail
        (doc(7, email="X@Example.invalid"), []),
        (doc(8, ips=[("192.0.2.77", T0)]), []),  # 8-9 share an IP within the window
        (doc(9, ips=[("192.0.2.77", T0 + timedelta(days=3))]), []),
        (doc(10, ips=[("192.0.2.77", T0 + timedelta(days=30))]), []),  # same IP, too late
        (doc(11, screen="shadow", service="Other Service"), []),  # other service: no link
        (doc(12), [file(12)]),  # alone
    ]
    # md5 values are normalised lower-case by the model; here they are written by hand.
    items[1][1][0]["hashes"]["md5"] = "a" * 32
    _, linked, viral = build(items)
    assert sorted(map(sorted, linked)) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert viral == []


def test_links_are_transitive() -> None:
    items = [
        (doc(0, account="a"), [file(0, md5="1" * 32)]),
        (doc(1, account="a"), []),
        (doc(2), [file(2, md5="1" * 32)]),
        (doc(3, ips=[("198.51.100.9", T0)], account="b"), []),
        (doc(4, ips=[("198.51.100.9", T0 + timedelta(hours=5))]), []),
        (doc(5, account="b"), []),
    ]
    _, linked, _ = build(items)
    assert sorted(map(sorted, linked)) == [[0, 1, 2], [3, 4, 5]]


def test_ip_window_chains_but_does_not_jump() -> None:
    day = timedelta(days=1)
    items = [
        (doc(i, ips=[("203.0.113.9", T0 + d * day)]), []) for i, d in enumerate([0, 5, 10, 30])
    ]
    _, linked, _ = build(items, LinkSettings(ip_window=timedelta(days=6)))
    assert sorted(map(sorted, linked)) == [[0, 1, 2]]


def test_shared_nat_address_links_nothing() -> None:
    # One address, six different accounts: a carrier NAT or a VPN exit, not a person.
    items = [(doc(i, ips=[("203.0.113.1", T0)]), []) for i in range(6)]
    _, linked, _ = build(items, LinkSettings(max_ip_accounts=5))
    assert linked == []
    # The same address used by one account in many referrals links them.
    items = [(doc(i, account="same", ips=[("203.0.113.1", T0)]), []) for i in range(30)]
    items += [(doc(30, ips=[("203.0.113.1", T0)]), [])]
    _, linked, _ = build(items, LinkSettings(max_ip_accounts=5))
    assert linked == [set(range(31))]


def _pdq(rng: random.Random) -> int:
    return rng.getrandbits(256)


def _flip(value: int, bits: int, rng: random.Random) -> int:
    for b in rng.sample(range(256), bits):
        value ^= 1 << b
    return value


def _hex(value: int) -> str:
    return f"{value:064x}"


def test_near_pdq_links_within_threshold_only() -> None:
    rng = random.Random(3)
    base = _pdq(rng)
    items = [
        (doc(0), [file(0, pdq=_hex(base))]),
        (doc(1), [file(1, pdq=_hex(_flip(base, 31, rng)))]),  # within 31: linked
        (doc(2), [file(2, pdq=_hex(_flip(base, 60, rng)))]),  # far: not linked
    ]
    _, linked, _ = build(items)
    assert linked == [{0, 1}]
    _, off, _ = build(items, LinkSettings(pdq_threshold=-1))
    assert off == []


def test_viral_item_is_kept_apart() -> None:
    meme = "e" * 32
    items = [(doc(i, account=f"user-{i}"), [file(i, md5=meme)]) for i in range(40)]
    # Two of the viral item's referrals are also really linked, by an account.
    items.append((doc(40, account="user-3"), [file(40)]))
    builder, linked, viral = build(items)
    assert viral == [set(range(40))], "one viral group for the one item"
    assert linked == [{3, 40}], "the viral item joins nothing; the account link stands"
    assert builder.viral_rows == set(range(40))


def test_few_accounts_sharing_a_file_is_not_viral() -> None:
    # 30 referrals, but all from two accounts: a heavy distributor, not a meme.
    items = [(doc(i, account=f"user-{i % 2}"), [file(i, md5="d" * 32)]) for i in range(30)]
    _, linked, viral = build(items)
    assert viral == []
    assert linked == [set(range(30))]


def test_sender_marked_viral_referrals_form_a_viral_group() -> None:
    items = [
        (doc(0, batched=True), []),
        (doc(1), [{"file_id": "m", "hashes": {"md5": "c" * 32}, "annotations": ["potentialMeme"]}]),
        (doc(2), []),
    ]
    builder, linked, viral = build(items)
    assert viral == [{0, 1}]
    assert builder.viral_rows == {0, 1}
    assert linked == []


def test_repeat_accounts_are_all_but_the_earliest() -> None:
    items = [(doc(i, account="same"), []) for i in range(3)]
    builder = LinkBuilder()
    for i, (d, files) in enumerate(items):
        builder.add(referral_keys(d, files, T0 + timedelta(days=i)))
    builder.build()
    assert builder.repeat_rows([30.0, 10.0, 20.0]) == {0, 2}


def _brute_force_groups(
    items: list[tuple[dict[str, Any], list[dict[str, Any]]]], settings: LinkSettings
) -> list[set[int]]:
    keys = [referral_keys(d, f, T0) for d, f in items]
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for a in range(len(items)):
        for b in range(a + 1, len(items)):
            if shared_keys(keys[a], keys[b], settings):
                parent[find(b)] = find(a)
    comps: dict[int, set[int]] = {}
    for i in range(len(items)):
        comps.setdefault(find(i), set()).add(i)
    return sorted((c for c in comps.values() if len(c) > 1), key=min)


@pytest.mark.parametrize("seed", range(5))
def test_planted_links_match_brute_force(seed: int) -> None:
    """Random referrals with planted shared accounts, files, near files and IPs."""
    rng = random.Random(seed)
    settings = LinkSettings(
        ip_window=timedelta(days=2), max_ip_accounts=10_000, circulating_min_accounts=10_000
    )
    accounts = [f"acct-{i}" for i in range(25)]
    md5s = [f"{rng.getrandbits(128):032x}" for _ in range(25)]
    pdqs = [_pdq(rng) for _ in range(10)]
    ips = [f"192.0.2.{i}" for i in range(1, 15)]
    items = []
    for n in range(150):
        account = rng.choice(accounts) if rng.random() < 0.3 else None
        files = []
        for k in range(rng.randrange(0, 3)):
            md5 = rng.choice(md5s) if rng.random() < 0.2 else None
            pdq = (
                _hex(_flip(rng.choice(pdqs), rng.randrange(0, 45), rng))
                if rng.random() < 0.2
                else None
            )
            files.append(
                {
                    "file_id": f"f{n}-{k}",
                    "hashes": {"md5": md5 or f"{n:016x}{k:016x}", **({"pdq": pdq} if pdq else {})},
                }
            )
        event_ips = []
        if rng.random() < 0.3:
            event_ips.append((rng.choice(ips), T0 + timedelta(hours=rng.randrange(0, 24 * 20))))
        items.append((doc(n, account=account, ips=event_ips), files))
    _, linked, viral = build(items, settings)
    assert viral == []
    assert sorted(linked, key=min) == _brute_force_groups(items, settings)
    assert len(linked) > 3, "the generator must plant links"


def test_two_referrals_sharing_only_a_listed_file_are_not_linked() -> None:
    listed = "b" * 32
    items = [
        (doc(0, account="one"), [file(0, md5=listed)]),
        (doc(1, account="two"), [file(1, md5=listed)]),
    ]
    builder = LinkBuilder()
    for d, files in items:
        builder.add(referral_keys(d, files, T0, statuses=["known"]))
    groups = builder.build()
    assert [g.kind for g in groups] == ["circulating"]
    assert set(groups[0].members) == {0, 1} and groups[0].reasons["listed"] == 1
    # The same file on no list, from two accounts, is a link between them.
    _, linked, _ = build(items)
    assert linked == [{0, 1}]
    # Explaining the pair names no listed file as a tie.
    a, b = (referral_keys(d, f, T0, statuses=["known"]) for d, f in items)
    assert shared_keys(a, b, LinkSettings()) == []


def test_a_file_many_accounts_sent_circulates_and_links_no_one() -> None:
    shared = "c" * 32
    settings = LinkSettings(circulating_min_accounts=4)
    # Four unrelated accounts: circulating, no link; three: a new file few hold, a link.
    _, linked, _ = build(
        [(doc(i, account=f"user-{i}"), [file(i, md5=shared)]) for i in range(4)], settings
    )
    assert linked == []
    builder = LinkBuilder(settings)
    for i in range(4):
        builder.add(referral_keys(doc(i, account=f"user-{i}"), [file(i, md5=shared)], T0))
    groups = builder.build()
    assert [(g.kind, g.reasons) for g in groups] == [("circulating", {"accounts": 4})]
    _, linked, _ = build(
        [(doc(i, account=f"user-{i}"), [file(i, md5=shared)]) for i in range(3)], settings
    )
    assert linked == [{0, 1, 2}]


def test_each_tie_has_a_kind_evidence_and_strength() -> None:
    a = referral_keys(doc(0, account="same", ips=[("192.0.2.5", T0)]), [file(0, "d" * 32)], T0)
    b = referral_keys(doc(1, account="same", ips=[("192.0.2.5", T0)]), [file(1, "d" * 32)], T0)
    ties = shared_ties(a, b, LinkSettings())
    assert [t["kind"] for t in ties] == ["account", "new file", "ip"]
    assert all(0 < t["strength"] <= 1 for t in ties)
    assert ties[0]["strength"] > ties[-1]["strength"]
    assert ties[1]["evidence"] == "md5:" + "d" * 32

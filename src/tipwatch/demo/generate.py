"""Writing the demo world to files: CyberTipline XML, a GeoIP database, hash lists (VICS JSON
and CSV), feeds (blocked access, helplines), a forum export and the truth beside them.

All values are invented and benign: IPv6 addresses from the documentation range
(2001:db8::/32, one /48 per country), ``.invalid`` domains, random hashes, and generated
images (gradients, shapes, noise, text cards) for the files known from the lists. The same seed
gives byte-identical files.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from tipwatch.demo.world import SERVICES, DemoWorld, expected_2019
from tipwatch.models import IncidentType
from tipwatch.trends.simulate import expected_counts

__all__ = ["DemoFiles", "write_world"]

Progress = Callable[[str, int, int], None]

_TYPES = (
    (IncidentType.CHILD_PORNOGRAPHY, 0.85),
    (IncidentType.ONLINE_ENTICEMENT, 0.08),
    (IncidentType.UNSOLICITED_OBSCENE_MATERIAL, 0.04),
    (IncidentType.MISLEADING_WORDS_OR_IMAGES, 0.03),
)
_IMAGES = 48
"""Generated images whose resized or re-encoded variants stand for known material."""


@dataclass
class DemoFiles:
    folder: Path
    referral_files: list[Path]
    geoip: Path
    vics: Path
    hash_csv: Path
    blocked: Path
    helpline: Path
    truth: Path
    forum: Path | None = None
    forum_truth: dict[str, Any] = field(default_factory=dict)
    """What the forum export plants: the lockdown day its themes follow, the invented term
    that emerges and the days it is used."""
    referrals: int = 0
    planted_links: list[list[str]] = field(default_factory=list)
    """Report ids sharing a repeat account (each group must come out linked)."""
    planted_link_countries: list[list[str]] = field(default_factory=list)
    """The true countries of each planted group, in the order of ``planted_links``."""
    known_files: dict[str, str] = field(default_factory=dict)
    """``report_id/file_id`` -> ``exact`` or ``near``: files planted as known."""
    new_files: int = 0
    viral_ids: list[str] = field(default_factory=list)


def _md5(rng: np.random.Generator) -> str:
    return "".join(f"{x:016x}" for x in rng.integers(0, 2**63, size=2))


def _pdq(rng: np.random.Generator) -> str:
    return "".join(f"{x:016x}" for x in rng.integers(0, 2**63, size=4))


def _known_images(folder: Path, seed: int) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Generated images: their own hashes (for the lists) and those of a resized or re-encoded
    variant of each (what referrals carry). Images are hashed and dropped, never kept."""
    from PIL import Image

    from tipwatch.demo.images import generated_image
    from tipwatch.media.hashing import hash_file

    originals, variants = [], []
    work = folder / ".images"
    work.mkdir(exist_ok=True)
    for i in range(_IMAGES):
        image = generated_image(seed * 1000 + i, (640, 480), kind=("shapes", "card")[i % 2])
        path = work / f"o{i}.jpg"
        image.save(path, "JPEG", quality=92)
        original = hash_file(path)
        # Odd images are resized, even ones only re-encoded harder.
        variant_image = image.resize((400, 300), Image.Resampling.LANCZOS) if i % 2 else image
        vpath = work / f"v{i}.jpg"
        variant_image.save(vpath, "JPEG", quality=60 if i % 2 == 0 else 85)
        variant = hash_file(vpath)
        path.unlink()
        vpath.unlink()
        if original.pdq and variant.pdq and original.md5 and variant.md5:
            originals.append({"md5": original.md5, "pdq": original.pdq})
            variants.append({"md5": variant.md5, "pdq": variant.pdq})
    work.rmdir()
    return originals, variants


def _write_geoip(path: Path, countries: list[str]) -> None:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="tipwatch-demo-Country",
        languages=["en"],
        description={"en": "tipwatch demo: documentation ranges mapped to countries"},
    )
    for i, country in enumerate(countries):
        writer.insert_network(
            IPSet([f"2001:db8:{i + 1:x}::/48"]),
            {"country": {"iso_code": country, "names": {"en": country}}},
        )
    writer.to_db_file(str(path))


def write_world(world: DemoWorld, folder: Path, progress: Progress | None = None) -> DemoFiles:
    """Write every file of the world into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(world.seed)
    countries = sorted(world.countries)
    files = DemoFiles(
        folder=folder,
        referral_files=[],
        geoip=folder / "geoip-demo.mmdb",
        vics=folder / "known-vics.json",
        hash_csv=folder / "known-hashes.csv",
        blocked=folder / "blocked-gb.csv",
        helpline=folder / "helpline.csv",
        truth=folder / "truth.json",
        forum=folder / "forum-export.jsonl",
    )
    if progress:
        progress("generating known images", 0, 1)
    originals, variants = _known_images(folder, world.seed)
    if progress:
        progress("generating known images", 1, 1)
    _write_geoip(files.geoip, countries)
    # Enough known hashes that one is seldom in more than two referrals (so they link a few
    # referrals, as shared material does, rather than everyone).
    expected = sum(
        float(expected_counts(t).sum())
        + (float(expected_2019(t).sum()) if 2019 in world.years else 0.0)
        for t in world.countries.values()
    )
    known_md5 = [_md5(rng) for _ in range(max(40_000, int(expected * 1.6 * 0.25 / 1.5)))]
    state = _State(rng, known_md5, variants, countries)
    for year in world.years:
        path = folder / f"referrals-{year}.xml"
        with path.open("w", encoding="utf-8") as out:
            out.write('<?xml version="1.0" encoding="UTF-8"?>\n<referrals>\n')
            for chunk in _year_referrals(world, year, state, files, progress):
                out.write(chunk)
            out.write("</referrals>\n")
        files.referral_files.append(path)
    files.planted_links = [ids for ids in state.account_reports.values() if len(ids) > 1]
    # An account's name starts with its country (``nl-user-7``): each group's true countries.
    files.planted_link_countries = [
        [account.split("-", 1)[0].upper()]
        for account, ids in state.account_reports.items()
        if len(ids) > 1
    ]
    _write_lists(files, known_md5, originals)
    _write_feeds(world, files, rng)
    _write_forum(world, files)
    truth = world.truth_json()
    truth["planted"] = {
        "repeat_account_groups": len(files.planted_links),
        "repeat_account_groups_cross_border": sum(
            len(set(c)) > 1 for c in files.planted_link_countries
        ),
        "known_files_exact": sum(v == "exact" for v in files.known_files.values()),
        "known_files_near": sum(v == "near" for v in files.known_files.values()),
        "new_files": files.new_files,
        "viral_batch_referrals": len(files.viral_ids),
        "forum": files.forum_truth,
    }
    files.truth.write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return files


class _State:
    def __init__(
        self,
        rng: np.random.Generator,
        known_md5: list[str],
        variants: list[dict[str, str]],
        countries: list[str],
    ) -> None:
        self.rng = rng
        self.known_md5 = known_md5
        self.variants = variants
        self.country_index = {c: i + 1 for i, c in enumerate(countries)}
        self.repeat_accounts: dict[tuple[str, str], list[str]] = {}
        self.account_reports: dict[str, list[str]] = {}
        self.accounts = 0
        self.number = 0

    def account(self, country: str, service: str, *, fresh: bool = False) -> str:
        """An account of ``service`` in ``country``: now and then one seen before (a repeat
        offender, whose referrals must come out linked), else a new one."""
        pool = self.repeat_accounts.setdefault((country, service), [])
        if not fresh and pool and self.rng.random() < 0.12:
            return pool[int(self.rng.integers(0, len(pool)))]
        self.accounts += 1
        name = f"{country.lower()}-user-{self.accounts}"
        if not fresh and self.rng.random() < 0.03:
            pool.append(name)
        return name

    def ip(self, country: str, account: str) -> str:
        number = int(account.rsplit("-", 1)[1])
        return f"2001:db8:{self.country_index[country]:x}:{number >> 16:x}:{number & 0xFFFF:x}::1"


def _choice(rng: np.random.Generator, weighted: Any) -> Any:
    items = list(weighted)
    weights = np.array([w for _, w in items], dtype=float)
    return items[int(rng.choice(len(items), p=weights / weights.sum()))][0]


def _year_referrals(
    world: DemoWorld,
    year: int,
    state: _State,
    files: DemoFiles,
    progress: Progress | None,
) -> Iterator[str]:
    rng = state.rng
    expected = {
        c: (expected_counts(t) if year == world.start.year else expected_2019(t))
        for c, t in world.countries.items()
    }
    days = len(next(iter(expected.values())))
    outage = (date.fromisoformat(world.outage["from"]), date.fromisoformat(world.outage["to"]))
    gap = (date.fromisoformat(world.gap["from"]), date.fromisoformat(world.gap["to"]))
    viral_day = date.fromisoformat(world.viral["day"])
    for i in range(days):
        day = date(year, 1, 1) + timedelta(days=i)
        parts: list[str] = []
        for country in sorted(world.countries):
            truth = world.countries[country]
            mean = expected[country][i]
            count = int(rng.poisson(rng.gamma(truth.dispersion, mean / truth.dispersion)))
            if year == 2020 and country == world.gap["country"] and gap[0] <= day <= gap[1]:
                count = 0
            surged = year == 2020 and truth.surge_start is not None and day >= truth.surge_start
            for _ in range(count):
                service = _choice(rng, SERVICES.items())
                if (
                    year == 2020
                    and service == world.outage["service"]
                    and (outage[0] <= day <= outage[1])
                ):
                    continue
                parts.append(_referral(state, files, country, day, service, surged))
            if year == 2020 and country == world.viral["country"] and day == viral_day:
                for _ in range(int(world.viral["referrals"])):
                    parts.append(
                        _referral(
                            state,
                            files,
                            country,
                            day,
                            "Example Video",
                            surged,
                            meme=str(world.viral["md5"]),
                        )
                    )
        if progress:
            progress(f"writing {year} referrals", i + 1, days)
        yield "".join(parts)


def _referral(
    state: _State,
    files: DemoFiles,
    country: str,
    day: date,
    service: str,
    surged: bool,
    *,
    meme: str | None = None,
) -> str:
    rng = state.rng
    state.number += 1
    report_id = f"D{state.number:08d}"
    files.referrals += 1
    second = int(rng.integers(0, 86400))
    when = f"{day.isoformat()}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"
    account = state.account(country, service, fresh=meme is not None)
    state.account_reports.setdefault(account, []).append(report_id)
    ip = state.ip(country, account)
    proxy = ""
    if meme is None and rng.random() < 0.02:
        proxy = "<possibleProxy>true</possibleProxy>"
    itype = IncidentType.CHILD_PORNOGRAPHY if meme else _choice(rng, _TYPES)
    escalate = ""
    if meme is None and rng.random() < 0.005:
        escalate = (
            "<escalateToHighPriority>The user states an intent to meet a child"
            "</escalateToHighPriority>"
        )
    annotations = ""
    if itype is IncidentType.ONLINE_ENTICEMENT and rng.random() < 0.3:
        annotations = "<reportAnnotations><sextortion/></reportAnnotations>"
    elif itype is IncidentType.ONLINE_ENTICEMENT and state.number % 4 == 0:
        # Without a draw of its own, so that the rest of the world stays as it was.
        annotations = "<reportAnnotations><minorToMinorInteraction/></reportAnnotations>"
    batched = (
        '<batchedReport reason="VIRAL_POTENTIAL_MEME"/>' if meme and rng.random() < 0.3 else ""
    )
    report = (
        f'<referral id="{report_id}" source="NCMEC" received="{when}">'
        f"<report>{batched}<incidentSummary>"
        f"<incidentType>{escape(itype.value)}</incidentType>"
        f"<platform>{escape(service)}</platform>{escalate}{annotations}"
        f"<incidentDateTime>{when}</incidentDateTime></incidentSummary>"
        f"<internetDetails><webPageIncident><url>https://share.example.invalid/p/{report_id}"
        "</url></webPageIncident></internetDetails>"
        "<reporter><reportingPerson><firstName>Trust</firstName><lastName>Safety</lastName>"
        "<email>reports@esp.example.invalid</email></reportingPerson></reporter>"
        f"<personOrUserReported><espIdentifier>{account}</espIdentifier>"
        f"<espService>{escape(service)}</espService><screenName>{account}</screenName>"
        f"<ipCaptureEvent><ipAddress>{ip}</ipAddress><eventName>Upload</eventName>"
        f"<dateTime>{when}</dateTime>{proxy}</ipCaptureEvent></personOrUserReported>"
        "</report>"
    )
    details = []
    n_files = 1 if meme else 1 + min(3, int(rng.poisson(0.6)))
    for k in range(n_files):
        file_id = f"{report_id}-{k + 1}"
        hashes: list[tuple[str, str]]
        roll = rng.random()
        if meme:
            hashes = [("MD5", meme)]
        elif roll < 0.25:
            hashes = [("MD5", state.known_md5[int(rng.integers(0, len(state.known_md5)))])]
            files.known_files[f"{report_id}/{file_id}"] = "exact"
        elif roll < 0.26 and state.variants:
            variant = state.variants[int(rng.integers(0, len(state.variants)))]
            hashes = [("MD5", variant["md5"]), ("PDQ", variant["pdq"])]
            files.known_files[f"{report_id}/{file_id}"] = "near"
        else:
            hashes = [("MD5", _md5(rng))]
            if rng.random() < 0.3:
                hashes.append(("PDQ", _pdq(rng)))
            files.new_files += 1
        flags = []
        if meme:
            flags.append("<potentialMeme/>")
        else:
            if rng.random() < (0.12 if surged else 0.06):
                flags.append("<possibleSelfProduction/>")
            if rng.random() < (0.05 if surged else 0.02):
                flags.append("<liveStreaming/>")
        viewed = ("true", "false", None)[int(rng.choice(3, p=[0.6, 0.3, 0.1]))]
        public = ("false", "true", None)[int(rng.choice(3, p=[0.7, 0.2, 0.1]))]
        details.append(
            f"<fileDetails><reportId>{report_id}</reportId><fileId>{file_id}</fileId>"
            f"<fileName>file_{file_id}.jpg</fileName>"
            + (f"<fileViewedByEsp>{viewed}</fileViewedByEsp>" if viewed else "")
            + (f"<publiclyAvailable>{public}</publiclyAvailable>" if public else "")
            + (f"<fileAnnotations>{''.join(flags)}</fileAnnotations>" if flags else "")
            + "".join(f'<originalFileHash hashType="{t}">{v}</originalFileHash>' for t, v in hashes)
            + f"<ipCaptureEvent><ipAddress>{ip}</ipAddress><eventName>Upload</eventName>"
            f"{proxy}</ipCaptureEvent></fileDetails>"
        )
    if meme:
        files.viral_ids.append(report_id)
    return report + "".join(details) + "</referral>\n"


def _write_lists(files: DemoFiles, known_md5: list[str], originals: list[dict[str, str]]) -> None:
    """Half of the known MD5s and every known image's PDQ in a VICS JSON (1.3) list, the
    other half of the MD5s in a hash-list CSV."""
    half = len(known_md5) // 2
    media = []
    for i, md5 in enumerate(known_md5[:half]):
        media.append(
            {
                "MediaID": i + 1,
                "Category": 1,
                "MD5": md5.upper(),
                "IsPrecategorized": "true",
                "VictimIdentified": "false",
            }
        )
    for j, image in enumerate(originals):
        media.append(
            {
                "MediaID": half + j + 1,
                "Category": 1,
                "MD5": image["md5"].upper(),
                "AlternativeHashes": [{"HashName": "PDQ", "HashValue": image["pdq"]}],
            }
        )
    files.vics.write_text(
        json.dumps(
            {
                "odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Media",
                "value": media,
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["hash_type", "hash", "category"])
    for md5 in known_md5[half:]:
        writer.writerow(["md5", md5, "A1"])
    files.hash_csv.write_text(buf.getvalue(), encoding="utf-8")


def _write_feeds(world: DemoWorld, files: DemoFiles, rng: np.random.Generator) -> None:
    """Blocked access attempts in GB from three providers (about 8.8 million in the first
    month of lockdown; real magnitude, whatever the scale), and helpline contacts by age band
    in GB and NL with the teenagers' share rising after lockdown."""
    lockdown = date(2020, 3, 23)
    providers = {"isp-a": ("http-proxy", 0.5), "isp-b": ("dns", 0.3), "isp-c": ("sni", 0.2)}
    in_month = 8_800_000 / 31
    rows = ["date,country,provider,method,list_name,list_size,requests_blocked"]
    day = world.start
    while day <= world.end:
        level = in_month * (1.0 if lockdown <= day < lockdown + timedelta(days=31) else 0.7)
        if day >= lockdown + timedelta(days=31):
            level = in_month * 0.85
        for name, (method, share) in providers.items():
            value = int(rng.normal(level * share, level * share * 0.05))
            rows.append(
                f"{day},GB,{name},{method},url-list,{5600 + int(rng.integers(0, 300))},"
                f"{max(value, 0)}"
            )
        day += timedelta(days=1)
    files.blocked.write_text("\n".join(rows) + "\n", encoding="utf-8")
    bands = {"under-12": 0.15, "12-15": 0.35, "16-17": 0.3, "18+": 0.2}
    rows = ["date,country,helpline,age_band,topic,contacts"]
    for country, base, event in (("GB", 120.0, date(2020, 3, 23)), ("NL", 40.0, date(2020, 3, 23))):
        day = world.start
        while day <= world.end:
            after = day >= event
            for band, share in bands.items():
                boost = 1.0
                if after:
                    boost = 1.6 if band in ("12-15", "16-17") else 1.15
                mean = base * share * boost
                rows.append(
                    f"{day},{country},helpline-{country.lower()},{band},online,"
                    f"{int(rng.poisson(mean))}"
                )
            day += timedelta(days=1)
    files.helpline.write_text("\n".join(rows) + "\n", encoding="utf-8")


FORUM_FILLER = {
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
        "the market sells fresh fish",
        "the river is high after the rain",
    ],
    "de": ["das wetter war heute mild", "wir haben brot gebacken", "der garten braucht wasser"],
    "nl": ["het weer was zacht vandaag", "we hebben brood gebakken", "de tuin heeft water nodig"],
}
"""Benign sentences the demo's forum posts are made of (invented, about nothing)."""

FORUM_THEMES = {
    # theme: (phrases of the shipped theme file by language, share of posts before, after)
    "lockdown": (
        {
            "en": ["kids at home", "schools closed"],
            "de": ["kinder zu hause"],
            "nl": ["scholen dicht"],
        },
        0.02,
        0.18,
    ),
    "competitions": ({"en": ["weekly challenge", "contest"], "nl": ["wedstrijd"]}, 0.02, 0.07),
    "live-requests": ({"en": ["cam session"], "de": ["webcam anfrage"]}, 0.02, 0.04),
    "security-advice": ({"en": ["which vpn", "tor browser"], "de": ["welches vpn"]}, 0.04, 0.04),
}
"""The neutral theme phrases of the shipped theme file the demo's posts use, and how often."""

FORUM_TERM = "quizathon"
"""An invented word the demo's forum members take up after lockdown: the emerging term."""


def _write_forum(world: DemoWorld, files: DemoFiles) -> None:
    """A forum export (JSON Lines) over the world's days: invented handles and threads on one
    board, benign filler sentences, the neutral phrases of the shipped themes (lockdown,
    competitions and live requests rising after the median stay-at-home order, security
    advice steady), and one invented word taken up by many members in several threads in the
    fortnight from ten days after it. Its own random stream: the other files do not change."""
    assert files.forum is not None
    rng = random.Random(world.seed * 7 + 3)
    events = sorted(t.event for t in world.countries.values() if t.event is not None)
    lockdown = events[len(events) // 2] if events else date(2020, 3, 16)
    term_from, term_to = lockdown + timedelta(days=10), lockdown + timedelta(days=23)
    languages = ("en", "en", "en", "de", "nl")
    lines = []
    n = term_posts = 0
    day = world.start
    while day <= world.end:
        after = day >= lockdown
        for i in range(rng.randint(14, 22) if not after else rng.randint(22, 32)):
            n += 1
            language = rng.choice(languages)
            parts = [rng.choice(FORUM_FILLER[language]) for _ in range(rng.randint(1, 2))]
            for phrases, before_share, after_share in FORUM_THEMES.values():
                said = phrases.get(language)
                if said and rng.random() < (after_share if after else before_share):
                    parts.insert(rng.randrange(len(parts) + 1), rng.choice(said))
            author, thread = f"member-{rng.randrange(400):03d}", f"thread-{rng.randrange(60)}"
            if term_from <= day <= term_to and i < 4:
                # The word amid ordinary ones, so that no phrase around it rises with it.
                words = rng.choice(FORUM_FILLER[language]).split()
                words.insert(rng.randrange(len(words) + 1), FORUM_TERM)
                parts.append(" ".join(words))
                author, thread = f"member-{rng.randrange(400, 440):03d}", f"thread-{i}"
                term_posts += 1
            when = f"{day.isoformat()}T{8 + i % 14:02d}:{(7 * i) % 60:02d}:00Z"
            post = {
                "forum": "demo-board",
                "thread": thread,
                "post_id": f"demo-{n}",
                "author": author,
                "time": when,
                "language": language,
                "text": ", ".join(parts),
            }
            lines.append(json.dumps(post, ensure_ascii=False))
        day += timedelta(days=1)
    files.forum.write_text("\n".join(lines) + "\n", encoding="utf-8")
    files.forum_truth = {
        "posts": n,
        "themes_rise_from": lockdown.isoformat(),
        "emerging_term": FORUM_TERM,
        "emerging_term_days": [term_from.isoformat(), term_to.isoformat()],
        "emerging_term_posts": term_posts,
    }

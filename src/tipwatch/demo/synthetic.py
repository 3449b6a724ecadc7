"""Synthetic CyberTipline XML for demos, tests and benchmarks. Benign, invented values only.

IP addresses come from the documentation ranges, domains end in ``.invalid`` and hashes are
derived from counters: nothing here describes or points to real material.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import IO
from xml.sax.saxutils import escape

from tipwatch.models import IncidentType

__all__ = ["envelope_chunks", "synthetic_referral_xml", "write_envelope"]

_COUNTRIES = ("NL", "DE", "FR", "BE", "PL", "ES", "IT", "GB", "SE", "US")
_RANGES = ("192.0.2.", "198.51.100.", "203.0.113.")
_TYPES = (
    IncidentType.CHILD_PORNOGRAPHY,
    IncidentType.CHILD_PORNOGRAPHY,
    IncidentType.CHILD_PORNOGRAPHY,
    IncidentType.ONLINE_ENTICEMENT,
    IncidentType.UNSOLICITED_OBSCENE_MATERIAL,
)
_START = datetime(2020, 1, 1, tzinfo=UTC)


def _hex(seed: str, n: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


def synthetic_referral_xml(
    number: int, rng: random.Random, *, files: int = 2, pdq_fraction: float = 0.0
) -> str:
    """One ``<referral>`` envelope with a report and ``files`` fileDetails.

    With ``pdq_fraction`` that share of the files also carries a PDQ hash (random bits).
    """
    report_id = 9_100_000 + number
    when = _START + timedelta(seconds=rng.randrange(0, 182 * 86400))
    when_s = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    country = rng.choice(_COUNTRIES)
    ip = rng.choice(_RANGES) + str(rng.randrange(1, 255))
    user = f"u-{rng.randrange(1, 50_000)}"
    itype = rng.choice(_TYPES)
    parts = [
        f'<referral id="{report_id}" source="NCMEC" received="{when_s}">',
        "<report><incidentSummary>",
        f"<incidentType>{escape(itype.value)}</incidentType>",
        "<platform>Example Photo Service</platform>",
        f"<incidentDateTime>{when_s}</incidentDateTime>",
        "</incidentSummary>",
        f"<internetDetails><webPageIncident><url>http://share.example.invalid/p/{number}</url>"
        "</webPageIncident></internetDetails>",
        "<reporter><reportingPerson><firstName>Trust</firstName><lastName>Safety</lastName>"
        "<email>reports@esp.example.invalid</email></reportingPerson></reporter>",
        "<personOrUserReported>",
        f"<espIdentifier>{user}</espIdentifier><espService>Example Photo Service</espService>",
        f"<screenName>synthetic_{user}</screenName>",
        f"<ipCaptureEvent><ipAddress>{ip}</ipAddress><eventName>Upload</eventName>"
        f"<dateTime>{when_s}</dateTime></ipCaptureEvent>",
        f'<estimatedLocation verified="false"><countryCode>{country}</countryCode>'
        "</estimatedLocation>",
        "</personOrUserReported>",
        "</report>",
    ]
    for f in range(files):
        seed = f"{number}-{f}"
        viewed = rng.choice(("true", "false", None))
        parts.append(f"<fileDetails><reportId>{report_id}</reportId><fileId>f{seed}</fileId>")
        parts.append(f"<fileName>card_{seed}.jpg</fileName>")
        if viewed is not None:
            parts.append(f"<fileViewedByEsp>{viewed}</fileViewedByEsp>")
        parts.append("<publiclyAvailable>false</publiclyAvailable>")
        parts.append(
            f'<originalFileHash hashType="MD5">{_hex("md5" + seed, 32)}</originalFileHash>'
        )
        parts.append(
            f'<originalFileHash hashType="SHA1">{_hex("sha1" + seed, 40)}</originalFileHash>'
        )
        if pdq_fraction and rng.random() < pdq_fraction:
            parts.append(
                f'<originalFileHash hashType="PDQ">{rng.getrandbits(256):064x}</originalFileHash>'
            )
        parts.append(
            f"<ipCaptureEvent><ipAddress>{ip}</ipAddress><eventName>Upload</eventName>"
            "</ipCaptureEvent></fileDetails>"
        )
    parts.append(f'<geolocation countryCode="{country}" source="NCMEC"/>')
    parts.append("</referral>\n")
    return "".join(parts)


def envelope_chunks(
    count: int, *, seed: int = 7, files: int = 2, pdq_fraction: float = 0.0
) -> Iterator[bytes]:
    """The bytes of an envelope file of ``count`` referrals, piece by piece (never all at once)."""
    rng = random.Random(seed)
    yield b'<?xml version="1.0" encoding="UTF-8"?>\n<referrals>\n'
    buf: list[str] = []
    for i in range(count):
        buf.append(synthetic_referral_xml(i, rng, files=files, pdq_fraction=pdq_fraction))
        if len(buf) >= 1000:
            yield "".join(buf).encode()
            buf = []
    if buf:
        yield "".join(buf).encode()
    yield b"</referrals>\n"


def write_envelope(
    out: IO[bytes], count: int, *, seed: int = 7, files: int = 2, pdq_fraction: float = 0.0
) -> int:
    """Write an envelope file of ``count`` synthetic referrals; returns the bytes written."""
    n = 0
    for chunk in envelope_chunks(count, seed=seed, files=files, pdq_fraction=pdq_fraction):
        out.write(chunk)
        n += len(chunk)
    return n

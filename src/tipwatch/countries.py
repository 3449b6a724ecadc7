"""ISO 3166-1 country codes: the alpha-2 codes tipwatch accepts, and alpha-3 to alpha-2."""

from __future__ import annotations

from tipwatch.errors import InputError

__all__ = [
    "ALPHA2",
    "PSEUDO_CODES",
    "alpha3_to_alpha2",
    "country_name",
    "is_country",
    "normalise_country",
    "numeric_to_alpha2",
    "require_country",
    "require_country_code",
]

PSEUDO_CODES = {
    "A1": "anonymous proxy",
    "A2": "satellite provider",
    "O1": "other country",
    "EU": "Europe, no country",
    "AP": "Asia/Pacific, no country",
}
"""Legacy GeoIP codes that name no country. They lower confidence and never decide one."""

_ALIASES = {"UK": "GB"}

ALPHA2 = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW XK
    """.split()
)
"""The 249 officially assigned ISO 3166-1 alpha-2 codes, and XK (Kosovo, user-assigned)."""

_ALPHA3 = {
    "AUT": "AT", "BEL": "BE", "BGR": "BG", "HRV": "HR", "CYP": "CY", "CZE": "CZ", "DNK": "DK",
    "EST": "EE", "FIN": "FI", "FRA": "FR", "DEU": "DE", "GRC": "GR", "HUN": "HU", "IRL": "IE",
    "ITA": "IT", "LVA": "LV", "LTU": "LT", "LUX": "LU", "MLT": "MT", "NLD": "NL", "POL": "PL",
    "PRT": "PT", "ROU": "RO", "SVK": "SK", "SVN": "SI", "ESP": "ES", "SWE": "SE", "GBR": "GB",
    "NOR": "NO", "CHE": "CH", "ISL": "IS", "USA": "US", "CAN": "CA", "AUS": "AU", "NZL": "NZ",
}  # fmt: skip


def is_country(code: str) -> bool:
    return code in ALPHA2


def alpha3_to_alpha2(code: str) -> str | None:
    """The alpha-2 code of the alpha-3 codes in tipwatch's shipped data (European countries,
    the US and a few more); ``None`` for others."""
    return _ALPHA3.get(code.upper())


def normalise_country(code: str | None) -> tuple[str | None, str | None]:
    """``(ISO code, None)`` for a usable country code, else ``(None, why not)``.

    ``UK`` is read as ``GB``. Pseudo-codes (``A1``, ``EU`` ...) and anything that is not two
    letters are not countries; the second element says so.
    """
    if code is None:
        return None, "no country code"
    text = code.strip().upper()
    text = _ALIASES.get(text, text)
    if text in PSEUDO_CODES:
        return None, f"pseudo-code {text} ({PSEUDO_CODES[text]})"
    if len(text) != 2 or not text.isascii() or not text.isalpha():
        return None, f"not an ISO 3166-1 country code: {code[:20]!r}"
    return text, None


def require_country(value: str, where: str) -> str:
    """The ISO code of ``value``, or :class:`InputError` naming ``where`` and the problem:
    for input that must name a real, assigned country (feeds, events)."""
    code, why = normalise_country(value)
    if code is None or not is_country(code):
        detail = f" ({why})" if why else ""
        raise InputError(f"{where}: unknown country code {value[:20]!r}{detail}")
    return code


def require_country_code(value: str, where: str = "country") -> str:
    """Like :func:`require_country`, and an alpha-3 code is read as its alpha-2 one: for a
    country a user names (``NL`` or ``NLD``)."""
    return require_country(alpha3_to_alpha2(value) or value, where)


_NAMES = {"XK": "Kosovo", "RU": "Russia", "VA": "Vatican City", "unknown": "unknown country"}
"""Short names where the ISO name reads awkwardly in a sentence."""


def country_name(code: str) -> str:
    """The English short name of an ISO alpha-2 code (``NL`` -> ``Netherlands``), from the
    ISO 3166 tables that ``pycountry`` ships; the code itself when it names no country."""
    if code in _NAMES:
        return _NAMES[code]
    return _iso_names().get(code.upper(), code)


def numeric_to_alpha2(numeric: str | int) -> str | None:
    """The alpha-2 code of an ISO 3166-1 numeric code (``"528"`` -> ``NL``), or ``None``."""
    try:
        key = f"{int(numeric):03d}"
    except (TypeError, ValueError):
        return None
    return _iso_numeric().get(key)


_cache: dict[str, dict[str, str]] = {}


def _iso_names() -> dict[str, str]:
    if "names" not in _cache:
        import pycountry

        _cache["names"] = {
            c.alpha_2: getattr(c, "common_name", None) or c.name for c in pycountry.countries
        }
    return _cache["names"]


def _iso_numeric() -> dict[str, str]:
    if "numeric" not in _cache:
        import pycountry

        _cache["numeric"] = {c.numeric: c.alpha_2 for c in pycountry.countries}
    return _cache["numeric"]

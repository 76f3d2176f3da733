"""Pure functions that turn what people type into the canonical values stored: emails, phones,
countries, domains and search keys. Each raises ``ValueError`` with a sentence for the user."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

# A cheap first check; most addresses in an import are well-formed and skip nothing but this. The local
# part may hold letters of any script (RFC 6531); the domain must be plain ASCII here.
_SIMPLE_EMAIL = re.compile(r"^[\w.%+'-]+@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def email(raw: str) -> str:
    """Return the address in lower case after checking its syntax (not its deliverability)."""
    value = raw.strip().lower()
    if value.startswith("mailto:"):
        value = value[7:]
    if not value:
        return ""
    if _SIMPLE_EMAIL.match(value) and ".." not in value and not value.startswith("."):
        local = value.split("@", 1)[0]
        if not local.endswith(".") and len(local) <= 64:
            return value
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{raw.strip()!r} is not a valid email address: {exc}") from None
    return result.normalized.lower()


_INTERNATIONAL = re.compile(r"^\+[\d\s().\-/]{6,30}$")
_NOT_DIGIT = re.compile(r"\D")


def _phone_fast(value: str) -> str | None:
    """E.164 for a plainly written international number (``+49 30 1234567``), or None to parse it fully.

    ``phonenumbers.parse`` costs tens of microseconds, which dominates large imports; country calling
    codes are prefix-free, so the code and the national number can be split directly and checked with
    the same metadata. Anything unusual (extensions, leading zeros such as Italy's) takes the full path.
    """
    if not _INTERNATIONAL.match(value):
        return None
    digits = _NOT_DIGIT.sub("", value)
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[size:]
            if not national or national[0] == "0" or code == 39:
                return None
            number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
            return "+" + digits if phonenumbers.is_possible_number(number) else None
    return None


def phone(raw: str, region: str | None) -> str:
    """Return the number in E.164 form (``+4930123456``), using ``region`` for numbers without ``+``."""
    value = raw.strip()
    if not value:
        return ""
    fast = _phone_fast(value)
    if fast is not None:
        return fast
    try:
        parsed = phonenumbers.parse(value, (region or "").upper() or None)
    except phonenumbers.NumberParseException:
        raise ValueError(
            f"{value!r} is not a phone number we can read; write it with its country code, e.g. +1 415 555 0100."
        ) from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"{value!r} is not a valid phone number (wrong length for its country).")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_display(e164: str) -> str:
    """Format a stored E.164 number for reading, e.g. ``+49 30 123456``."""
    if not e164:
        return ""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def key(text: str) -> str:
    """Lower-case, unaccented, single-spaced form of a name, for search and sorting (``Müller`` → ``muller``)."""
    if not text:
        return ""
    if text.isascii():
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


# Letters that don't decompose into a base letter plus an accent.
_FOLD = str.maketrans(
    {
        "ø": "o",
        "Ø": "O",
        "æ": "ae",
        "Æ": "AE",
        "ß": "ss",
        "đ": "d",
        "Đ": "D",
        "ł": "l",
        "Ł": "L",
        "œ": "oe",
        "Œ": "OE",
        "þ": "th",
        "Þ": "TH",
        "ı": "i",
    }
)


_DOMAIN_PART = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def domain(raw: str) -> str:
    """Return the bare domain of a web address or email (``https://www.Acme.com/x`` → ``acme.com``)."""
    value = raw.strip().lower()
    if not value:
        return ""
    if "@" in value:
        value = value.rsplit("@", 1)[1]
    value = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value)
    value = value.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].split(":", 1)[0].rstrip(".")
    if value.startswith("www."):
        value = value[4:]
    try:
        value = value.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{raw.strip()!r} is not a valid domain.") from None
    labels = value.split(".")
    if len(labels) < 2 or not all(_DOMAIN_PART.match(label) for label in labels) or labels[-1].isdigit():
        raise ValueError(f"{raw.strip()!r} is not a valid domain; write it like example.com.")
    return value


# Names people write for countries that the ISO list spells otherwise.
_COUNTRY_ALIASES = {
    "usa": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "united states": "US",
    "america": "US",
    "uk": "GB",
    "u.k.": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "deutschland": "DE",
    "österreich": "AT",
    "osterreich": "AT",
    "schweiz": "CH",
    "suisse": "CH",
    "svizzera": "CH",
    "espana": "ES",
    "españa": "ES",
    "italia": "IT",
    "nederland": "NL",
    "holland": "NL",
    "the netherlands": "NL",
    "belgique": "BE",
    "belgie": "BE",
    "sverige": "SE",
    "norge": "NO",
    "danmark": "DK",
    "suomi": "FI",
    "polska": "PL",
    "brasil": "BR",
    "méxico": "MX",
    "mexico": "MX",
    "russia": "RU",
    "south korea": "KR",
    "korea": "KR",
    "vietnam": "VN",
    "czech republic": "CZ",
    "czechia": "CZ",
    "uae": "AE",
    "ivory coast": "CI",
    "turkey": "TR",
    "türkiye": "TR",
}


@lru_cache(maxsize=1)
def _country_table() -> tuple[frozenset[str], dict[str, str], dict[str, str]]:
    """Build the set of alpha-2 codes and lookups from alpha-3 codes and English names to them."""
    from django.utils.translation import override
    from django_countries import countries
    from django_countries.data import ALT_CODES

    alpha3 = {codes[0].upper(): code for code, codes in ALT_CODES.items() if codes and codes[0]}
    names: dict[str, str] = {}
    with override("en"):
        for code, name in countries:
            names[key(str(name))] = code
    names.update({key(alias): code for alias, code in _COUNTRY_ALIASES.items()})
    return frozenset(names.values()), alpha3, names


@lru_cache(maxsize=4096)
def country(raw: str) -> str:
    """Return the ISO 3166 alpha-2 code for a code (``de``, ``DEU``) or an English name (``Germany``)."""
    value = raw.strip()
    if not value:
        return ""
    alpha2, alpha3, names = _country_table()
    upper = value.upper()
    if len(upper) == 2 and upper.isalpha():
        if upper in alpha2:
            return upper
        if upper == "UK":
            return "GB"
    if len(upper) == 3 and upper in alpha3:
        return alpha3[upper]
    code = names.get(key(value))
    if code:
        return code
    raise ValueError(f"{value!r} is not a country we know; use a two-letter ISO code such as DE or US.")


def country_name(code: str) -> str:
    """The English name of a country code, or the code itself if unknown."""
    from django_countries import countries

    return str(countries.name(code)) or code if code else ""

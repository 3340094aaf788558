"""Recipient numbers: normalise to E.164 digits with ``phonenumbers``, and mask them for logs.

Accepted spellings (interactive-limits.md, envelope ``to``):

- ``+918856879188`` and ``+91 88568 79188``: international, with ``+``;
- ``918856879188``: ASCII digits only, read as ``+`` and the digits (the BSP wire format);
- national spellings (``088568 79188``, ``8856879188``) only with a default region, which
  also changes how bare digits are read (see ``_from_bare_digits``).

The result is the E.164 number without ``+`` (``918856879188``), the BSP wire format; the Cloud
API format puts the ``+`` back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, ValidationResult
from phonenumbers import phonenumberutil as _pnu
from phonenumbers.phonemetadata import PhoneMetadata

__all__ = ["clear_normalize_cache", "mask_phone", "normalize_phone"]

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}
_LENGTH_REASONS = {
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "wrong number of digits",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "local number without area code",
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
}
_MAX_INPUT = 40  # longer than any formatted number; keeps the parser's work bounded


def normalize_phone(raw: str, default_region: str | None = None) -> str:
    """Return the E.164 digits (no ``+``) of ``raw``, or raise ``ValueError`` with the reason.

    The reason never repeats the number itself, so it can be logged and stored as is.
    ``default_region`` is an ISO 3166 code such as ``"IN"``; without it only international
    numbers (with ``+`` or as bare digits with the country code) are accepted.
    """
    region = default_region.upper() if default_region else None
    if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown default region {region[:8]!r}")
    return _normalize(raw.strip(), region)


@lru_cache(maxsize=65_536)
def _normalize(raw: str, region: str | None) -> str:
    """Cached core of :func:`normalize_phone` (campaigns repeat numbers; parsing costs ~20 us)."""
    if not raw or len(raw) > _MAX_INPUT or _has_letter(raw):
        # phonenumbers would read letters as a vanity number (1-800-FLOWERS): refuse instead.
        raise ValueError("not a phone number")
    if raw.isascii() and raw.isdigit():
        fast = _fast_international(raw) if region is None else _fast_national(raw, region)
        if fast is not None:
            return fast
        number = _from_bare_digits(raw, region)
    elif raw.startswith("+"):
        if (fast := _fast_international(_plain_digits(raw[1:]))) is not None:
            return fast
        number = _checked(_parse(raw, region))
    elif region is not None:
        number = _checked(_parse(raw, region))
    else:
        raise ValueError("national number needs a default region")
    return _e164(number)[1:]


def _has_letter(raw: str) -> bool:
    if raw.isascii():  # an ASCII letter is the only ASCII character with two cases
        return raw.lower() != raw.upper()
    return any(ch.isalpha() for ch in raw)


def _e164(number: PhoneNumber) -> str:
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _from_bare_digits(digits: str, region: str | None) -> PhoneNumber:
    """Bare digits: with the country code, or, given a default region, possibly national.

    Decision: with a default region, the national reading comes first (libphonenumber's own
    reading of a number without ``+``, and Meta's: it prepends the sender's country code), then
    ``+`` and the digits. About 7% of Indian and 10% of US national numbers are *also* valid
    international numbers of another country (measured on random valid numbers), so reading
    them as international first would message strangers. The cost: a foreign number written
    without ``+`` whose digits are also a valid national number of the default region is read
    as national, so lists with a default region should write foreign numbers with ``+``.
    """
    if region is not None:
        try:
            return _checked(_parse(digits, region))
        except ValueError as national_error:
            try:
                return _checked(_parse("+" + digits, None))
            except ValueError:
                raise national_error from None
    try:
        return _checked(_parse("+" + digits, None))
    except ValueError as exc:
        raise ValueError(_bare_digits_reason(digits, str(exc))) from None


def clear_normalize_cache() -> None:
    """Forget cached normalisations (for benchmarks and tests)."""
    _normalize.cache_clear()


def _bare_digits_reason(digits: str, reason: str) -> str:
    if digits.startswith("0"):  # a trunk prefix: certainly a national number
        return "national number needs a default region"
    if reason == "unknown country code":
        return "unknown country code (a national number needs a default region)"
    return reason


def _parse(text: str, region: str | None) -> PhoneNumber:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise ValueError(_PARSE_REASONS.get(exc.error_type, "not a phone number")) from None
    if number.extension:
        raise ValueError("extensions are not allowed")
    return number


def _checked(number: PhoneNumber) -> PhoneNumber:
    """``number`` if it is a valid number of its country, else ``ValueError`` with the reason.

    The length check only runs to explain a refusal: validity implies a possible length.
    """
    if phonenumbers.is_valid_number(number):
        return number
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != ValidationResult.IS_POSSIBLE:
        raise ValueError(_LENGTH_REASONS.get(possible, "not a phone number"))
    region = phonenumbers.region_code_for_country_code(number.country_code or 0)
    if region == phonenumbers.UNKNOWN_REGION:
        raise ValueError("unknown country code")
    raise ValueError(f"not a valid number for region {region}")


# -- fast path: "+" and ASCII digits, accepted without phonenumbers.parse ----------------------
#
# The same steps as ``phonenumbers.parse`` + ``is_valid_number`` take for such a string (country
# code, national prefix, length, then "matches one of the number types"), with each country's
# metadata and patterns looked up once. It only ever *accepts*: anything it does not accept goes
# through the full path above, which gives the reason. tests/test_phone_fast.py checks it gives
# the full path's answer on every region's example numbers and on random digits.

_SEPARATORS = str.maketrans("", "", " -")
_MIN_NSN, _MAX_NSN = 2, 17  # phonenumbers' _MIN_LENGTH_FOR_NSN, _MAX_LENGTH_FOR_NSN
_NOT_KEPT = (ValidationResult.TOO_SHORT, ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
             ValidationResult.INVALID_LENGTH)
_TYPE_DESCS = ("mobile", "fixed_line", "premium_rate", "toll_free", "shared_cost", "voip",
               "personal_number", "pager", "uan", "voicemail")


@dataclass(frozen=True, slots=True)
class _Desc:
    """A number description: possible lengths (empty: any) and the pattern, compiled once."""

    lengths: frozenset[int]
    pattern: re.Pattern[str]

    def matches(self, nsn: str) -> bool:
        return (not self.lengths or len(nsn) in self.lengths) and bool(
            self.pattern.fullmatch(nsn))


def _desc(desc: Any) -> _Desc | None:
    if desc is None or not desc.national_number_pattern:
        return None
    return _Desc(frozenset(desc.possible_length), re.compile(desc.national_number_pattern))


@dataclass(frozen=True, slots=True)
class _Region:
    """What validity needs of one region: ``_number_type_helper(...) != UNKNOWN``, reordered."""

    code: str
    country_code: int | None
    leading_digits: re.Pattern[str] | None
    general: _Desc | None
    types: tuple[_Desc, ...]

    def has_type(self, nsn: str) -> bool:
        if self.general is None or not self.general.matches(nsn):
            return False
        return any(desc.matches(nsn) for desc in self.types)


def _region(code: str, calling_code: int) -> _Region | None:
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(calling_code, code.upper())
    if metadata is None:
        return None
    names = _TYPE_DESCS[1:] if metadata.same_mobile_and_fixed_line_pattern else _TYPE_DESCS
    types = tuple(d for d in (_desc(getattr(metadata, n)) for n in names) if d is not None)
    own = PhoneMetadata.metadata_for_region(code.upper(), None)
    leading = own.leading_digits if own is not None else None
    return _Region(code, own.country_code if own is not None else None,
                   re.compile(leading) if leading is not None else None,
                   _desc(metadata.general_desc), types)


@dataclass(frozen=True, slots=True)
class _Country:
    code: int
    metadata: Any  # for parsing: the main region's (or the non-geographic entity's)
    regions: tuple[_Region | None, ...]
    national_prefix: re.Pattern[str] | None  # for parsing; None: nothing to strip

    def valid(self, nsn: str) -> bool:
        """``phonenumbers.is_valid_number`` for this country's ``nsn``."""
        if len(self.regions) == 1:
            region = self.regions[0]
        else:  # region_code_for_number: the first region that claims the number
            region = next((r for r in self.regions if r is not None and (
                r.leading_digits.match(nsn) if r.leading_digits is not None
                else r.has_type(nsn))), None)
        if region is None:
            return False
        if region.code != phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY and \
                region.country_code != self.code:
            return False
        return region.has_type(nsn)


@cache
def _country(prefix: str) -> _Country | None:
    code = int(prefix)
    codes = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code)
    if not codes or prefix.startswith("0"):
        return None
    main = phonenumbers.region_code_for_country_code(code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, main)
    if metadata is None:
        return None
    national = metadata.national_prefix_for_parsing
    return _Country(code, metadata, tuple(_region(c, code) for c in codes),
                    re.compile(national) if national else None)


def _plain_digits(text: str) -> str:
    """``text`` without single spaces and hyphens between digits ('' if anything else is in)."""
    digits = text.translate(_SEPARATORS)
    if not (digits.isascii() and digits.isdigit() and text[:1].isdigit()
            and text[-1:].isdigit()) or "  " in text or "--" in text:
        return ""
    return digits


def _fast_international(digits: str) -> str | None:
    """E.164 digits of ``+digits`` when phonenumbers would accept it as is; else None."""
    if len(digits) <= _MIN_NSN:
        return None
    for size in (1, 2, 3):
        country = _country(digits[:size])
        if country is not None:
            break
    else:
        return None
    nsn = digits[size:]
    if len(nsn) < _MIN_NSN:
        return None
    if country.national_prefix is not None and country.national_prefix.match(nsn):
        # it strips only when its own pattern matches at the start, as checked here
        metadata = country.metadata
        _, stripped, _ = _pnu._maybe_strip_national_prefix_carrier_code(nsn, metadata)
        if _pnu._test_number_length(stripped, metadata) not in _NOT_KEPT:
            nsn = stripped
    if not _MIN_NSN <= len(nsn) <= _MAX_NSN or not country.valid(nsn):
        return None
    return f"{country.code}{nsn}"


@dataclass(frozen=True, slots=True)
class _Home:
    """A default region, for reading national numbers."""

    metadata: Any
    country: _Country
    calling_code: str
    international_prefix: re.Pattern[str]
    national_prefix: re.Pattern[str] | None


@cache
def _home(region: str) -> _Home | None:
    metadata = PhoneMetadata.metadata_for_region(region, None)
    country = _country(str(metadata.country_code)) if metadata is not None else None
    if metadata is None or country is None:
        return None
    idd, national = metadata.international_prefix, metadata.national_prefix_for_parsing
    return _Home(metadata, country, str(metadata.country_code),
                 re.compile(idd if idd is not None else "NonMatch"),  # phonenumbers' stand-in
                 re.compile(national) if national else None)


def _fast_national(digits: str, region: str) -> str | None:
    """E.164 digits of ``digits`` read as a national number of ``region``, as phonenumbers
    would read it; None when it would not accept it so, or when the digits start with the
    region's international prefix or its country code (phonenumbers reads those otherwise)."""
    home = _home(region)
    if home is None or len(digits) <= _MIN_NSN or home.international_prefix.match(digits) \
            or digits.startswith(home.calling_code):
        return None
    nsn = digits
    if home.national_prefix is not None and home.national_prefix.match(nsn):
        _, stripped, _ = _pnu._maybe_strip_national_prefix_carrier_code(nsn, home.metadata)
        if _pnu._test_number_length(stripped, home.metadata) not in _NOT_KEPT:
            nsn = stripped
    if not _MIN_NSN <= len(nsn) <= _MAX_NSN or not home.country.valid(nsn):
        return None
    return f"{home.country.code}{nsn}"


def mask_phone(e164_digits: str) -> str:
    """Mask a number for logs: ``918856879188`` becomes ``9188******88``.

    Keeps the first four digits (country and operator, useful when reading logs) and the last
    two; numbers too short for that keep only their last two digits.
    """
    digits = e164_digits.lstrip("+")
    if len(digits) >= 10:
        return digits[:4] + "*" * (len(digits) - 6) + digits[-2:]
    if len(digits) > 2:
        return "*" * (len(digits) - 2) + digits[-2:]
    return "*" * len(digits)

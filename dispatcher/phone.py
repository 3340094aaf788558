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

from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, ValidationResult

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
    if not raw or len(raw) > _MAX_INPUT or any(ch.isalpha() for ch in raw):
        # phonenumbers would read letters as a vanity number (1-800-FLOWERS): refuse instead.
        raise ValueError("not a phone number")
    if raw.isascii() and raw.isdigit():
        number = _from_bare_digits(raw, region)
    elif raw.startswith("+") or region is not None:
        number = _checked(_parse(raw, region))
    else:
        raise ValueError("national number needs a default region")
    return _e164(number)[1:]


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

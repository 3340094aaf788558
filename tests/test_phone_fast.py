"""The fast paths of ``normalize_phone`` give exactly the full path's answers.

``_fast_international`` accepts "+digits" and ``_fast_national`` bare digits with a default
region without ``phonenumbers.parse``; each may decline
(then the full path decides and gives the reason) but must never accept anything the full
path refuses, nor give other digits. Checked on every region's example numbers of every type,
on those numbers one digit shorter, longer or changed, and on random digits after every
country code; ``normalize_phone`` as a whole is compared with the code before the fast path.
"""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from dispatcher import phone
from dispatcher.phone import (
    _fast_international,
    _fast_national,
    clear_normalize_cache,
    normalize_phone,
)

COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
TYPES = [t for t in vars(PhoneNumberType).values() if isinstance(t, int)
         and t != PhoneNumberType.UNKNOWN]


def full_path(raw: str, region: str | None = None) -> str:
    """``normalize_phone`` as it was before the fast path (raises ValueError with the reason)."""
    raw = raw.strip()
    if not raw or len(raw) > 40 or any(ch.isalpha() for ch in raw):
        raise ValueError("not a phone number")
    if raw.isascii() and raw.isdigit():
        number = phone._from_bare_digits(raw, region)
    elif raw.startswith("+") or region is not None:
        number = phone._checked(phone._parse(raw, region))
    else:
        raise ValueError("national number needs a default region")
    return phone._e164(number)[1:]


def outcome(call: object, *args: object) -> str:
    try:
        return "ok " + call(*args)  # type: ignore[operator]
    except ValueError as exc:
        return f"refused {exc}"


def assert_fast_agrees(digits: str) -> bool:
    """The fast path declines or agrees with the full path; True when it accepted."""
    fast = _fast_international(digits)
    if fast is not None:
        assert outcome(full_path, "+" + digits) == "ok " + fast, digits
    return fast is not None


def assert_same_as_full_path(raw: str, region: str | None = None) -> None:
    clear_normalize_cache()
    assert outcome(normalize_phone, raw, region) == outcome(full_path, raw, region), (raw, region)


def example_digits() -> list[str]:
    found = set()
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.add(phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:])
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            found.add(phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:])
    return sorted(found)


EXAMPLES = example_digits()


def test_every_example_number_and_its_neighbours() -> None:
    accepted = 0
    for digits in EXAMPLES:
        accepted += assert_fast_agrees(digits)
        for variant in (digits[:-1], digits + "5", digits[:-1] + str((int(digits[-1]) + 3) % 10),
                        digits[:-2], "0" + digits, digits[:3] + "0" + digits[3:]):
            assert_fast_agrees(variant)
    assert accepted > 0.9 * len(EXAMPLES)  # the fast path is the usual path


@pytest.mark.parametrize("digits", ["918856879188", "12025550123", "447911123456",
                                    "5511961234567", "6281234567890", "8613800138000",
                                    "39020000000"])  # Italy keeps its leading zero
def test_common_mobiles_take_the_fast_path(digits: str) -> None:
    assert assert_fast_agrees(digits)


@pytest.mark.parametrize(("digits", "e164"), [("4402079460958", "442079460958"),
                                              ("9109876543210", "919876543210"),
                                              ("8109012345678", "819012345678")])
def test_a_national_prefix_after_the_country_code_is_dropped_like_phonenumbers_does(
        digits: str, e164: str) -> None:
    assert _fast_international(digits) == e164
    assert full_path("+" + digits) == e164


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(COUNTRY_CODES), st.text("0123456789", min_size=0, max_size=15))
def test_random_digits_after_a_country_code(code: int, rest: str) -> None:
    assert_fast_agrees(f"{code}{rest}")


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(EXAMPLES), st.sampled_from([None, "IN", "US", "GB", "DE"]), st.data())
def test_normalize_phone_answers_like_the_full_path(digits: str, region: str | None,
                                                    data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(digits)))
    spelled = data.draw(st.sampled_from([
        "+" + digits, digits, f"+{digits[:cut]} {digits[cut:]}", f"+{digits[:cut]}-{digits[cut:]}",
        f"+{digits[:cut]}  {digits[cut:]}", f" +{digits} ", f"+{digits[:cut]}", f"+0{digits}",
        f"+{digits[:cut]}({digits[cut:]})", "+ " + digits]))
    assert_same_as_full_path(spelled, region)


@settings(max_examples=1500, deadline=None)
@given(st.text("0123456789 +-()", max_size=20), st.sampled_from([None, "IN", "US"]))
def test_random_spellings_answer_like_the_full_path(raw: str, region: str | None) -> None:
    assert_same_as_full_path(raw, region)


REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


def national_examples() -> list[tuple[str, str]]:
    """Every region's example numbers written nationally, digits only (with any trunk 0)."""
    found = set()
    for region in REGIONS:
        for kind in TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                text = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
                found.add((region, "".join(ch for ch in text if ch.isdigit())))
                found.add((region, phonenumbers.national_significant_number(number)))
    return sorted(found)


NATIONAL = national_examples()


def assert_national_agrees(digits: str, region: str) -> bool:
    fast = _fast_national(digits, region)
    if fast is not None:
        assert outcome(full_path, digits, region) == "ok " + fast, (digits, region)
    return fast is not None


def test_every_national_example_and_its_neighbours() -> None:
    accepted = 0
    for region, digits in NATIONAL:
        accepted += assert_national_agrees(digits, region)
        for variant in (digits[:-1], digits + "5", "0" + digits, digits[1:], "00" + digits,
                        digits[:-1] + str((int(digits[-1]) + 3) % 10)):
            assert_national_agrees(variant, region)
    assert accepted > 0.8 * len(NATIONAL)


@pytest.mark.parametrize(("digits", "region", "e164"), [
    ("9876543210", "IN", "919876543210"), ("09876543210", "IN", "919876543210"),
    ("2025550123", "US", "12025550123"), ("6135550123", "US", "16135550123"),  # Canada
    ("02079460958", "GB", "442079460958"), ("0612345678", "NL", "31612345678"),
])
def test_national_numbers_take_the_fast_path(digits: str, region: str, e164: str) -> None:
    assert _fast_national(digits, region) == e164 == full_path(digits, region)


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(REGIONS), st.text("0123456789", min_size=0, max_size=16))
def test_random_digits_read_nationally(region: str, digits: str) -> None:
    assert_national_agrees(digits, region)
    assert_same_as_full_path(digits, region)

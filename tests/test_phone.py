"""Recipient numbers: E.164 normalisation with phonenumbers, reasons for refusals, masking."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.phone import mask_phone, normalize_phone


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+918856879188", None, "918856879188"),
        ("918856879188", None, "918856879188"),  # BSP format: digits with the country code
        ("+91 88568 79188", None, "918856879188"),
        ("  +91-88568-79188 ", None, "918856879188"),
        ("+91 (885) 687 9188", None, "918856879188"),
        ("+44 20 7946 0958", None, "442079460958"),
        ("+1 202-555-0123", None, "12025550123"),
        ("088568 79188", "IN", "918856879188"),  # national, with trunk prefix
        ("08856879188", "in", "918856879188"),  # region code is case-insensitive
        ("8856879188", "IN", "918856879188"),  # national significant number only
        ("918856879188", "IN", "918856879188"),  # both readings agree
        ("+918856879188", "US", "918856879188"),  # '+' wins over the default region
        ("2025550123", "US", "12025550123"),
        ("00918856879188", "DE", "918856879188"),  # international prefix of the region
        ("4520123456", None, "4520123456"),  # Denmark, 8-digit numbers
        ("+\u0669\u0661\u0668\u0668\u0665\u0666\u0668\u0667\u0669\u0661\u0668\u0668", None,
         "918856879188"),  # Arabic-Indic digits
    ],
)  # fmt: skip
def test_accepted_spellings(raw: str, region: str | None, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("+91885687918", None, "not a valid number for region IN"),
        ("91885687918", None, "not a valid number for region IN"),
        ("+15550000000", None, "not a valid number for region US"),
        ("+9188568791888888", None, "too long"),
        ("+9188", None, "too short"),
        ("08856879188", None, "national number needs a default region"),
        ("088568 79188", None, "national number needs a default region"),
        ("(202) 555-0123", None, "national number needs a default region"),
        ("8856879188", None, "unknown country code (a national number needs a default region)"),
        ("+999123456789", None, "unknown country code"),
        ("hello", None, "not a phone number"),
        ("", None, "not a phone number"),
        ("   ", None, "not a phone number"),
        ("+", None, "not a phone number"),
        ("+1 800 FLOWERS", None, "not a phone number"),  # no vanity numbers
        ("+918856879188 ext. 12", None, "not a phone number"),
        ("+" + "9" * 60, None, "not a phone number"),
        ("+918856879188", "XX", "unknown default region 'XX'"),
    ],
)
def test_refusals_give_the_reason(raw: str, region: str | None, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        normalize_phone(raw, region)
    assert str(info.value) == reason


def test_reason_never_repeats_the_number() -> None:
    for raw in ("+91885687918", "+9188568791888888", "08856879188", "+15550000000"):
        with pytest.raises(ValueError) as info:
            normalize_phone(raw)
        assert "885" not in str(info.value) and "555" not in str(info.value)


def test_bare_digits_with_a_default_region_are_national_first() -> None:
    # 6581234567: an Indian mobile written nationally, and also +65 8123 4567 in Singapore.
    assert normalize_phone("6581234567", "IN") == "916581234567"
    assert normalize_phone("6581234567") == "6581234567"  # no region: digits carry the code
    assert normalize_phone("+6581234567", "IN") == "6581234567"  # '+' is never ambiguous
    assert normalize_phone("447911123456", "IN") == "447911123456"  # not national: international


def test_bare_digits_invalid_both_ways_report_the_national_reason() -> None:
    with pytest.raises(ValueError) as info:
        normalize_phone("88568791", "IN")
    assert str(info.value) == "not a valid number for region IN"


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(["IN", "US", "GB", "BR", "DE", "NG", "ID", "SG"]), st.data())
def test_every_format_of_a_valid_number_normalises_to_the_same_digits(
    region: str, data: st.DataObject
) -> None:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    fmt = data.draw(
        st.sampled_from(
            [phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL]
        )
    )
    assert normalize_phone(phonenumbers.format_number(example, fmt)) == e164[1:]
    assert normalize_phone(e164[1:]) == e164[1:]
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    assert normalize_phone(national, region) == e164[1:]


@pytest.mark.parametrize(
    ("digits", "masked"),
    [
        ("918856879188", "9188******88"),
        ("+918856879188", "9188******88"),
        ("12025550123", "1202*****23"),
        ("4520123456", "4520****56"),
        ("12345", "***45"),
        ("12", "**"),
        ("", ""),
    ],
)
def test_mask_phone(digits: str, masked: str) -> None:
    assert mask_phone(digits) == masked


def test_mask_hides_the_subscriber_part() -> None:
    masked = mask_phone("918856879188")
    assert "856879" not in masked and len(masked) == len("918856879188")

"""providers.md §3, row by row: every code and status in the table, and the exception split."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import orjson
import pytest

from dispatcher.providers import ErrorClass, classify_exception, classify_response
from dispatcher.providers.classify import class_of_code, one_line, parse_retry_after

E = ErrorClass

PERMANENT = [131026, 131047, 131051, 131008, 131009, 100, 131021, 131030, 131050, 130403]
PERMANENT += [131053, 135000]
ACCOUNT = (190, 0, 10, 200, 201, 250, 299, 368, 131031, 131042, 131045, 133010, 131048, 131064)

CODE_TABLE = [
    *[(c, E.THROTTLED_SENDER) for c in (130429, 80007, 4, 131057)],
    (131056, E.THROTTLED_RECIPIENT),
    *[(c, E.TRANSIENT) for c in (131000, 131016, 1, 2)],
    *[(c, E.PERMANENT) for c in PERMANENT],
    *[(c, E.ACCOUNT) for c in ACCOUNT],
]

STATUS_TABLE = [
    (429, E.THROTTLED_SENDER),
    *[(s, E.TRANSIENT) for s in (408, 500, 502, 503, 504, 501, 505, 507, 599)],
    (401, E.ACCOUNT),
    (403, E.ACCOUNT),
    *[(s, E.PERMANENT) for s in (400, 404, 405, 409, 410, 413, 415, 422, 451, 499)],
]


def meta_error(code: int | str, message: str = "boom") -> dict[str, object]:
    return {
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "error_data": {"details": "more"},
            "fbtrace_id": "Axyz",
        }
    }


@pytest.mark.parametrize(("code", "expected"), CODE_TABLE)
def test_every_code_in_the_table(code: int, expected: ErrorClass) -> None:
    # A 400 would say "permanent" and a 500 "transient": the code must win over both.
    for status in (400, 500):
        error_class, error_code, text = classify_response(status, meta_error(code))
        assert error_class is expected
        assert error_code == code
        assert f"code {code}" in text


@pytest.mark.parametrize(("code", "expected"), CODE_TABLE)
def test_codes_in_a_bytes_body(code: int, expected: ErrorClass) -> None:
    assert classify_response(400, orjson.dumps(meta_error(code)))[0] is expected


@pytest.mark.parametrize(("status", "expected"), STATUS_TABLE)
def test_every_status_fallback(status: int, expected: ErrorClass) -> None:
    for body in (None, b"", b"<html>bad gateway</html>", {"unrelated": 1}, b"[1, 2]"):
        error_class, error_code, text = classify_response(status, body)
        assert error_class is expected
        assert error_code == status
        assert text.startswith(f"HTTP {status}")


def test_throttling_code_under_400_and_429() -> None:
    # Meta sends 130429 with both statuses; both must be "throttled_sender".
    assert classify_response(400, meta_error(130429))[0] is E.THROTTLED_SENDER
    assert classify_response(429, meta_error(130429))[0] is E.THROTTLED_SENDER


def test_unknown_code_falls_back_to_status_but_reports_the_code() -> None:
    assert class_of_code(999_999) is None
    assert classify_response(400, meta_error(999_999))[:2] == (E.PERMANENT, 999_999)
    assert classify_response(503, meta_error(999_999))[:2] == (E.TRANSIENT, 999_999)
    assert classify_response(403, meta_error(999_999))[:2] == (E.ACCOUNT, 999_999)


def test_account_range_bounds() -> None:
    assert class_of_code(199) is None
    assert class_of_code(300) is None
    assert all(class_of_code(c) is E.ACCOUNT for c in range(200, 300))


def test_code_as_string_and_odd_values() -> None:
    assert classify_response(400, meta_error("131056"))[:2] == (E.THROTTLED_RECIPIENT, 131056)
    # a boolean is not a code
    assert classify_response(500, {"error": {"code": True}})[:2] == (E.TRANSIENT, 500)
    assert classify_response(400, {"error": "bad 'to' field"}) == (
        E.PERMANENT,
        400,
        "HTTP 400: bad 'to' field",
    )


def test_text_is_one_short_line_with_message_and_details() -> None:
    body = meta_error(131047, "Re-engagement\nmessage " + "x" * 500)
    _, _, text = classify_response(400, body)
    assert "\n" not in text
    assert len(text) <= 200
    assert text.startswith("HTTP 400 code 131047: Re-engagement message x")
    assert classify_response(400, meta_error(100, "Invalid parameter"))[2] == (
        "HTTP 400 code 100: Invalid parameter (more)"
    )


def test_statuses_outside_the_table() -> None:
    assert classify_response(301, None)[0] is E.ACCOUNT  # redirect: base URL is wrong
    assert classify_response(200, {})[0] is E.AMBIGUOUS  # accepted without an id
    assert classify_response(200, meta_error(131026))[0] is E.PERMANENT  # error in a 200


def _req() -> httpx.Request:
    return httpx.Request("POST", "https://bsp.example/v1/messages")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("refused", request=_req()), E.TRANSIENT),
        (httpx.ConnectTimeout("slow connect", request=_req()), E.TRANSIENT),
        (httpx.PoolTimeout("no connection", request=_req()), E.TRANSIENT),
        (httpx.WriteError("broken pipe", request=_req()), E.TRANSIENT),
        (httpx.WriteTimeout("slow write", request=_req()), E.TRANSIENT),
        (httpx.ProxyError("proxy down", request=_req()), E.TRANSIENT),
        (httpx.ReadTimeout("slow answer", request=_req()), E.AMBIGUOUS),
        (httpx.RemoteProtocolError("disconnected", request=_req()), E.AMBIGUOUS),
        (httpx.ReadError("reset", request=_req()), E.AMBIGUOUS),
        (httpx.CloseError("close", request=_req()), E.AMBIGUOUS),
        (httpx.DecodingError("bad gzip", request=_req()), E.AMBIGUOUS),
        (httpx.UnsupportedProtocol("ftp://", request=_req()), E.ACCOUNT),
        (httpx.LocalProtocolError("bad header", request=_req()), E.ACCOUNT),
        (RuntimeError("something else"), E.AMBIGUOUS),
    ],
)
def test_exceptions(exc: Exception, expected: ErrorClass) -> None:
    error_class, text = classify_exception(exc)
    assert error_class is expected
    assert text == f"{type(exc).__name__}: {exc}"


def test_exception_without_message_is_named() -> None:
    assert classify_exception(httpx.ReadTimeout("")) == (E.AMBIGUOUS, "ReadTimeout")


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("0", 0.0),
        ("3", 3.0),
        (" 120 ", 120.0),
        ("1.5", 1.5),
        ("-1", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        (format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True), 30.0),
        (format_datetime(datetime.fromtimestamp(NOW - 30, UTC), usegmt=True), 0.0),
        ("Tue, 14 Nov 2023 22:13:27 -0000", 7.0),  # naive date: GMT
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_parse_retry_after_date_uses_the_clock_by_default() -> None:
    in_a_minute = datetime.now(UTC).timestamp() + 60
    value = format_datetime(datetime.fromtimestamp(in_a_minute, UTC), usegmt=True)
    seconds = parse_retry_after(value)
    assert seconds is not None and 55 <= seconds <= 61


def test_one_line() -> None:
    assert one_line("a\n b\t c") == "a b c"
    assert one_line("x" * 10, limit=5) == "xx..."

"""The log formats without a service: JSON lines with the `extra` fields, readable text, the
request id of the request a line was written in, and what the formatters blank."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from app.observability.logs import JsonFormatter, TextFormatter, current_request_id, redact


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("cachet.test", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_a_json_line_holds_the_message_and_the_extra_fields() -> None:
    token = current_request_id.set("req-1")
    try:
        line = JsonFormatter().format(_record("GET %s %d", "/v1/x", 200, route="/v1/x", status=200))
    finally:
        current_request_id.reset(token)
    parsed = json.loads(line)
    assert "\n" not in line
    assert parsed["message"] == "GET /v1/x 200"
    assert parsed["level"] == "info" and parsed["logger"] == "cachet.test"
    assert parsed["route"] == "/v1/x" and parsed["status"] == 200
    assert parsed["request_id"] == "req-1"
    assert parsed["time"].endswith("+00:00")


def test_uvicorns_coloured_copy_of_the_message_is_left_out() -> None:
    record = _record("Started server process [%d]", 42, color_message="Started [\x1b[36m%d\x1b[0m]")
    assert TextFormatter().format(record).endswith("Started server process [42]")
    assert "color_message" not in json.loads(JsonFormatter().format(record))


def test_outside_a_request_a_line_has_no_request_id() -> None:
    assert "request_id" not in json.loads(JsonFormatter().format(_record("idle")))


def test_a_traceback_stays_inside_the_json_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("failed")
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


def test_text_puts_the_fields_after_the_message() -> None:
    line = TextFormatter().format(_record("email sent", outcome="sent", kind="invitation"))
    assert line.endswith("INFO    cachet.test: email sent outcome=sent kind=invitation")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer [redacted]"),
        ('{"authorization": "bearer xyz"}', '{"authorization": "bearer [redacted]"}'),
        ("key cachet_AbCdEf0123456789xyz used", "key cachet_[redacted] used"),
        ("the cachet_ prefix", "the cachet_ prefix"),
        ("nothing secret", "nothing secret"),
    ],
)
def test_what_looks_like_a_credential_is_blanked(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_both_formats_blank_a_key_in_a_message() -> None:
    record = _record("refused %s", "cachet_0123456789abcdef")
    assert "0123456789abcdef" not in JsonFormatter().format(record)
    assert "0123456789abcdef" not in TextFormatter().format(record)

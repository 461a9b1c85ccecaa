"""LOG_FORMAT (text, json) and the token's redaction in both."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from bot.config import ConfigError, load_settings
from bot.logs import JsonFormatter, RedactingFormatter

TOKEN = "123456789:AAH-fake-token-for-tests-0123456789ab"


def record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError(f"POST https://api.telegram.org/bot{TOKEN}/getMe failed")
        except RuntimeError:
            exc_info = sys.exc_info()
    return logging.LogRecord("bot.test", logging.ERROR, __file__, 1, message, args, exc_info)


def test_json_line_has_the_fields_and_no_token():
    line = JsonFormatter((TOKEN,)).format(record("calling %s", f"/bot{TOKEN}/x", exc=True))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "bot.test"
    assert entry["message"] == "calling /bot[redacted]/x"
    assert entry["time"].endswith("+00:00")
    assert "RuntimeError" in entry["exception"] and "[redacted]" in entry["exception"]
    assert TOKEN not in line


def test_json_line_without_exception_has_no_exception_field():
    entry = json.loads(JsonFormatter(()).format(record("Киров: %d новых", 3)))
    assert entry["message"] == "Киров: 3 новых"
    assert "exception" not in entry


def test_text_format_redacts_too():
    text = RedactingFormatter("%(levelname)s %(message)s", (TOKEN,)).format(
        record("token %s", TOKEN, exc=True)
    )
    assert TOKEN not in text and "ERROR token [redacted]" in text


@pytest.mark.parametrize(("raw", "expected"), [(None, "text"), ("json", "json"), ("JSON", "json")])
def test_log_format_setting(raw, expected):
    env = {"BOT_TOKEN": TOKEN} | ({"LOG_FORMAT": raw} if raw else {})
    assert load_settings(env).log_format == expected


def test_bad_log_format_names_the_setting():
    with pytest.raises(ConfigError) as caught:
        load_settings({"BOT_TOKEN": TOKEN, "LOG_FORMAT": "xml"})
    assert caught.value.name == "LOG_FORMAT"

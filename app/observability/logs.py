"""Log lines: one JSON object per line in production (CACHET_LOG_FORMAT=json, for a log
shipper), readable text in development. A record's `extra` fields become the object's keys
(`key=value` after the message in text); a line written during a request carries its
request id.

Nothing secret belongs in a log line, and callers log ids, never keys, link tokens, session
tokens or codes. The formatters still blank what looks like an API key or a bearer
credential, so that a mistake (an exception's text, say) does not end up in a log store.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)

JSON = "json"
TEXT = "text"

# What every LogRecord has: anything else on a record came from `extra`. uvicorn adds
# `color_message`, its message with terminal colour codes: the same words, not a field.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}

_SECRETS = (
    (re.compile(r"(?i)\b(bearer)\s+[^\s\"',]+"), r"\1 [redacted]"),
    (re.compile(r"\bcachet_[A-Za-z0-9_-]{8,}"), "cachet_[redacted]"),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The record's `extra` fields, and the request id of the request it was written in."""
    fields = {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES}
    request_id = current_request_id.get()
    if request_id is not None:
        fields.setdefault("request_id", request_id)
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **fields_of(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = " ".join(f"{key}={value}" for key, value in fields_of(record).items())
        head, newline, rest = text.partition("\n")  # a traceback stays below the line
        return redact(f"{head} {extra}{newline}{rest}" if extra else text)


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """A logging.config.dictConfig for the whole process, uvicorn's loggers included (uvicorn
    takes it as log_config). uvicorn's access log is left off: the service writes its own
    request line, with the route's template where uvicorn would write the path, and a
    signing link's path is its token."""
    formatter = JsonFormatter if log_format == JSON else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"cachet": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "cachet",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }

"""Logging set up once by the entry point: one JSON object per line, or plain text.

Modules log through `logging.getLogger(__name__)` and pass structured facts as
`extra={"fields": {...}}`; the formatters here put those facts into the line, so a
log shipper can index request ids, models and latencies without parsing prose.
"""

import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

_ACCESS_LOGGERS = ("uvicorn.access",)  # Replaced by our own one line per request.
# Marks the handler `configure_logging` made for JSON: `service.server.access_log` may then
# write access lines to its stream itself, in the same shape.
JSON_HANDLER_ATTRIBUTE = "kerasserve_json"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


def log_time(created: float) -> str:
    """``created`` (a Unix time) as ISO 8601 in UTC with milliseconds, as
    `datetime.isoformat` writes it; the text up to the second is made once per second
    (formatting a datetime cost an access line more than everything else in it)."""
    global _last_second
    second = int(created)
    micros = round((created - second) * 1_000_000)  # datetime rounds half to even too
    if created < 0 or micros >= 1_000_000:
        return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    last = _last_second  # one read: another thread may replace it meanwhile
    if last[0] != second:
        text = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")
        last = _last_second = (second, text.removesuffix("+00:00"))
    return f"{last[1]}.{micros // 1000:03d}+00:00"


_last_second: tuple[int, str] = (-1, "")  # the second last formatted, and its text


def json_line(
    created: float, level: str, logger: str, message: str, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """The shape of every JSON log line; `service.server.access_log` writes its own with it."""
    return {
        "time": log_time(created),
        "level": level,
        "logger": logger,
        "message": message,
        **fields,
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = json_line(
            record.created, record.levelname, record.name, record.getMessage(), _fields(record)
        )
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, extra fields appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        return f"{text} {extras}" if extras else text


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stderr handler that outlives its stream: once the stderr it was made with is
    closed (test runners close each test's captured stream; process managers replace
    it), it writes to the current `sys.stderr` instead of failing every later line."""

    def __init__(self) -> None:
        self._bound: Any = sys.stderr
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        if getattr(self._bound, "closed", False):
            self._bound = sys.stderr
        return self._bound

    @stream.setter
    def stream(self, value: Any) -> None:
        self._bound = value


def configure_logging(log_format: Literal["json", "text"], level: str) -> None:
    """Send every logger (ours, uvicorn's, TensorFlow's) through one stderr handler."""
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    setattr(handler, JSON_HANDLER_ATTRIBUTE, log_format == "json")
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", *_ACCESS_LOGGERS):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = name not in _ACCESS_LOGGERS

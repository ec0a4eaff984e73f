"""The access log: one line per request, written in batches when the format is JSON.

Going through `logging` costs about 30 us a request (a `LogRecord`, a formatter, a
locked write and flush to stderr), as much as everything else the service does for a
small image. When `configure_logging` set up the JSON handler and nothing else
listens to `kerasserve.access`, the line is built here instead: the same keys in the
same order as `JsonFormatter` writes, buffered on the event loop and written with one
`write` every `FLUSH_INTERVAL_S` (and when the app stops). A crash can lose the lines
of that last interval. Any other set-up (text format, extra handlers, tests capturing
logs) keeps the plain `logging` call.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from service.logs import JSON_HANDLER_ATTRIBUTE, json_line

ACCESS_LOGGER = "kerasserve.access"
FLUSH_INTERVAL_S = 0.02
MAX_BUFFERED_BYTES = 256 * 1024

AccessWriter = Callable[[Mapping[str, Any]], None]

access_logger = logging.getLogger(ACCESS_LOGGER)


def log_through_logging(fields: Mapping[str, Any]) -> None:
    access_logger.info("request", extra={"fields": fields})


class BatchedJsonLines:
    """Formats access lines itself and hands them to the JSON handler's stream in batches."""

    def __init__(self, handler: logging.StreamHandler[Any]) -> None:
        self._handler = handler
        self._lines: list[bytes] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None

    def __call__(self, fields: Mapping[str, Any]) -> None:
        line = orjson.dumps(
            json_line(time.time(), "INFO", ACCESS_LOGGER, "request", fields), default=str
        )
        self._lines.append(line)
        self._size += len(line) + 1
        if self._size >= MAX_BUFFERED_BYTES:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # called outside a loop: nothing will flush later
                self.flush()
                return
            self._timer = loop.call_later(FLUSH_INTERVAL_S, self.flush)

    def flush(self) -> None:
        """Write what is buffered as one block, under the handler's lock."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        block = b"\n".join(self._lines).decode() + "\n"
        self._lines.clear()
        self._size = 0
        handler = self._handler
        handler.acquire()
        try:
            handler.stream.write(block)
            handler.stream.flush()
        except Exception:  # a closed or broken stderr must not fail requests
            handler.handleError(access_logger.makeRecord(ACCESS_LOGGER, 20, "", 0, "", (), None))
        finally:
            handler.release()


def batched_json_handler() -> logging.StreamHandler[Any] | None:
    """The JSON handler when it alone receives access lines at INFO, else None."""
    if not access_logger.isEnabledFor(logging.INFO):
        return None
    root = logging.getLogger()
    logger: logging.Logger | None = access_logger
    while logger is not None and logger is not root:  # no handler or filter on the way
        if logger.handlers or logger.filters or not logger.propagate:
            return None
        logger = logger.parent
    if len(root.handlers) != 1 or root.filters:
        return None
    handler = root.handlers[0]
    if not getattr(handler, JSON_HANDLER_ATTRIBUTE, False) or handler.filters:
        return None
    if handler.level > logging.INFO or not isinstance(handler, logging.StreamHandler):
        return None
    return handler


class AccessLog:
    """Chooses the writer at the first request, when logging is surely configured."""

    def __init__(self) -> None:
        self._writer: AccessWriter | None = None
        self._batched: BatchedJsonLines | None = None

    def __call__(self, fields: Mapping[str, Any]) -> None:
        writer = self._writer
        if writer is None:
            handler = batched_json_handler()
            if handler is None:
                writer = log_through_logging
            else:
                writer = self._batched = BatchedJsonLines(handler)
            self._writer = writer
        writer(fields)

    def flush(self) -> None:
        if self._batched is not None:
            self._batched.flush()

"""The access log writes the JSON formatter's lines itself, batched, only when that is safe."""

import asyncio
import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from service.logs import JsonFormatter, configure_logging
from service.server.access_log import (
    FLUSH_INTERVAL_S,
    AccessLog,
    BatchedJsonLines,
    log_through_logging,
)

FIELDS = {"request_id": "r-1", "method": "POST", "status": 200, "latency_ms": 0.412}


@pytest.fixture
def json_stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """`configure_logging("json")` writing into a buffer; the old logging set-up after.

    pytest adds its own capturing handlers to the root logger as each test starts, so
    `only_configured_handler` puts the JSON handler back alone inside the test.
    """
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("json", "INFO")
    yield stream
    root.handlers[:], root.level = saved


def only_configured_handler() -> None:
    """Drop pytest's capturing handlers: keep the one `configure_logging` made."""
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if hasattr(h, "kerasserve_json")]


def test_lines_are_batched_and_shaped_like_the_json_formatter(json_stderr):
    only_configured_handler()
    access_log = AccessLog()

    async def two_requests() -> str:
        access_log(FIELDS)
        access_log({**FIELDS, "request_id": "r-2"})
        written_at_once = str(json_stderr.getvalue())
        await asyncio.sleep(FLUSH_INTERVAL_S * 3)
        return written_at_once

    assert asyncio.run(two_requests()) == ""
    lines = [json.loads(line) for line in json_stderr.getvalue().splitlines()]
    assert [line["request_id"] for line in lines] == ["r-1", "r-2"]
    record = logging.LogRecord("kerasserve.access", logging.INFO, "", 0, "request", (), None)
    record.fields = FIELDS
    reference = json.loads(JsonFormatter().format(record))
    assert list(lines[0]) == list(reference)  # same keys, same order
    assert {k: v for k, v in lines[0].items() if k != "time"} == {
        k: v for k, v in reference.items() if k != "time"
    }


def test_flush_writes_what_is_buffered_at_shutdown(json_stderr):
    only_configured_handler()
    access_log = AccessLog()

    async def one_request_then_stop() -> None:
        access_log(FIELDS)
        access_log.flush()

    asyncio.run(one_request_then_stop())
    assert json.loads(json_stderr.getvalue())["request_id"] == "r-1"


def test_any_other_listener_keeps_the_logging_call(json_stderr, caplog):
    caplog.set_level(logging.INFO, logger="kerasserve.access")  # adds a capturing handler
    access_log = AccessLog()
    access_log(FIELDS)
    assert access_log._writer is log_through_logging
    assert [record.fields for record in caplog.records] == [FIELDS]


def test_text_format_and_a_quiet_level_keep_the_logging_call(monkeypatch):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    try:
        for log_format, level in (("text", "INFO"), ("json", "WARNING")):
            configure_logging(log_format, level)  # type: ignore[arg-type]
            only_configured_handler()
            access_log = AccessLog()
            access_log(FIELDS)
            assert access_log._writer is log_through_logging
    finally:
        root.handlers[:], root.level = saved


def test_a_large_burst_is_written_without_waiting(json_stderr):
    only_configured_handler()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    writer = BatchedJsonLines(handler)

    async def burst() -> None:
        for index in range(3000):
            writer({**FIELDS, "request_id": f"r-{index}", "path": "/" + "x" * 100})

    asyncio.run(burst())
    assert json_stderr.getvalue().count("\n") > 1000

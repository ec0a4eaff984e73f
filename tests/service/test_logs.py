"""The service's log lines: the handler follows sys.stderr; times as datetime writes them."""

import io
import json
import logging
import random
import sys
from datetime import UTC, datetime

import pytest

from service.logs import configure_logging, log_time


def test_lines_go_to_the_current_stderr_once_the_first_is_closed(monkeypatch: pytest.MonkeyPatch):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    try:
        configure_logging("json", "INFO")
        root.handlers[:] = [h for h in root.handlers if hasattr(h, "kerasserve_json")]
        first.close()  # what a test runner does with a test's captured stream
        second = io.StringIO()
        monkeypatch.setattr(sys, "stderr", second)
        logging.getLogger("kerasserve.test").info("after the swap")
        line = json.loads(second.getvalue())
        assert line["message"] == "after the swap"
        assert line["logger"] == "kerasserve.test"
    finally:
        root.handlers[:], root.level = saved


def test_log_times_read_as_datetime_writes_them():
    """Each second's text is made once; the milliseconds must still be datetime's own,
    rounding included (times a hair below the next second, or just past one)."""
    generator = random.Random(7)
    edges = (0.0, 0.0004999, 0.0005, 0.9994999, 0.9995, 0.9999994, 0.9999996)
    times = [generator.uniform(1.6e9, 2.0e9) for _ in range(20_000)]
    times += [1_796_623_200 + offset + second for offset in edges for second in range(3)]
    for created in times:
        expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        assert log_time(created) == expected, created

"""The service's log handler moves to the current sys.stderr once its own is closed."""

import io
import json
import logging
import sys

import pytest

from service.logs import configure_logging


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

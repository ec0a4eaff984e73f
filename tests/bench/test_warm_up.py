"""The request that waits out a warm-up's leftovers is sent as wrk sends its own."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bench import wrk


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "type": self.headers.get("Content-Type"),
                "key": self.headers.get("X-API-Key"),
                "body": self.rfile.read(length),
            }
        )
        status = 503 if self.path.startswith("/busy") else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_a_post_carries_the_body_type_and_extra_header(server, tmp_path: Path):
    body = tmp_path / "digit.png"
    body.write_bytes(b"\x89PNG fake bytes")
    target = wrk.Target("/v1/classify?model=m", body, header="X-API-Key: secret")
    assert wrk.send_once(server, target) == 200
    assert _Recorder.seen == [
        {
            "method": "POST",
            "path": "/v1/classify?model=m",
            "type": "image/png",
            "key": "secret",
            "body": b"\x89PNG fake bytes",
        }
    ]


def test_a_refusal_is_reported_not_raised_and_no_load_without_seconds(server):
    target = wrk.Target("/busy?n=16", method="GET")
    wrk.warm_up(server, target, connections=64, seconds=0)
    assert [(seen["method"], seen["path"]) for seen in _Recorder.seen] == [("GET", "/busy?n=16")]
    assert wrk.send_once(server, target) == 503

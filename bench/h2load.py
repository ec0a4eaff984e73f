"""Drive a gRPC method with h2load (nghttp2-client): the gRPC framing by hand, a count
of exactly the calls sent, latency percentiles from h2load's per-request log.

A unary gRPC call is an HTTP/2 POST to ``/<package.Service>/<Method>`` with
``content-type: application/grpc`` and ``te: trailers``, whose body is one
length-prefixed message (a zero compression byte, the length as 4 big-endian bytes,
the serialized protobuf). h2load sends that body as it would any other and counts an
HTTP 200 as a success whatever the ``grpc-status`` trailer says: the harness compares
its count with the server's own count of OK calls (``bench/grpc_run.py``).
"""

import re
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from tritonclient.grpc import service_pb2

_LINE = {
    "requests": re.compile(
        r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded", re.MULTILINE
    ),
    "codes": re.compile(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", re.MULTILINE),
    "finished": re.compile(r"^finished in ([0-9.]+)(m?s), ([0-9.]+) req/s", re.MULTILINE),
}
GRPC_HEADERS = ("content-type: application/grpc", "te: trailers")


@dataclass(frozen=True)
class Call:
    """One gRPC method and the message every call of a point sends."""

    method: str  # /inference.GRPCInferenceService/ModelInfer
    message: bytes  # the serialized request

    @property
    def framed(self) -> bytes:
        return b"\x00" + struct.pack(">I", len(self.message)) + self.message


@dataclass(frozen=True)
class H2Result:
    sent: int
    succeeded: int  # HTTP 2xx, whatever grpc-status said
    failed: int  # errors, timeouts and non-2xx
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.succeeded / self.seconds if self.seconds else 0.0


def model_infer(model: str, tensor: str, datatype: str, shape: list[int], raw: bytes) -> Call:
    """A V2 ModelInfer of one input, asking for ``probabilities`` only."""
    request = service_pb2.ModelInferRequest(model_name=model)
    request.inputs.add(name=tensor, datatype=datatype, shape=shape)
    request.outputs.add(name="probabilities")
    request.raw_input_contents.append(raw)
    return Call("/inference.GRPCInferenceService/ModelInfer", request.SerializeToString())


def bytes_element(data: bytes) -> bytes:
    """One BYTES element in the V2 raw layout: its length (4 bytes, little-endian), then it."""
    return struct.pack("<I", len(data)) + data


def check_once(target: str, call: Call, timeout_s: float = 30.0) -> np.ndarray:
    """One call through grpcio with the exact bytes h2load sends; its probabilities.
    Raises grpc.RpcError unless the status is OK (grpc-status 0)."""
    with grpc.insecure_channel(target) as channel:
        answer = channel.unary_unary(call.method)(call.message, timeout=timeout_s)
    response = service_pb2.ModelInferResponse.FromString(answer)
    return np.frombuffer(response.raw_output_contents[0], np.float32)


def _percentile(sorted_us: np.ndarray, q: float) -> float:
    return float(np.percentile(sorted_us, q) / 1000) if sorted_us.size else 0.0


def _groups(output: str, key: str) -> tuple[str, ...]:
    match = _LINE[key].search(output)
    if match is None:
        raise ValueError(f"no {key!r} line in h2load's output: {output[-600:]!r}")
    return match.groups()


def parse(output: str, log: Path) -> H2Result:
    """h2load's summary, and latencies of the 200s from its per-request log."""
    total, _, _, succeeded = (int(x) for x in _groups(output, "requests"))
    ok = min(succeeded, int(_groups(output, "codes")[0]))
    amount, unit, _ = _groups(output, "finished")
    seconds = float(amount) / (1000 if unit == "ms" else 1)
    columns = [line.split("\t") for line in log.read_text().splitlines() if line]
    durations = np.sort(np.array([int(c[2]) for c in columns if c[1] == "200"], dtype=np.int64))
    return H2Result(
        sent=total, succeeded=ok, failed=total - ok, seconds=seconds,
        p50_ms=_percentile(durations, 50), p90_ms=_percentile(durations, 90),
        p99_ms=_percentile(durations, 99),
        max_ms=float(durations[-1] / 1000) if durations.size else 0.0,
    )  # fmt: skip


def run(
    target: str, call: Call, connections: int, *, calls: int = 0, seconds: float = 0
) -> H2Result:
    """``calls`` calls, or as many as fit in ``seconds``; one thread, one stream per
    connection (``-m 1``), as wrk keeps one request per connection."""
    with tempfile.TemporaryDirectory() as scratch:
        body, log = Path(scratch) / "body.bin", Path(scratch) / "requests.log"
        body.write_bytes(call.framed)
        amount = [f"-n{calls}"] if calls else [f"-D{max(1, round(seconds))}"]
        argv = ["h2load", "-t1", f"-c{connections}", "-m1", *amount, f"--data={body}",
                f"--log-file={log}", "-T10"]  # fmt: skip
        for header in GRPC_HEADERS:
            argv += ["-H", header]
        argv.append(f"http://{target}{call.method}")
        limit = 600 + seconds
        done = subprocess.run(argv, capture_output=True, text=True, timeout=limit)
        return parse(done.stdout, log)

"""The PM QoS bound is held while the context is open and released after."""

import os
from pathlib import Path

import pytest

from bench import host


def test_leaving_the_host_alone_opens_nothing(monkeypatch):
    monkeypatch.setattr(host, "PM_QOS_DEVICE", "/nonexistent/cpu_dma_latency")
    with host.cpu_wake_latency(None) as note:
        assert note == "host CPU idle states untouched"


def test_a_negative_bound_is_refused():
    with pytest.raises(ValueError, match="negative"), host.cpu_wake_latency(-1):
        pass


@pytest.mark.skipif(
    not os.access(host.PM_QOS_DEVICE, os.W_OK), reason="needs a writable /dev/cpu_dma_latency"
)
def test_the_bound_holds_while_open_and_ends_with_the_context():
    with host.cpu_wake_latency(0) as note:
        assert note == "/dev/cpu_dma_latency held at 0 us"
        # The device reads back the bound in force: ours, the strictest there is.
        with Path(host.PM_QOS_DEVICE).open("rb") as device:
            assert int.from_bytes(device.read(4), "little") == 0
    with Path(host.PM_QOS_DEVICE).open("rb") as device:
        assert int.from_bytes(device.read(4), "little") > 0

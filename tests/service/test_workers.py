"""One listening socket per worker on one port; a taken port is refused."""

import socket

import pytest
import uvicorn

from service.workers import SocketPerWorker, worker_sockets


def test_each_worker_gets_its_own_socket_on_one_port_as_several_descriptors():
    slots = worker_sockets("127.0.0.1", 0, workers=3, handles=4)
    try:
        assert [len(slot) for slot in slots] == [4, 4, 4]
        names = {sock.getsockname() for slot in slots for sock in slot}
        assert len(names) == 1  # port 0 became one port for all
        for slot in slots:
            assert slot[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        for slot in slots:
            slot[0].listen()
        with socket.create_connection(next(iter(names)), timeout=5):
            pass  # some worker's queue took it
    finally:
        for slot in slots:
            for sock in slot:
                sock.close()


def test_a_port_another_server_listens_on_is_refused():
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(OSError):
            worker_sockets("127.0.0.1", other.getsockname()[1], workers=2, handles=1)


def test_the_supervisor_needs_a_socket_per_worker():
    config = uvicorn.Config("service.cli:worker_app", workers=2)
    with pytest.raises(ValueError, match="2 workers need as many sockets"):
        SocketPerWorker(config, [[]])

"""One listening socket per worker on one port; a taken port is refused."""

import multiprocessing
import os
import signal
import socket
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
import uvicorn

from service.server.workers import SocketPerWorker, responsive, worker_sockets


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


def test_a_dead_workers_socket_is_replaced_by_a_fresh_one_that_takes_nothing_yet():
    slots = worker_sockets("127.0.0.1", 0, workers=2, handles=3)
    address = slots[0][0].getsockname()
    supervisor = SocketPerWorker(uvicorn.Config("service.cli:worker_app", workers=2), slots)
    try:
        for slot in slots:
            slot[0].listen()
        old = list(supervisor.slots[0])
        supervisor.renew_slot(0)
        assert all(sock.fileno() == -1 for sock in old)  # closed: its queue is gone
        fresh = supervisor.slots[0]
        assert len(fresh) == 3 and {sock.getsockname() for sock in fresh} == {address}
        assert supervisor.sockets == [*fresh, *supervisor.slots[1]]
        # Bound but not listening: every new connection goes to the live worker's socket.
        survivor = supervisor.slots[1][0]
        survivor.settimeout(5)
        for _ in range(8):
            with socket.create_connection(address, timeout=5):
                accepted, _ = survivor.accept()
                accepted.close()
        fresh[0].listen()  # the replacement, once it has loaded, joins the port
        fresh[0].settimeout(5)
        with socket.create_connection(address, timeout=5):
            pass
    finally:
        for slot in supervisor.slots:
            for sock in slot:
                sock.close()


def _answer_pings(conn: Any, answers: int) -> None:
    for _ in range(answers):
        conn.recv()
        conn.send(True)
    time.sleep(60)  # then hang, as a worker killed mid-ping would never answer


def _worker(answers: int) -> Any:
    """What `responsive` reads of uvicorn's worker: the process and its ping pipe."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_answer_pings, args=(child, answers), daemon=True)
    process.start()
    return SimpleNamespace(process=process, parent_conn=parent)


def test_a_worker_that_answers_is_responsive_and_one_killed_mid_ping_is_not_for_long():
    worker = _worker(answers=1)
    try:
        assert responsive(worker, timeout=20)
        # Killed while the next ping waits for its answer: noticed in well under the 20 s
        # timeout (uvicorn's own check, waiting on the pipe alone, waits all 20).
        killer = threading.Timer(0.5, os.kill, (worker.process.pid, signal.SIGKILL))
        killer.start()
        started = time.monotonic()
        assert not responsive(worker, timeout=20)
        assert time.monotonic() - started < 5
        assert not responsive(worker, timeout=20)  # and dead stays dead
    finally:
        worker.process.kill()
        worker.process.join()

"""Several worker processes, each with its own listening socket on the shared port.

On one shared socket every idle worker is woken for a new connection and the first
to run takes it, so a burst of connections (a load balancer's pool, a benchmark's
clients) lands mostly on whichever worker was awake: two workers measured on two
cores gave one worker all 64 of 64 connections (every batch 64 rows) and no more
throughput than one worker. With ``SO_REUSEPORT`` each worker listens on a socket of
its own and the kernel spreads connections across them by hash.

A worker that dies is replaced on a fresh socket. Its old socket is closed at once,
which resets the few connections the kernel had queued there but not yet handed to
the worker; the new one joins the port only when the replacement starts listening,
after loading its models. Until then every new connection goes to the live workers,
instead of waiting (10-30 s in a container) on a socket nobody accepts from.
"""

import logging
import pickle
import socket
from multiprocessing.connection import wait

from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

logger = logging.getLogger(__name__)


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) TCP socket that shares ``port`` with its siblings."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def free_port(host: str, port: int) -> int:
    """``port`` (or, for 0, a free one) after checking that nothing listens on it.

    Binding without ``SO_REUSEPORT`` fails on a port any other socket holds, so a second
    server started on the same port is refused instead of silently sharing it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        return int(probe.getsockname()[1])


def worker_sockets(host: str, port: int, workers: int, handles: int) -> list[list[socket.socket]]:
    """One socket per worker on one port, each handed over as ``handles`` descriptors
    so a worker accepts several connections per loop turn.

    Raises ``OSError`` when the port is taken.
    """
    port = free_port(host, port)
    own = [reuse_port_socket(host, port) for _ in range(workers)]
    return [[sock, *(sock.dup() for _ in range(handles - 1))] for sock in own]


def responsive(worker: Process, timeout: float) -> bool:
    """uvicorn's health check (a ping the worker must answer within ``timeout``), except
    that a worker dying while it is asked is noticed at once.

    uvicorn waits on the pipe alone, which shows no end of file when the worker dies (the
    supervisor holds the worker's end as well), so a worker killed just before a ping
    counted as alive for the whole timeout (20 s) and kept its socket meanwhile. Here the
    wait also watches the process's sentinel, which is ready the moment it exits.
    """
    if not worker.process.is_alive():
        return False
    try:
        worker.parent_conn.send(b"ping")
        ready = wait([worker.parent_conn, worker.process.sentinel], timeout)
        if worker.process.sentinel in ready or worker.parent_conn not in ready:
            return False
        worker.parent_conn.recv()  # whether it has started; any answer is a live worker
        return True
    except (OSError, EOFError, pickle.UnpicklingError):
        return False


class SocketPerWorker(Multiprocess):
    """uvicorn's supervisor, starting (and replacing) worker ``i`` on ``slots[i]``."""

    def __init__(self, config: Config, slots: list[list[socket.socket]]) -> None:
        if len(slots) != config.workers:
            raise ValueError(f"{config.workers} workers need as many sockets, got {len(slots)}")
        super().__init__(config, sockets=[sock for slot in slots for sock in slot])
        self.slots = slots

    def start_worker(self, index: int) -> Process:
        process = Process(self.config, self.slots[index])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self.start_worker(index) for index in range(self.processes_num)]

    def keep_subprocess_alive(self) -> None:
        """Replace a dead or hung worker on its own socket (as uvicorn does on the shared one)."""
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if responsive(process, timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                logger.error("worker [%s] failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info("worker [%s] died; starting a new one on a fresh socket", process.pid)
            self.renew_slot(index)
            self.processes[index] = self.start_worker(index)

    def renew_slot(self, index: int) -> None:
        """Close worker ``index``'s socket and bind a fresh one on the same port for its
        replacement (bound, not listening: the port's other sockets take every connection
        until the replacement listens)."""
        old = self.slots[index]
        host, port = old[0].getsockname()[:2]
        for sock in old:
            sock.close()
        fresh = reuse_port_socket(host, port)
        self.slots[index] = [fresh, *(fresh.dup() for _ in range(len(old) - 1))]
        self.sockets = [sock for slot in self.slots for sock in slot]

    def restart_all(self) -> None:
        """SIGHUP: bring each replacement into service before retiring the old worker."""
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self.start_worker(index)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                logger.error(
                    "new worker [%s] was not ready in time; keeping [%s]", new.pid, old.pid
                )
                return
            old.terminate()
            old.join()
            self.processes[index] = new

"""What a test sees of a `kerasserve serve --workers N` process tree through /proc: its
worker processes and which of them owns each TCP socket on a port."""

import time
from pathlib import Path

ESTABLISHED = "01"
LISTENING = "0A"


def worker_pids(pid: int) -> list[int]:
    """The server's worker processes (its other child is multiprocessing's tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def sockets_on(port: int, state: str) -> set[str]:
    """Inodes of TCP sockets in ``state`` whose local port is ``port`` (the server's ends),
    IPv6 ones included (gRPC binds 127.0.0.1 as the mapped ``::ffff:127.0.0.1``)."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == state:
                inodes.add(fields[9])
    return inodes


def wait_listening(port: int, sockets: int, exact: bool = False, timeout_s: float = 180) -> None:
    """A worker listens once its models are loaded; /readyz answers from the first.
    Waits for at least ``sockets`` listening sockets, or exactly that many."""
    deadline = time.monotonic() + timeout_s
    while (
        (len(sockets_on(port, LISTENING)) != sockets)
        if exact
        else (len(sockets_on(port, LISTENING)) < sockets)
    ):
        assert time.monotonic() < deadline, "not every worker started listening"
        time.sleep(0.2)

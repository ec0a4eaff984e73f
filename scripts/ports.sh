# Sourced by the container scripts: host ports that are free right now, so a run never
# collides with another stack (another run, a developer's compose) holding the defaults.

# free_port START: the first port from START on that nothing listens on at 127.0.0.1.
free_port() {
  free_ports "$1" 1
}

# free_ports START COUNT: the first run of COUNT consecutive free ports from START on,
# printed as START (COUNT 1) or FIRST-LAST.
free_ports() {
  python3 - "$1" "$2" <<'PY'
import socket
import sys

start, count = int(sys.argv[1]), int(sys.argv[2])


def free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


first = start
while first + count <= 65535:
    taken = next((p for p in range(first, first + count) if not free(p)), None)
    if taken is None:
        print(first if count == 1 else f"{first}-{first + count - 1}")
        sys.exit(0)
    first = taken + 1
sys.exit(f"no {count} free ports from {start} on")
PY
}

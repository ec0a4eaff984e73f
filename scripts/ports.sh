# Sourced by the container scripts: host ports that are free right now, so a run never
# collides with another stack (another run, a developer's compose) holding the defaults.
# A port counts as taken when something listens on it at 127.0.0.1 or when any container
# on the engine publishes it: a container that is restarting, or one whose engine runs
# without its userland proxy, holds its port in the engine with nothing listening.

# engine_ports: every host port (or FIRST-LAST range) that a container on the engine
# publishes, running or not; nothing when no engine answers.
engine_ports() {
  local docker=${DOCKER:-docker}
  "$docker" ps -aq 2>/dev/null | xargs -r "$docker" inspect -f \
    '{{range $p, $b := .HostConfig.PortBindings}}{{range $b}}{{.HostPort}} {{end}}{{end}}{{range $p, $b := .NetworkSettings.Ports}}{{range $b}}{{.HostPort}} {{end}}{{end}}' \
    2>/dev/null || true
}

# free_port START: the first free port from START on.
free_port() {
  free_ports "$1" 1
}

# free_ports START COUNT: the first run of COUNT consecutive free ports from START on,
# printed as START (COUNT 1) or FIRST-LAST.
free_ports() {
  python3 - "$1" "$2" "$(engine_ports) ${PORTS_CHOSEN:-}" <<'PY'
import socket
import sys

start, count = int(sys.argv[1]), int(sys.argv[2])
published: set[int] = set()
for spec in sys.argv[3].split():
    first, _, last = spec.partition("-")
    if first.isdigit():
        published.update(range(int(first), int(last or first) + 1))


def free(port: int) -> bool:
    if port in published:
        return False
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

# choose_ports NAME OVERRIDE START COUNT: export NAME as OVERRIDE, or else as the free
# ports from START on, and keep them out of this run's later choices (a run's balancer
# and its replicas' ranges must not land on one another).
choose_ports() {
  local value=$2
  [[ -n $value ]] || value=$(free_ports "$3" "$4")
  PORTS_CHOSEN="${PORTS_CHOSEN:-} $value"
  export "$1=$value"
}

# port_clash LOG: whether a failed `docker-compose up` (its output in LOG) lost a race
# for a host port, so that picking the ports again and retrying is the cure.
port_clash() {
  grep -qE 'port is already allocated|address already in use' "$1"
}

# up_choosing_ports LOG UP DOWN CHOOSE: run the command UP (its output in LOG); when it
# lost a race for a host port, run DOWN, CHOOSE the ports again and retry, three tries
# in all. Returns UP's failure otherwise, LOG kept for the caller to show.
up_choosing_ports() {
  local log=$1 up=$2 down=$3 choose=$4 attempt
  for attempt in 1 2 3; do
    "$up" >"$log" 2>&1 && return 0
    { port_clash "$log" && [[ $attempt -lt 3 ]]; } || return 1
    echo "a host port was taken between choosing it and binding it; choosing again"
    "$down" >/dev/null 2>&1 || true
    "$choose"
  done
}

"""scripts/ports.sh: the container runs' host ports skip what listens and what any
container on the engine publishes, running or not (a restarting container holds its
port in the engine while nothing listens on it), and a lost race is recognised.

The engine is a stand-in script answering `ps -aq` and `inspect` as Docker does: the
question is how ports.sh reads those answers, not whether Docker runs here (CI's
container runs use the real engine).
"""

import socket
import subprocess
from pathlib import Path

from tests.deploy.conftest import ROOT

FAKE_DOCKER = """#!/bin/sh
case "$1" in
  ps) printf 'c1\\nc2\\n' ;;
  inspect) printf '%s\\n' "$PUBLISHED" ;;
esac
"""


def run_ports(tmp_path: Path, call: str, published: str = "") -> str:
    docker = tmp_path / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    script = f"source {ROOT / 'scripts/ports.sh'}; {call}"
    result = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": "/usr/bin:/bin", "DOCKER": str(docker), "PUBLISHED": published},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def listening_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def quiet_start(count: int = 8) -> int:
    """The first of `count` free ports below the kernel's range for outgoing connections,
    so that none of them is taken while the test runs."""
    start = 21000
    while not all(bindable(port) for port in range(start, start + count)):
        start += count
    return start


def test_a_port_a_container_publishes_is_skipped_though_nothing_listens(tmp_path: Path) -> None:
    start = quiet_start()
    published = f"{start} {start + 2}-{start + 4} "
    assert run_ports(tmp_path, f"free_port {start}", published) == str(start + 1)
    assert run_ports(tmp_path, f"free_ports {start} 3", published) == f"{start + 5}-{start + 7}"


def test_a_listening_port_is_skipped(tmp_path: Path) -> None:
    with listening_port() as held:
        port = held.getsockname()[1]
        assert run_ports(tmp_path, f"free_port {port}") != str(port)


def test_no_engine_means_listening_ports_only(tmp_path: Path) -> None:
    script = f"source {ROOT / 'scripts/ports.sh'}; free_port 40123"
    result = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": "/usr/bin:/bin", "DOCKER": str(tmp_path / "absent")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip().isdigit()


def test_a_lost_port_race_is_recognised(tmp_path: Path) -> None:
    log = tmp_path / "up.log"
    log.write_text("Bind for 127.0.0.1:18600 failed: port is already allocated\n")
    clash = f"source {ROOT / 'scripts/ports.sh'}; port_clash {log} && echo clash || echo other"
    assert subprocess.run(["bash", "-c", clash], capture_output=True, text=True).stdout == "clash\n"
    log.write_text("manifest unknown\n")
    assert subprocess.run(["bash", "-c", clash], capture_output=True, text=True).stdout == "other\n"


def test_one_runs_choices_never_overlap(tmp_path: Path) -> None:
    start = quiet_start()
    call = (
        f"choose_ports BALANCER '' {start + 1} 1; choose_ports REPLICAS '' {start} 4; "
        f"choose_ports FIXED 9999 {start} 1; echo $BALANCER $REPLICAS $FIXED"
    )
    balancer, replicas, fixed = run_ports(tmp_path, call, f"{start} ").split()
    assert balancer == str(start + 1)
    assert replicas == f"{start + 2}-{start + 5}"
    assert fixed == "9999"


def retried_up(tmp_path: Path, failures: list[str]) -> tuple[int, str]:
    """Run up_choosing_ports with an `up` that fails with each of `failures` in turn."""
    answers = tmp_path / "answers"
    answers.write_text("".join(f"{line}\n" for line in failures))
    script = f"""
source {ROOT / "scripts/ports.sh"}
calls=""
up() {{
  calls+=" up"
  line=$(head -n 1 {answers}); sed -i 1d {answers}
  [[ -z $line ]] && return 0
  echo "$line"; return 1
}}
down() {{ calls+=" down"; }}
choose() {{ calls+=" choose"; }}
up_choosing_ports {tmp_path / "up.log"} up down choose >/dev/null
status=$?
echo "$status$calls"
"""
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True).stdout.split()
    return int(out[0]), " ".join(out[1:])


def test_a_lost_port_race_is_retried_with_ports_chosen_again(tmp_path: Path) -> None:
    clash = "Bind for 127.0.0.1:18600 failed: port is already allocated"
    assert retried_up(tmp_path, [clash]) == (0, "up down choose up")
    assert retried_up(tmp_path, [clash, clash, clash]) == (
        1,
        "up down choose up down choose up",
    )
    assert retried_up(tmp_path, ["manifest unknown"]) == (1, "up")
    assert (tmp_path / "up.log").read_text() == "manifest unknown\n"

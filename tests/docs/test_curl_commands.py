"""Every `curl` command in README.md and docs/*.md runs as written, from the repository
root, against `make serve`'s service (the committed zoo, its default models), and is
answered 2xx.

A command about the reader's own model, or needing another stack or a key, ends with a
marker comment (`# [your model]`, `# [other stack]`, `# [needs a key]`) and is left out;
the markers are counted, so a marker cannot hide a whole file's commands unnoticed.
"""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.api.live import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXCEPTED = re.compile(r"#\s*\[(your model|other stack|needs a key)\]")
SERVED_AT = re.compile(r"\b(localhost|127\.0\.0\.1):8000\b")
DEFAULT_MODELS = "classify=fashion_cnn,generate=mnist_cgan,forecast=co2_lstm"
# Records each call's status; the command's own -o (if any) still gets the body.
WRAPPER = """curl() { command curl -sS -o /dev/null -w '%{http_code}\\n' "$@" >>"$CODES"; }"""


def curl_commands(path: Path) -> list[str]:
    """Shell lines that call curl, continuation lines joined, in fenced code blocks."""
    commands, fenced, pending = [], False, ""
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            continue
        pending += line
        if pending.endswith("\\"):
            pending = pending[:-1]
            continue
        if pending.lstrip().startswith("curl "):
            commands.append(pending.strip())
        pending = ""
    return commands


def all_commands() -> list[tuple[str, str]]:
    return [(p.relative_to(ROOT).as_posix(), c) for p in DOCS for c in curl_commands(p)]


def test_the_docs_have_commands_and_few_exceptions():
    commands = all_commands()
    readme = [c for where, c in commands if where == "README.md"]
    for route in ("/classify", "/sequence/predict", "/generate", "/v1/models", "/v2/models"):
        assert any(route in c and not EXCEPTED.search(c) for c in readme), route
    excepted = [c for _, c in commands if EXCEPTED.search(c)]
    assert len(excepted) <= len(commands) // 3, excepted


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASSERVE_")}
    env.update(KERASSERVE_GRPC_PORT="0", KERASSERVE_POLL_INTERVAL_S="0")
    command = [
        str(Path(sys.executable).with_name("kerasserve")),
        "serve",
        "--port",
        str(port),
        "--models-dir",
        "models",
        "--default-models",
        DEFAULT_MODELS,
        "--log-level",
        "WARNING",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        wait_ready(f"http://127.0.0.1:{port}", process, timeout_s=300)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("where", "command"),
    [pytest.param(w, c, id=f"{w}:{c[:60]}") for w, c in all_commands() if not EXCEPTED.search(c)],
)
def test_the_command_runs_as_written(served: str, where: str, command: str, tmp_path: Path):
    codes = tmp_path / "codes"
    script = f"set -e\n{WRAPPER}\ncd {ROOT}\n{SERVED_AT.sub(served, command)}\n"
    out = tmp_path / "out"
    out.mkdir()
    # `-o name` writes where the reader would: run from a copy of the root's examples.
    (out / "examples").symlink_to(ROOT / "examples")
    script = script.replace(f"cd {ROOT}\n", f"cd {out}\n")
    run = subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, "CODES": str(codes)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, (where, command, run.stderr)
    statuses = codes.read_text().split()
    assert statuses and all(s.startswith("2") for s in statuses), (where, command, statuses)

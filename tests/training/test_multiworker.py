"""``--strategy multiworker``: two local workers on loopback train one tiny model together."""

import json
import os
import socket
import subprocess
import sys

from tests.utils.training import IDX_FIXTURE, REPO, card_json


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def test_two_workers_train_and_only_the_chief_exports(tmp_path, offline_cache):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    models = tmp_path / "models"
    workers = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONPATH": str(REPO),
            "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
        }
        command = [
            sys.executable, "-m", "training", "train", "fashion_mlp", "--strategy", "multiworker",
            "--models-dir", str(models), "--work-dir", str(tmp_path / f"work{index}"),
            "--data-dir", str(IDX_FIXTURE), "--data-source", "local",
            "--set", "epochs=2", "--set", "batch_size=32", "--verbose", "0",
        ]  # fmt: skip
        workers.append(
            subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
        )
    for worker in workers:
        _, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr[-4000:]
    assert sorted(p.name for p in (models / "fashion_mlp").iterdir()) == ["1"]
    card = card_json(models / "fashion_mlp" / "1")
    assert card["training"]["strategy"] == "multiworker"
    assert 0.0 <= card["metrics"]["test_accuracy"] <= 1.0
    # The other worker took part in every step but wrote only to its scratch directory.
    assert (tmp_path / "work1" / "non_chief_exports" / "fashion_mlp" / "1").is_dir()
    assert not (tmp_path / "work0" / "non_chief_exports").exists()

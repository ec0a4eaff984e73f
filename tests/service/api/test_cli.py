"""The `kerasserve` command line: flags become settings, bad settings exit cleanly."""

import json
import logging
import os
import socket

import pytest
import uvicorn

from service import cli
from service.config import Settings


def test_serve_flags_become_settings(monkeypatch, tmp_path):
    for key in ("PORT", "MODELS_DIR", "MAX_QUEUE_DELAY_S"):
        monkeypatch.delenv(f"KERASSERVE_{key}", raising=False)
    args = cli.build_parser().parse_args(
        ["serve", "--port", "8123", "--models-dir", str(tmp_path), "--max-queue-delay-s", "0.01"]
    )
    with monkeypatch.context() as patched:
        patched.setattr(os, "environ", dict(os.environ))
        settings = cli.load_settings(args)
    assert (settings.port, settings.models_dir, settings.max_queue_delay_s) == (
        8123,
        tmp_path,
        0.01,
    )


def test_invalid_settings_exit_with_status_2_and_no_traceback(monkeypatch, caplog):
    monkeypatch.setattr(os, "environ", {})
    monkeypatch.setattr(cli, "configure_logging", lambda *_: None)
    served: list[object] = []
    monkeypatch.setattr(cli, "serve", served.append)
    with caplog.at_level(logging.ERROR):
        assert cli.main(["serve", "--models-dir", "/no/such/dir", "--device", "tpu"]) == 2
    assert not served
    message = caplog.records[-1].getMessage()
    assert "models_dir" in message and "device" in message


def test_help_lists_every_setting(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["serve", "--help"])
    shown = capsys.readouterr().out
    missing = [f for f in Settings.model_fields if f"--{f.replace('_', '-')} " not in shown]
    assert not missing
    assert "KERASSERVE_BATCH_SIZES (default 1,2,4,8,16,32,64)" in " ".join(shown.split())


def test_a_setting_without_a_hand_written_flag_still_reaches_settings(monkeypatch, tmp_path):
    args = cli.build_parser().parse_args(
        ["serve", "--models-dir", str(tmp_path), "--max-top-k", "7", "--playground", "false"]
    )
    with monkeypatch.context() as patched:
        patched.setattr(os, "environ", {})
        settings = cli.load_settings(args)
    assert (settings.max_top_k, settings.playground) == (7, False)


def test_default_and_required_models_come_from_flags(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "environ", {})
    args = cli.build_parser().parse_args(
        [
            "serve",
            "--models-dir",
            str(tmp_path),
            "--default-models",
            "classify=fashion_cnn, generate=mnist_cgan",
            "--required-models",
            "fashion_cnn,mnist_cgan",
        ]
    )
    settings = cli.load_settings(args)
    assert settings.default_models == {"classify": "fashion_cnn", "generate": "mnist_cgan"}
    assert settings.required_models == ("fashion_cnn", "mnist_cgan")
    monkeypatch.setattr(os, "environ", {"KERASSERVE_DEFAULT_MODELS": "classify"})
    with pytest.raises(ValueError, match="task=model pairs"):
        cli.load_settings(cli.build_parser().parse_args(["serve", "--models-dir", str(tmp_path)]))
    monkeypatch.setattr(os, "environ", {"KERASSERVE_DEFAULT_MODELS": "sort=x"})
    with pytest.raises(ValueError, match="unknown tasks"):
        cli.load_settings(cli.build_parser().parse_args(["serve", "--models-dir", str(tmp_path)]))


def test_inspect_prints_the_resolved_spec_and_writes_it(tmp_path, capsys):
    from tests.utils.byom import rgb_rescaling, tabular

    version = rgb_rescaling(tmp_path)
    assert cli.main(["inspect", str(version)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["task"] == "classify" and printed["output"] == "probabilities"
    assert printed["labels"] == ["cat", "dog", "fox", "owl"]
    assert printed["image"] == {
        "size": [32, 32],
        "color": "rgb",
        "resize": "stretch",
        "interpolation": "bilinear",
        "antialias": True,
        "scale": "raw",
        "polarity": "keep",
    }
    assert not (version / "model_card.json").exists()
    assert cli.main(["inspect", "--write", str(version)]) == 0
    assert json.loads((version / "model_card.json").read_text()) == printed
    assert cli.main(["inspect", str(version)]) == 0  # the written card is accepted as is
    regressor = tabular(tmp_path)
    (regressor / "model_card.json").write_text('{"task": "predict", "colour": "red"}')
    assert cli.main(["inspect", str(regressor)]) == 1


def test_several_workers_each_build_their_app_with_logging(monkeypatch, tmp_path):
    started: list[tuple[uvicorn.Config, list[object]]] = []

    class FakeSupervisor:
        def __init__(self, config: uvicorn.Config, slots: list[object]) -> None:
            started.append((config, slots))

        def run(self) -> None:
            pass

    monkeypatch.setattr(cli, "SocketPerWorker", FakeSupervisor)
    monkeypatch.setattr(cli, "worker_sockets", lambda host, port, workers, handles: ["slot"])
    cli.serve(Settings(models_dir=tmp_path, workers=2, reuse_port=True))
    ((config, slots),) = started
    assert (config.app, config.factory, config.workers) == ("service.cli:worker_app", True, 2)
    assert slots == ["slot"]
    # uvicorn's 5 s ping deadline kills workers still starting on a busy machine.
    assert config.timeout_worker_healthcheck == cli.WORKER_HEALTHCHECK_S >= 15

    configured: list[tuple[str, str]] = []
    monkeypatch.setattr(cli, "configure_logging", lambda *args: configured.append(args))
    monkeypatch.setattr(os, "environ", {"KERASSERVE_MODELS_DIR": str(tmp_path)})
    monkeypatch.setattr("service.main.create_app", lambda settings: ("app", settings.models_dir))
    assert cli.worker_app() == ("app", tmp_path)  # type: ignore[comparison-overlap]
    assert configured == [("json", "INFO")]


def test_the_listening_socket_is_handed_over_as_several_descriptors():
    config = uvicorn.Config("service.cli:worker_app", host="127.0.0.1", port=0)
    sockets = cli.listening_sockets(config)
    try:
        assert len(sockets) == cli.ACCEPT_HANDLES > 1
        assert len({sock.fileno() for sock in sockets}) == len(sockets)
        assert len({sock.getsockname() for sock in sockets}) == 1  # one socket, one queue
        sockets[0].listen()  # the server's create_server() does this
        with socket.create_connection(sockets[0].getsockname(), timeout=5):
            accepted, _ = sockets[-1].accept()  # any descriptor takes from the same queue
            accepted.close()
    finally:
        for sock in sockets:
            sock.close()


def test_several_workers_share_one_socket_when_reuse_port_is_off(monkeypatch, tmp_path):
    started: list[list[object]] = []

    class FakeMultiprocess:
        def __init__(self, config: uvicorn.Config, sockets: list[object]) -> None:
            started.append(sockets)

        def run(self) -> None:
            pass

    monkeypatch.setattr(cli, "Multiprocess", FakeMultiprocess)
    monkeypatch.setattr(cli, "listening_sockets", lambda config: ["shared"])
    cli.serve(Settings(models_dir=tmp_path, workers=2, reuse_port=False))
    assert started == [["shared"]]
    assert Settings(models_dir=tmp_path).reuse_port  # a socket per worker by default

"""The `kerasserve` command line: flags become settings, bad settings exit cleanly."""

import logging
import os

import pytest

from service import cli


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


def test_help_lists_the_flags(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["serve", "--help"])
    assert "--models-dir" in capsys.readouterr().out

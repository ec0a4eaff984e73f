"""The matrix: one kerasserve row per worker count, the ceiling, PyTriton's environment."""

import sysconfig
from pathlib import Path

import pytest

from bench import bulk, envs, run


def _options(tmp_path: Path, servers: list[str], workers: list[int]) -> run.Options:
    return run.Options(
        duration_s=3, warmup_s=1, concurrency=[1, 64], extra_concurrency=[1],
        servers=servers, workers=workers, out=tmp_path,
    )  # fmt: skip


def _specs(tmp_path: Path, servers: list[str], workers: list[int]) -> dict[str, run.ServerSpec]:
    options = _options(tmp_path, servers, workers)
    return {s.name: s for s in run.specs(options, tmp_path) if s.selected(options.servers)}


def test_kerasserve_selects_one_row_per_worker_count(tmp_path: Path) -> None:
    chosen = _specs(tmp_path, ["kerasserve", "fastapi-empty"], [1, 2])
    assert list(chosen) == ["kerasserve", "kerasserve-2w", "fastapi-empty"]
    for name, workers in (("kerasserve", 1), ("kerasserve-2w", 2)):
        spec = chosen[name]
        assert spec.workers == workers
        assert spec.argv[spec.argv.index("--workers") + 1] == str(workers)
        scenarios = [s for s, _ in run.plan(spec, _options(tmp_path, [], [1, 2]))]
        single = ["mlp", "mlp", "cnn", "fashion_cnn", "sequence", "generate16"]
        assert scenarios == [*single, *bulk.SCENARIOS]
    assert list(_specs(tmp_path, ["kerasserve-2w"], [1, 2])) == ["kerasserve-2w"]


def test_the_ceiling_gets_the_naive_apps_request(tmp_path: Path) -> None:
    chosen = _specs(tmp_path, ["fastapi-empty", "fastapi-naive"], [1])
    assert list(chosen) == ["fastapi-empty", "fastapi-naive", "fastapi-naive-cnn"]
    assert chosen["fastapi-empty"].targets == chosen["fastapi-naive"].targets
    assert chosen["fastapi-empty"].argv[1:] == ["empty_fastapi.py", "18500"]


def test_pytriton_finds_this_interpreters_libpython_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    libdir = sysconfig.get_config_var("LIBDIR")
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/elsewhere")
    spec = _specs(tmp_path, ["pytriton"], [1])["pytriton"]
    assert spec.env["LD_LIBRARY_PATH"] == f"{libdir}:/opt/elsewhere"
    monkeypatch.delenv("LD_LIBRARY_PATH")
    assert _specs(tmp_path, ["pytriton"], [1])["pytriton"].env["LD_LIBRARY_PATH"] == libdir


def test_a_venv_built_before_a_pin_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(envs, "VENVS", tmp_path)
    env = envs.ENVS["pytriton"]
    assert "numpy<2" in env.requirements
    env.root.mkdir()
    (env.root / ".ok").write_text("")  # the old marker: the install finished, list unknown
    assert not env.ready
    (env.root / ".ok").write_text("\n".join(env.requirements) + "\n")
    assert env.ready

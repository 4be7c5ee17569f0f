"""The `serve` command starts uvicorn on the app factory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from service import cli


def test_serve_runs_the_factory_and_prints_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    started: list[uvicorn.Config] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda server, **_: started.append(server.config))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # restored after the test
    app = typer.Typer()
    app.command()(cli.serve_command)
    result = CliRunner().invoke(app, ["--port", "8123"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8123" in result.output
    assert os.environ["OMP_NUM_THREADS"] == "1"
    [config] = started
    assert (config.app, config.factory, config.host, config.port) == (
        "service.worker:app_from_env", True, "127.0.0.1", 8123
    )  # fmt: skip
    assert config.workers == 1
    assert not config.access_log


def test_workers_share_a_listener_marked_as_tcp(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several workers accept on one socket bound beforehand; it must say it is TCP, or its
    connections miss TCP_NODELAY and answers on kept-alive connections wait for delayed ACKs."""
    import uvicorn.supervisors

    shared: list[tuple[uvicorn.Config, list[socket.socket]]] = []

    class Supervisor:
        def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
            shared.append((config, sockets))

        def run(self) -> None:
            pass

    monkeypatch.setattr(uvicorn.supervisors, "Multiprocess", Supervisor)
    app = typer.Typer()
    app.command()(cli.serve_command)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(app, ["--port", str(port), "--workers", "2", "--access-log"])
    assert result.exit_code == 0, result.output
    [(config, [listener])] = shared
    try:
        assert config.workers == 2
        assert config.access_log
        assert listener.proto == socket.IPPROTO_TCP
        assert listener.getsockname() == ("127.0.0.1", port)
    finally:
        listener.close()


def test_a_worker_process_imports_neither_scikit_learn_nor_dask() -> None:
    """The worker's entry point keeps LightGBM's optional wrappers out of every worker."""
    probe = (
        "import sys, service.worker; "
        "assert sys.modules['sklearn'] is None and sys.modules['dask'] is None; "
        "import lightgbm; print(lightgbm.Booster.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Booster"

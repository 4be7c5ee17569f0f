"""The `serve` command starts uvicorn on the app factory."""

from __future__ import annotations

import os
import pickle
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


def test_each_worker_binds_a_tcp_listener_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """The supervisor holds the port without listening and hands each worker a socket list
    that, once unpacked in the worker, is a new socket on the same port (SO_REUSEPORT), marked
    as TCP: without that, connections miss TCP_NODELAY and answers on kept-alive connections
    wait for delayed ACKs."""
    import uvicorn.supervisors

    handed: list[tuple[uvicorn.Config, list[socket.socket]]] = []
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    class Supervisor:
        def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
            handed.append((config, sockets))

        def run(self) -> None:  # while it runs, nobody else may take the port
            with socket.socket() as intruder, pytest.raises(OSError, match="in use"):
                intruder.bind(("127.0.0.1", port))

    monkeypatch.setattr(uvicorn.supervisors, "Multiprocess", Supervisor)
    app = typer.Typer()
    app.command()(cli.serve_command)
    result = CliRunner().invoke(app, ["--port", str(port), "--workers", "2", "--access-log"])
    assert result.exit_code == 0, result.output
    [(config, sockets)] = handed
    assert (config.workers, config.access_log) == (2, True)
    assert list(sockets) == []  # the supervisor itself listens on nothing
    workers = [pickle.loads(pickle.dumps(sockets)) for _ in range(2)]  # as spawned workers get it
    try:
        for [listener] in workers:
            assert listener.proto == socket.IPPROTO_TCP
            assert listener.getsockname() == ("127.0.0.1", port)
            assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            listener.listen()  # both listen on the one port
    finally:
        for [listener] in workers:
            listener.close()


def test_serve_says_when_the_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = typer.Typer()
        app.command()(cli.serve_command)
        result = CliRunner().invoke(app, ["--port", str(port), "--workers", "2"])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "in use" in result.output


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

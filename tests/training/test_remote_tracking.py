"""Training and serving with a remote MLflow tracking server, chosen by configuration alone.

A real `mlflow server` (SQLite backend, artifacts stored and served by the server) runs on a
free local port. `credit-risk train` and `promote` reach it through CREDIT_RISK_TRACKING_URI,
the service through `ServiceSettings.tracking_uri`; the default local store stays untouched.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from cli import app
from service.app import create_app
from service.settings import ServiceSettings
from tests.conftest import require_part
from tests.service.conftest import END, TODAY, signed_in
from training.evaluation import metric_key
from training.registry import CHAMPION, DEFAULT_MODEL_NAME, ModelRegistry
from training.run import EXPERIMENT

pytestmark = [
    # MLflow's own store and input-example code trigger these deprecations in its internals.
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated"),
    pytest.mark.filterwarnings("ignore:Operation with range is deprecated"),
]

# What `mlflow server` imports beyond mlflow-skinny (the dev extra installs them).
SERVER_MODULES = ("flask", "flask_cors", "aiohttp")
START_SECONDS = 90.0  # a cold start on a loaded machine takes 5 to 20 s
STOP_SECONDS = 15.0
SHORT = ["--holdout-months", "3", "--validation-months", "3"]


@dataclass(frozen=True)
class TrackingServer:
    uri: str
    artifacts: Path  # where the server stores the artifacts it is sent
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_ready(server: subprocess.Popen[bytes], uri: str, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = _tail(log)
            missing = sorted(set(re.findall(r"No module named '([\w.]+)'", output)))
            # A package a newer MLflow needs is a missing part (skipped locally, fails in CI).
            require_part(not missing, f"the MLflow tracking server (no {', '.join(missing)})")
            pytest.fail(f"the MLflow server exited ({server.returncode}):\n{output}")
        try:
            if httpx.get(f"{uri}/health", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"the MLflow server was not ready after {START_SECONDS:.0f} s:\n{_tail(log)}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    """Stop the server and the uvicorn process it spawned: its whole process group."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=STOP_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)  # a worker that outlived the server
    server.wait(timeout=STOP_SECONDS)


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def tracking_server(tmp_path: Path) -> Iterator[TrackingServer]:
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    require_part(not missing, f"the MLflow tracking server (no {', '.join(missing)}: "
                              "pip install -e '.[dev]')")  # fmt: skip
    folder = tmp_path / "mlflow-server"
    folder.mkdir()
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
        "--serve-artifacts", "--artifacts-destination", str(folder / "artifacts"),
    ]  # fmt: skip
    # Background jobs serve MLflow's GenAI features; they would start Huey consumers, which
    # need the full mlflow package, and this server has no use for them.
    environment = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = folder / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=folder,
                                  env=environment, start_new_session=True)  # fmt: skip
    try:
        _wait_until_ready(server, uri, log)
        yield TrackingServer(uri, folder / "artifacts", server)
    finally:
        _stop(server)


def test_train_promote_and_serve_through_a_remote_tracking_server(
    tracking_server: TrackingServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = tracking_server.uri
    data_dir, workdir = tmp_path / "data", tmp_path / "workdir"
    data_dir.mkdir()
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # MLflow's own default store would appear here
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    environment = {"CREDIT_RISK_DATA_DIR": str(data_dir), "CREDIT_RISK_TRACKING_URI": uri,
                   "COLUMNS": "200"}  # fmt: skip
    runner = CliRunner()
    # LightGBM's OpenMP threads busy-wait: one thread is much faster on a loaded machine.
    with threadpool_limits(limits=1, user_api="openmp"):
        for command in (
            ["demo-data", "--companies", "150", "--years", "3", "--end-date", END.isoformat()],
            ["train", *SHORT],
            ["promote"],
        ):
            result = runner.invoke(app, command, env=environment)
            assert result.exit_code == 0, result.output
    assert "Version 1 is now the champion" in result.output

    # The run, its metrics and the champion are on the server.
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    # Regression: the experiment once got the data folder as its artifact location, so the
    # runs uploaded their models to the trainer's disk instead of the server.
    assert experiment.artifact_location.startswith("mlflow-artifacts:")
    champion = client.get_model_version_by_alias(DEFAULT_MODEL_NAME, CHAMPION)
    assert champion.version == "1"
    assert champion.aliases == [CHAMPION]  # the challenger alias went with the promotion
    assert "promoted_at" in champion.tags
    assert champion.run_id is not None
    run = client.get_run(champion.run_id)
    assert run.info.experiment_id == experiment.experiment_id
    assert run.info.status == "FINISHED"
    assert 0.5 < run.data.metrics[metric_key("late", "roc_auc")] <= 1.0
    assert run.data.metrics["seconds_total"] > 0
    assert list(tracking_server.artifacts.rglob("MLmodel")), "no model stored by the server"

    # The service loads the champion from the server and scores with it.
    settings = ServiceSettings(data_dir=data_dir, tracking_uri=uri)
    with signed_in(create_app(settings, today=lambda: TODAY)) as service:
        assert service.get("/health/ready").status_code == 200
        model = service.get("/v1/model").json()
        score = service.post("/v1/score", json={"customer_id": "C00001"})
    assert score.status_code == 200, score.text
    assert f"@{CHAMPION} at {uri}" in model["source"]
    bundle = ModelRegistry(uri).load(CHAMPION)
    assert bundle.metadata["run_id"] == run.info.run_id
    assert score.json()["model_version"] == model["version"] == bundle.version

    # Nothing went to the default local store (mlflow.db, mlartifacts in the data folder), nor
    # to MLflow's own default in the working directory.
    local = [path.name for path in data_dir.iterdir() if path.name.startswith("ml")]
    assert local == []
    assert list(workdir.iterdir()) == []

    # The tracking server goes down: a restart serves the champion from the local copy the
    # service kept, and says that the registry did not answer.
    _stop(tracking_server.process)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail at once, not in minutes
    with signed_in(create_app(settings, today=lambda: TODAY)) as service:
        ready = service.get("/health/ready")
        score = service.post("/v1/score", json={"customer_id": "C00001"})
        service.app.state.service.host.stop(60)  # type: ignore[attr-defined]
        answered = service.get("/health/ready").json()
    assert ready.status_code == 200, ready.text
    assert ready.json()["model_version"] == bundle.version
    assert score.status_code == 200
    assert score.json()["model_version"] == bundle.version
    assert answered["ready"] is True
    assert "the source named no model (out of reach" in answered["last_reload"]["message"]

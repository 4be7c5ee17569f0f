"""The model served from the MLflow registry by alias, as in production."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from features.point_in_time import FEATURES
from features.scoring_model import ScoringModel
from service.app import create_app, served_copy
from service.settings import ServiceSettings
from training.registry import CHAMPION, DEFAULT_MODEL_NAME, ModelRegistry
from training.run import load_predictor

from .conftest import TODAY, signed_in

pytestmark = [
    # The same MLflow and pandas warnings as in tests/training/test_registry.py: not ours.
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated"),
    pytest.mark.filterwarnings("ignore:Operation with range is deprecated"),
]


def _register(tracking_uri: str, artifacts: Path, bundle: Path) -> str:
    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment("service-test", artifact_location=artifacts.as_uri())
    run_id = client.create_run(experiment).info.run_id
    registry = ModelRegistry(tracking_uri)
    example = pd.DataFrame(np.zeros((2, len(FEATURES))), columns=list(FEATURES))
    version = registry.log_bundle(bundle, input_example=example, loader=load_predictor,
                                  run_id=run_id)  # fmt: skip
    return version


def _two_versions(uri: str, tmp_path: Path, model_dir: Path) -> tuple[str, str]:
    """Versions test-v1 and test-v2 of the same model, registered; no alias set."""
    first = _register(uri, tmp_path / "artifacts", model_dir)
    model = ScoringModel.load(model_dir)
    renamed = dataclasses.replace(model, metadata={**model.metadata, "version": "test-v2"})
    experiment = MlflowClient(uri).get_experiment_by_name("service-test")
    assert experiment is not None
    second = ModelRegistry(uri).log_bundle(
        renamed.save(tmp_path / "v2"),
        input_example=pd.DataFrame(np.zeros((2, len(FEATURES))), columns=list(FEATURES)),
        loader=load_predictor,
        run_id=MlflowClient(uri).create_run(experiment.experiment_id).info.run_id,
    )
    return first, second


def _champion(uri: str, version: str, data_dir: Path, watch_seconds: float) -> ServiceSettings:
    """The version made champion in the registry at `uri`, and the settings of a service on it."""
    MlflowClient(uri).set_registered_model_alias(DEFAULT_MODEL_NAME, CHAMPION, version)
    return ServiceSettings(data_dir=data_dir, tracking_uri=uri, model_watch_seconds=watch_seconds)


def _served(client: TestClient) -> str:
    return str(client.post("/v1/score", json={"customer_id": "C00001"}).json()["model_version"])


def _settled(client: TestClient, timeout: float = 60.0) -> dict[str, Any]:
    """The last reload once the start's question to the registry is answered."""
    client.app.state.service.host.stop(timeout)  # type: ignore[attr-defined]
    reload: dict[str, Any] = client.get("/health/ready").json()["last_reload"]
    return reload


def test_the_champion_is_fetched_checked_and_served(
    tmp_path: Path, data_dir: Path, model_dir: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    version = _register(uri, tmp_path / "artifacts", model_dir)
    settings = ServiceSettings(data_dir=data_dir, tracking_uri=uri)
    with signed_in(create_app(settings, today=lambda: TODAY)) as client:
        # No champion yet: alive, not ready, and it says why.
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert "champion" in ready.json()["last_reload"]["message"]
        MlflowClient(uri).set_registered_model_alias(DEFAULT_MODEL_NAME, CHAMPION, version)
        reloaded = client.post("/v1/model/reload")
        assert reloaded.status_code == 200, reloaded.text
        assert "MLflow model 'credit-risk'@champion" in reloaded.json()["source"]
        assert client.get("/health/ready").status_code == 200
        score = client.post("/v1/score", json={"customer_id": "C00001"})
        assert score.json()["model_version"] == "test-v1"


def test_moving_the_alias_swaps_the_model_in_every_worker(
    tmp_path: Path, data_dir: Path, model_dir: Path
) -> None:
    """No reload request: each worker watches the alias and follows it."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first, second = _two_versions(uri, tmp_path, model_dir)
    settings = _champion(uri, first, data_dir, watch_seconds=0.2)
    with signed_in(create_app(settings, today=lambda: TODAY)) as client:
        assert _served(client) == "test-v1"
        MlflowClient(uri).set_registered_model_alias(DEFAULT_MODEL_NAME, CHAMPION, second)
        deadline = time.monotonic() + 30
        while _served(client) != "test-v2" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _served(client) == "test-v2"
        assert client.get("/v1/model").json()["last_reload"]["ok"] is True


def test_a_restart_serves_the_local_copy_while_the_registry_names_no_champion(
    tmp_path: Path, data_dir: Path, model_dir: Path
) -> None:
    """The registry in reach but without the alias: as out of reach (see the remote tracking
    test for a registry server that is down), the last champion serves on."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    version = _register(uri, tmp_path / "artifacts", model_dir)
    settings = _champion(uri, version, data_dir, watch_seconds=0)
    with signed_in(create_app(settings, today=lambda: TODAY)) as client:
        assert _served(client) == "test-v1"
        assert _settled(client)["message"] == "loaded and checked"
    MlflowClient(uri).delete_registered_model_alias(DEFAULT_MODEL_NAME, CHAMPION)
    with signed_in(create_app(settings, today=lambda: TODAY)) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["model_version"] == "test-v1"
        assert _served(client) == "test-v1"
        answered = _settled(client)
        assert answered["ok"] is True
        assert "local copy of version test-v1" in answered["message"]
        assert "the source named no model" in answered["message"]
        assert _served(client) == "test-v1"


def test_a_restart_follows_the_alias_moved_while_the_service_was_down(
    tmp_path: Path, data_dir: Path, model_dir: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first, second = _two_versions(uri, tmp_path, model_dir)
    # No watch: only the start's own question to the registry can bring the new version in.
    settings = _champion(uri, first, data_dir, watch_seconds=0)
    with signed_in(create_app(settings, today=lambda: TODAY)) as client:
        assert _served(client) == "test-v1"
    MlflowClient(uri).set_registered_model_alias(DEFAULT_MODEL_NAME, CHAMPION, second)
    with signed_in(create_app(settings, today=lambda: TODAY)) as client:
        assert _settled(client)["message"] == "loaded and checked"
        assert _served(client) == "test-v2"
    with signed_in(create_app(settings, today=lambda: TODAY)) as client:
        assert _served(client) == "test-v2"  # now the copy: served before the registry answers
        answered = _settled(client)
        assert answered["message"] == (
            "started from the local copy of version test-v2, which the source still serves"
        )


def test_a_corrupted_local_copy_is_ignored_and_replaced(
    tmp_path: Path, data_dir: Path, model_dir: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    version = _register(uri, tmp_path / "artifacts", model_dir)
    settings = _champion(uri, version, data_dir, watch_seconds=0)
    copy = served_copy(settings)
    assert copy is not None
    with signed_in(create_app(settings, today=lambda: TODAY)) as client:
        source = client.app.state.service.host.source  # type: ignore[attr-defined]
        assert _served(client) == "test-v1"
    kept = copy.load(source)
    assert kept is not None
    assert kept[1] == version
    [booster] = copy.folder_of(source).glob("*/late.lgb.txt")
    booster.write_bytes(booster.read_bytes()[:1000])  # truncated
    assert copy.load(source) is None
    with signed_in(create_app(settings, today=lambda: TODAY)) as client:
        ready = client.get("/health/ready").json()
        assert ready["last_reload"]["message"] == "loaded and checked"  # from the registry
        assert _served(client) == "test-v1"
    kept = copy.load(source)
    assert kept is not None
    assert kept[0].version == "test-v1"


def test_no_local_copy_of_a_bundle_directory_nor_when_turned_off(
    tmp_path: Path, data_dir: Path, model_dir: Path
) -> None:
    local = ServiceSettings(data_dir=tmp_path / "local", model_dir=model_dir)
    assert served_copy(local) is None
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    version = _register(uri, tmp_path / "artifacts", model_dir)
    MlflowClient(uri).set_registered_model_alias(DEFAULT_MODEL_NAME, CHAMPION, version)
    off = ServiceSettings(data_dir=data_dir, tracking_uri=uri, keep_served_model=False)
    assert served_copy(off) is None
    on = served_copy(ServiceSettings(data_dir=data_dir, tracking_uri=uri))
    assert on is not None
    with signed_in(create_app(off, today=lambda: TODAY)) as client:
        assert _served(client) == "test-v1"
        assert on.load(client.app.state.service.host.source) is None  # type: ignore[attr-defined]

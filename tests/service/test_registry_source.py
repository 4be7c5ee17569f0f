"""The model served from the MLflow registry by alias, as in production."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from features.point_in_time import FEATURES
from features.scoring_model import ScoringModel
from service.app import create_app
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
    first = _register(uri, tmp_path / "artifacts", model_dir)
    model = ScoringModel.load(model_dir)
    renamed = dataclasses.replace(model, metadata={**model.metadata, "version": "test-v2"})
    second = ModelRegistry(uri).log_bundle(
        renamed.save(tmp_path / "v2"),
        input_example=pd.DataFrame(np.zeros((2, len(FEATURES))), columns=list(FEATURES)),
        loader=load_predictor,
        run_id=MlflowClient(uri)
        .create_run(MlflowClient(uri).get_experiment_by_name("service-test").experiment_id)
        .info.run_id,
    )
    MlflowClient(uri).set_registered_model_alias(DEFAULT_MODEL_NAME, CHAMPION, first)
    settings = ServiceSettings(data_dir=data_dir, tracking_uri=uri, model_watch_seconds=0.2)
    with signed_in(create_app(settings, today=lambda: TODAY)) as client:

        def served() -> str:
            return str(
                client.post("/v1/score", json={"customer_id": "C00001"}).json()["model_version"]
            )

        assert served() == "test-v1"
        MlflowClient(uri).set_registered_model_alias(DEFAULT_MODEL_NAME, CHAMPION, second)
        deadline = time.monotonic() + 30
        while served() != "test-v2" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert served() == "test-v2"
        assert client.get("/v1/model").json()["last_reload"]["ok"] is True

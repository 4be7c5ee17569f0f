"""Hot swap: a good model replaces the serving one; a broken one never does."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from features.scoring_model import ScoringModel
from service.app import create_app

from .conftest import TODAY, service_settings, signed_in


@pytest.fixture
def own_client(data_dir: Path, own_model_dir: Path) -> Iterator[TestClient]:
    app = create_app(service_settings(data_dir, own_model_dir), today=lambda: TODAY)
    with signed_in(app) as test_client:
        yield test_client


def _truncate(path: Path) -> None:
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])


def _score_version(client: TestClient) -> str:
    response = client.post("/v1/score", json={"customer_id": "C00001"})
    assert response.status_code == 200, response.text
    return str(response.json()["model_version"])


def test_a_new_model_is_swapped_in(own_client: TestClient, own_model_dir: Path) -> None:
    model = ScoringModel.load(own_model_dir)
    dataclasses.replace(model, metadata={**model.metadata, "version": "test-v2"}).save(
        own_model_dir
    )
    response = own_client.post("/v1/model/reload")
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is True
    assert response.json()["version"] == "test-v2"
    assert _score_version(own_client) == "test-v2"
    assert own_client.get("/v1/model").json()["version"] == "test-v2"


def test_a_corrupted_bundle_is_refused_and_the_old_model_serves_on(
    own_client: TestClient, own_model_dir: Path
) -> None:
    assert _score_version(own_client) == "test-v1"
    _truncate(own_model_dir / "late.lgb.txt")
    response = own_client.post("/v1/model/reload")
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "model_reload_refused"
    assert "checksum" in body["message"]
    assert "test-v1 keeps serving" in body["message"]
    assert _score_version(own_client) == "test-v1"
    ready = own_client.get("/health/ready")
    assert ready.status_code == 200  # still serving, and it says the reload failed
    last = ready.json()["last_reload"]
    assert last["ok"] is False
    assert "late.lgb.txt" in last["message"]


def test_a_model_needing_unknown_features_is_refused(
    own_client: TestClient, own_model_dir: Path
) -> None:
    model = ScoringModel.load(own_model_dir)
    renamed = (*model.features[:-1], "shoe_size")
    dataclasses.replace(model, features=renamed).save(own_model_dir)
    response = own_client.post("/v1/model/reload")
    assert response.status_code == 409
    assert "shoe_size" in response.json()["message"]
    assert _score_version(own_client) == "test-v1"


def test_without_a_loadable_model_the_service_is_live_but_not_ready(
    data_dir: Path, own_model_dir: Path
) -> None:
    _truncate(own_model_dir / "severe.lgb.txt")
    app = create_app(service_settings(data_dir, own_model_dir), today=lambda: TODAY)
    with signed_in(app) as client:
        assert client.get("/health/live").status_code == 200
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["ready"] is False
        assert ready.json()["last_reload"]["ok"] is False
        response = client.post("/v1/score", json={"customer_id": "C00001"})
        assert response.status_code == 503
        assert response.json()["error"] == "model_not_ready"
        assert client.get("/v1/model").status_code == 503


def _wait_for(condition: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def watching_client(data_dir: Path, own_model_dir: Path) -> Iterator[TestClient]:
    settings = service_settings(data_dir, own_model_dir, model_watch_seconds=0.1)
    with signed_in(create_app(settings, today=lambda: TODAY)) as test_client:
        yield test_client


def test_a_replaced_bundle_is_picked_up_without_a_request(
    watching_client: TestClient, own_model_dir: Path
) -> None:
    assert _score_version(watching_client) == "test-v1"
    model = ScoringModel.load(own_model_dir)
    dataclasses.replace(model, metadata={**model.metadata, "version": "test-v3"}).save(
        own_model_dir
    )
    assert _wait_for(lambda: _score_version(watching_client) == "test-v3")
    assert watching_client.get("/v1/model").json()["last_reload"]["ok"] is True


def test_a_broken_replacement_is_refused_once_and_not_retried(
    watching_client: TestClient, own_model_dir: Path
) -> None:
    model = ScoringModel.load(own_model_dir)
    dataclasses.replace(model, metadata={**model.metadata, "version": "test-v4"}).save(
        own_model_dir
    )
    _truncate(own_model_dir / "late.lgb.txt")

    def refused() -> bool:
        # The watch may also have caught the bundle half-written (and refused that too): wait
        # for the refusal of its final, truncated state.
        last = watching_client.get("/health/ready").json()["last_reload"]
        return last is not None and last["ok"] is False and "checksum" in last["message"]

    assert _wait_for(refused)
    first = watching_client.get("/health/ready").json()["last_reload"]
    time.sleep(0.5)  # several more watch periods
    assert watching_client.get("/health/ready").json()["last_reload"] == first
    assert _score_version(watching_client) == "test-v1"

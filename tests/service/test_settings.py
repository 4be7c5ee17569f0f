"""Settings come from CREDIT_RISK_* variables; the model source follows from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.app import model_source
from service.model_host import BundleDirectory, RegistryAlias
from service.settings import ServiceSettings


def test_defaults_live_in_the_data_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_RISK_DATA_DIR", "/srv/credit")
    monkeypatch.setenv("CREDIT_RISK_MAX_BATCH", "500")
    settings = ServiceSettings(_env_file=None)
    assert settings.ledger_url == "sqlite:////srv/credit/credit_risk.db"
    assert settings.registry_uri == "sqlite:////srv/credit/mlflow.db"
    assert settings.max_batch == 500
    assert model_source(settings) == RegistryAlias(
        "sqlite:////srv/credit/mlflow.db", "credit-risk", "champion"
    )


def test_a_model_directory_overrides_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_RISK_MODEL_DIR", "/opt/model")
    monkeypatch.setenv("CREDIT_RISK_DATABASE_URL", "postgresql+psycopg://db/credit")
    settings = ServiceSettings(_env_file=None)
    assert model_source(settings) == BundleDirectory(Path("/opt/model"))
    assert settings.ledger_url == "postgresql+psycopg://db/credit"


def test_a_batch_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        ServiceSettings(max_batch=0, _env_file=None)

"""Where training finds the ledger and the MLflow tracking store (CREDIT_RISK_* variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from features.settings import LedgerSettings


class TrainingSettings(LedgerSettings):
    """The ledger settings plus the tracking store (default: a SQLite file in the data folder;
    any MLflow tracking URI works, e.g. http://mlflow.internal:5000)."""

    model_config = SettingsConfigDict(env_prefix="CREDIT_RISK_", env_file=".env", extra="ignore")

    tracking_uri: str | None = None

    @property
    def mlflow_uri(self) -> str:
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{(self.data_dir / 'mlflow.db').as_posix()}"

    @property
    def artifact_root(self) -> Path:
        return self.data_dir / "mlartifacts"

"""How the scoring service is configured: environment variables CREDIT_RISK_* or a .env file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["WHOLE_MAX_ROWS", "ServiceSettings"]

# The default of memory_ledger_max_rows. Defined here rather than beside the code that reads it
# (service.portfolio, which loads pandas): every command that reads the settings (`keys`,
# `policy check`) would otherwise wait a second for it.
WHOLE_MAX_ROWS = 2_000_000


class ServiceSettings(BaseSettings):
    """One deployable's settings; nothing is read from them at import time.

    The model comes from `model_dir` when it is set (tests, air-gapped installs), else from the
    MLflow registry at `tracking_uri`, as the version holding `model_alias` of `model_name`.
    """

    model_config = SettingsConfigDict(
        env_prefix="CREDIT_RISK_", env_file=".env", extra="ignore", protected_namespaces=()
    )

    data_dir: Path = Path("data")
    database_url: str | None = None
    tracking_uri: str | None = None
    model_name: str = "credit-risk"
    model_alias: str = "champion"
    model_dir: Path | None = None
    # Each worker checks this often whether the alias moved (or the bundle changed) and then
    # reloads; 0 turns the watch off (reload through POST /v1/model/reload only).
    model_watch_seconds: float = Field(30.0, ge=0)
    # A worker keeps the files of the registry model it serves under <data_dir>/served-model
    # and its next start serves them at once (then asks the registry whether the alias moved
    # meanwhile): a restart takes seconds less, and works while the registry is out of reach.
    # Off: every start fetches from the registry first.
    keep_served_model: bool = True
    policy_path: Path | None = None  # the analyst's terms policy (TOML); default: the shipped one
    max_batch: int = Field(10_000, ge=1)
    # Threads answering requests in each worker. Scoring holds Python's global lock: with more
    # threads, a request that lets go of it (around a database call) waits for the others to
    # hand it back, so requests take turns far less efficiently than one thread does. Scale
    # with workers (processes) instead.
    request_threads: int = Field(1, ge=1)
    # The book (invoices and payments) is held in memory, prepared for scoring, while it has at
    # most this many rows (about 150 bytes each); 0 reads every request from the database.
    memory_ledger_max_rows: int = Field(WHOLE_MAX_ROWS, ge=0)
    # SQLite's page cache of each database connection a worker keeps open: requests read
    # little from the database, and a large cache would fill with the decision log's pages.
    sqlite_cache_mb: int = Field(16, ge=1)
    # A full batch of inline prospects is about 3 MB of JSON; anything far larger is a mistake.
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)

    @property
    def ledger_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'credit_risk.db').as_posix()}"

    @property
    def served_model_dir(self) -> Path:
        return self.data_dir / "served-model"

    @property
    def registry_uri(self) -> str:
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{(self.data_dir / 'mlflow.db').as_posix()}"

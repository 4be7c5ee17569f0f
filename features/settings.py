"""Where the ledger lives. Read from the environment (CREDIT_RISK_*) or a .env file."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class LedgerSettings(BaseSettings):
    """The data folder and the ledger database (a SQLite file in it unless a URL is given)."""

    model_config = SettingsConfigDict(env_prefix="CREDIT_RISK_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str | None = None

    @property
    def ledger_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'credit_risk.db').as_posix()}"

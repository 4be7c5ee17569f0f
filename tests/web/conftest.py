"""A live service for the web pages: the service tests' demo ledger and model, a copy of the
database of our own (the pages write decisions), API keys per role, and a real uvicorn server on
a free port for the browser tests.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI

from features.ledger import create_ledger_engine
from service.app import create_app
from service.keys import ApiKeys
from service.records import migrate_service_tables
from service.schemas import ScoreRequest
from service.web.portfolio_scoring import PORTFOLIO
from tests.conftest import copy_database
from tests.service.conftest import TODAY, data_dir, model_dir, portfolio, service_settings

__all__ = ["data_dir", "model_dir", "portfolio"]  # fixtures shared with the service tests

WORSENED = ("C00001", "C00002", "C00003", "C00004", "C00005", "C00006")


@dataclass(frozen=True)
class Keys:
    sales: str
    analyst: str
    everything: str


@pytest.fixture(scope="session")
def web_data_dir(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("web-data")
    copy_database(data_dir / "credit_risk.db", folder / "credit_risk.db")
    return folder


@pytest.fixture(scope="session")
def keys(web_data_dir: Path) -> Keys:
    engine = create_ledger_engine(f"sqlite:///{web_data_dir / 'credit_risk.db'}")
    try:
        migrate_service_tables(engine)
        api_keys = ApiKeys(engine)
        return Keys(
            sales=api_keys.create("rep", ["sales"])[1],
            analyst=api_keys.create("analyst", ["analyst"])[1],
            everything=api_keys.create("admin", ["sales", "erp", "analyst"])[1],
        )
    finally:
        engine.dispose()


def web_app(web_data_dir: Path, model_dir: Path) -> FastAPI:
    return create_app(service_settings(web_data_dir, model_dir), today=lambda: TODAY)


def record_previous_scoring(app: FastAPI) -> None:
    """A portfolio scoring a week ago in which some customers had grade A, so that today's
    scoring shows them as worsened (unless they are still A)."""
    state = app.state.service
    requests = [ScoreRequest(customer_id=c, explain=False) for c in WORSENED]
    responses = state.scorer.score(requests, explain=False)
    earlier = [
        dataclasses.replace(r, grade="A", as_of=TODAY - timedelta(days=7)) for r in responses
    ]
    state.audit.record(requests, earlier, caller=PORTFOLIO, key_id=None, channel=PORTFOLIO,
                       policy_version=state.policy_version)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: FastAPI


@pytest.fixture(scope="session")
def live_server(web_data_dir: Path, model_dir: Path, keys: Keys) -> Iterator[LiveServer]:
    """The service under uvicorn in a thread, its portfolio scored (bounded in time)."""
    app = web_app(web_data_dir, model_dir)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the web server did not start within 30 s")
        time.sleep(0.05)
    record_previous_scoring(app)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def sole_trader_siren(portfolio: dict[str, pd.DataFrame]) -> str:
    companies = portfolio["company"]
    found = companies[companies["is_sole_trader"].fillna(False).astype(bool)]
    assert not found.empty, "the demo portfolio has no sole trader"
    return str(found["siren"].iloc[0])

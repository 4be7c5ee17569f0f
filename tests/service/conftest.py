"""A small real setup for the service: a demo ledger in SQLite and a model trained on it.

Built once per test session (training takes a few seconds); tests that change the model work
on their own copy of the bundle.
"""

from __future__ import annotations

import shutil
import time
import warnings
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from uuid import UUID

import pandas as pd
import pytest
import zstandard
from fastapi import FastAPI
from threadpoolctl import threadpool_limits

from features.demo import generate_portfolio
from features.importers.landing import land
from features.ledger import LedgerStore
from features.point_in_time import Ledger
from service.answers import ScoreAnswer, SubjectAnswer
from service.app import create_app
from service.auth import API_KEY_HEADER
from service.keys import ROLES
from service.memory import collection_paused
from service.settings import ServiceSettings
from tests.conftest import copy_database
from training.pipeline import TrainingConfig, fit, prepare

with warnings.catch_warnings():
    # Starlette deprecates its httpx-based TestClient in favour of httpx2 at import time;
    # FastAPI still re-exports it. Not ours to fix, and the suite runs with warnings as errors.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

END = date(2025, 12, 31)
TODAY = date(2026, 1, 5)  # the service's clock: a few days after the demo book ends
CONFIG = TrainingConfig(holdout_months=3, validation_months=3, max_rounds=100, min_data_in_leaf=50)


@pytest.fixture(scope="session")
def portfolio() -> dict[str, pd.DataFrame]:
    return generate_portfolio(seed=3, companies=150, years=3, end_date=END)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory, portfolio: dict[str, pd.DataFrame]) -> Path:
    folder = tmp_path_factory.mktemp("service-data")
    store = LedgerStore.open(f"sqlite:///{folder / 'credit_risk.db'}")
    try:
        land(store, portfolio, "demo", kind="demo", sha256="", today=TODAY)
    finally:
        store.close()
    return folder


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, portfolio: dict[str, pd.DataFrame]) -> Path:
    data = prepare(Ledger.from_tables(portfolio), CONFIG)
    # LightGBM's OpenMP threads busy-wait: on a loaded 2-core machine one thread fits in 4 s
    # where the default takes over a minute.
    with threadpool_limits(limits=1, user_api="openmp"):
        model = fit(data, CONFIG).model
    stamped = type(model)(
        model.boosters, model.calibrators, model.features, model.bands, model.psi_references,
        {**model.metadata, "version": "test-v1"}, model.proceedings_floor,
    )  # fmt: skip
    return stamped.save(tmp_path_factory.mktemp("model") / "bundle")


def service_settings(data_dir: Path, model_dir: Path, **overrides: object) -> ServiceSettings:
    return ServiceSettings(data_dir=data_dir, model_dir=model_dir, **overrides)  # type: ignore[arg-type]


def app_on_a_copy(folder: Path, data_dir: Path, model_dir: Path) -> FastAPI:
    """The service on its own copy of the session's ledger, in `folder`: a test may write."""
    copy_database(data_dir / "credit_risk.db", folder / "credit_risk.db")
    return create_app(service_settings(folder, model_dir), today=lambda: TODAY)


@contextmanager
def signed_in(
    app: FastAPI, roles: Sequence[str] = tuple(ROLES), name: str = "tests"
) -> Iterator[TestClient]:
    """A client of the started app carrying a new API key with these roles."""
    with TestClient(app) as test_client:
        _, token = app.state.service.keys.create(name, roles)
        test_client.headers[API_KEY_HEADER] = token
        yield test_client


@pytest.fixture(scope="session")
def client(data_dir: Path, model_dir: Path) -> Iterator[TestClient]:
    app = create_app(service_settings(data_dir, model_dir, max_batch=50), today=lambda: TODAY)
    with signed_in(app) as test_client:
        yield test_client


@pytest.fixture
def own_model_dir(tmp_path: Path, model_dir: Path) -> Path:
    """A copy of the bundle that a test may corrupt or replace."""
    return Path(shutil.copytree(model_dir, tmp_path / "bundle"))


def logged_response(customer_id: str, decision_id: str) -> ScoreAnswer:
    """A plain grade-C answer for a customer, for tests that write the decision log directly."""
    return ScoreAnswer(
        decision_id=UUID(decision_id), as_of=date(2026, 1, 5),
        subject=SubjectAnswer(customer_id=customer_id, siren=None, name=None, prospect=False,
                              basis="history"),
        p_late=0.3, p_severe=0.1, expected_days_late=4.0, due_date=date(2026, 2, 4),
        expected_payment_date=date(2026, 2, 8), grade="C", reasons=None, review_required=False,
        review_reason=None, model_version="m1", policy_version=None, terms=None,
    )  # fmt: skip


def collector_pauses_ended(timeout: float = 60.0) -> None:
    """Wait until no block of this process runs with the cyclic collector paused: a read of
    the whole ledger (by an app of this test or of an earlier one) pauses it for the whole
    process, as a batch does."""
    deadline = time.monotonic() + timeout
    while collection_paused():
        assert time.monotonic() < deadline, f"the collector is still paused after {timeout} s"
        time.sleep(0.01)


def as_sent(coding: str, body: bytes) -> bytes:
    """An answer's body decoded as a client decodes it ("identity": as it is), with the
    libraries themselves rather than `service.content_coding`, which made it: a coding bug
    on both sides would otherwise pass."""
    if coding == "identity":
        return body
    if coding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    return zlib.decompress(body, 16 + zlib.MAX_WBITS)

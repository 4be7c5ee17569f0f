"""The OpenAPI contract, fuzzed: whatever a caller sends, the service answers with a status code
its schema documents, a body matching the documented model, and never a 5xx.

Schemathesis generates requests from the app's own OpenAPI schema (its examples, boundary values,
then random valid and invalid data) and sends them in-process with a key holding every role.
Seeded and bounded (25 random cases per operation besides the boundary ones), so a run is
reproducible, in well under a minute on a busy 2-core machine.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from features.ledger import LedgerStore
from service.app import create_app
from service.auth import API_KEY_HEADER
from service.keys import ROLES, ApiKeys
from service.records import migrate_service_tables

from .conftest import TODAY, service_settings

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20260105,
        "generation": {"mode": "all", "deterministic": True},
        # Stateful links are not declared; examples, boundary values and random data are.
        "phases": {"stateful": {"enabled": False}},
    }
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class FuzzedService:
    app: FastAPI
    token: str


@pytest.fixture(scope="module")
def fuzzed_service(
    tmp_path_factory: pytest.TempPathFactory, data_dir: Path, model_dir: Path
) -> FuzzedService:
    """The service on a copy of the demo ledger (ingestion writes), and a key with every role."""
    data = Path(shutil.copytree(data_dir, tmp_path_factory.mktemp("fuzz") / "data"))
    settings_ = service_settings(data, model_dir, max_batch=50)
    store = LedgerStore.open(settings_.ledger_url)
    try:
        migrate_service_tables(store.engine)
        _, token = ApiKeys(store.engine).create("fuzzer", tuple(ROLES))
    finally:
        store.close()
    # Schemathesis starts the app's lifespan on its first request and ends it after each test.
    return FuzzedService(create_app(settings_, today=lambda: TODAY), token)


# The schema comes from the code, not from settings or data: an app that is never started
# describes it at collection time, so each operation is a test of its own. (Schemathesis 4's
# `pytest.from_fixture` would load it from the started app, but fails under pytest 9.)
schema = schemathesis.openapi.from_dict(
    create_app(service_settings(Path("unused"), Path("unused"))).openapi(), config=CONFIG
)


@schema.parametrize()
@settings(  # health checks off: slow in-process calls on a loaded machine are not a failure
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_documented_and_no_input_breaks_the_service(
    case: schemathesis.Case, fuzzed_service: FuzzedService
) -> None:
    case.call_and_validate(
        app=fuzzed_service.app, headers={API_KEY_HEADER: fuzzed_service.token}, checks=CHECKS
    )

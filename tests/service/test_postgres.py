"""The same service on PostgreSQL: a configuration change, with the same answers as SQLite."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from features.importers.landing import land
from features.ledger import LedgerStore
from service.app import create_app

from .conftest import TODAY, service_settings, signed_in


@pytest.mark.postgres
def test_scores_and_look_ups_match_sqlite(
    postgres_url: str,
    portfolio: dict[str, pd.DataFrame],
    model_dir: Path,
    tmp_path: Path,
    client: TestClient,
) -> None:
    store = LedgerStore.open(postgres_url)
    try:
        land(store, portfolio, "demo", kind="demo", sha256="", today=TODAY)
    finally:
        store.close()
    settings = service_settings(tmp_path, model_dir, database_url=postgres_url)
    items = [{"customer_id": "C00001", "amount": 2_000}, {"customer_id": "C00005"}]
    with signed_in(create_app(settings, today=lambda: TODAY)) as on_postgres:
        assert on_postgres.get("/health/ready").status_code == 200
        for path in ("/v1/customers/C00001",):
            here, there = on_postgres.get(path).json(), client.get(path).json()
            assert here["current"].pop("decision_id") != there["current"].pop("decision_id")
            assert here == there
        batch = {"items": items, "explain": True}
        postgres = on_postgres.post("/v1/score/batch", json=batch).json()["results"]
        sqlite = client.post("/v1/score/batch", json=batch).json()["results"]
    for left, right in zip(postgres, sqlite, strict=True):
        for key in ("p_late", "p_severe", "grade", "reasons", "subject"):
            assert left[key] == right[key]

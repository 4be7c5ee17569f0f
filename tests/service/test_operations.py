"""Look-ups, health, metrics and the OpenAPI description."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import anyio.to_thread
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from httpx import Response

from service.app import create_app
from tests.service.conftest import service_settings, signed_in


def test_customer_look_up(client: TestClient) -> None:
    response = client.get("/v1/customers/C00001")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer_id"] == "C00001"
    assert body["company"]["siren"] == body["siren"]
    history = body["history"]
    assert history["invoice_count"] > 0
    assert history["settled_count"] + history["open_count"] == history["invoice_count"]
    assert 0 <= history["overdue_amount"] <= history["open_amount"]


def test_company_look_up(client: TestClient, portfolio: dict[str, pd.DataFrame]) -> None:
    siren = str(portfolio["customer"]["siren"].iloc[0])
    body = client.get(f"/v1/companies/{siren[:3]} {siren[3:6]} {siren[6:]}").json()
    assert body["company"]["siren"] == siren
    assert body["customer_ids"] == ["C00001"]
    assert body["history"]["invoice_count"] > 0


def test_look_ups_give_todays_grade_and_log_it(
    client: TestClient, portfolio: dict[str, pd.DataFrame]
) -> None:
    body = client.get("/v1/customers/C00001").json()
    current = body["current"]
    scored = client.post("/v1/score", json={"customer_id": "C00001", "explain": False}).json()
    assert (current["grade"], current["p_late"]) == (scored["grade"], scored["p_late"])
    assert current["prospect"] is False
    assert current["model_version"] == "test-v1"
    logged = client.get(f"/v1/decisions/{current['decision_id']}").json()
    assert logged["channel"] == "lookup"
    assert logged["grade"] == current["grade"]

    companies, customers = portfolio["company"], portfolio["customer"]
    prospect = str(companies.loc[~companies["siren"].isin(customers["siren"]), "siren"].iloc[0])
    company = client.get(f"/v1/companies/{prospect}").json()
    assert company["customer_ids"] == []
    assert company["current"]["prospect"] is True
    assert company["current"]["grade"] in {"A", "B", "C", "D", "E"}


def test_health_and_model(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "alive"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    assert ready.json()["last_reload"]["ok"] is True
    model = client.get("/v1/model").json()
    assert model["version"] == "test-v1"
    assert "days_late_mean" in model["features"]
    assert set(model["grade_upper_bounds"]) == {"A", "B", "C", "D"}


def test_a_policy_with_the_rates_in_force_gives_no_warning(client: TestClient) -> None:
    assert client.get("/health/ready").json()["warnings"] == []
    assert client.get("/v1/policy").json()["warnings"] == []
    # 2026-01-05: the shipped policy's rates run out on 1 July 2026.
    assert "credit_risk_policy_rates_days_left 177.0" in client.get("/metrics").text


def test_missing_late_payment_rates_are_said_without_stopping_the_service(
    data_dir: Path, model_dir: Path
) -> None:
    """On 7 December 2026 the shipped policy lacks the rates of the half-year in force and of
    the next one: readiness, the policy and the metrics say so, and the service still serves."""
    app = create_app(service_settings(data_dir, model_dir), today=lambda: date(2026, 12, 7))
    with signed_in(app) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["ready"] is True
        now, upcoming = ready.json()["warnings"]
        assert "no late-payment rates for 2026-H2 (since 1 July 2026)" in now
        assert "2027-H1, which starts on 1 January 2027 (in 25 days)" in upcoming
        policy = client.get("/v1/policy").json()
        assert policy["warnings"] == [now, upcoming]
        assert "credit_risk_policy_rates_days_left 0.0" in client.get("/metrics").text
        scored = client.post("/v1/score", json={"customer_id": "C00001"})
        assert scored.status_code == 200
        assert scored.json()["terms"]["review_required"] is True


def test_metrics_expose_latency_grades_and_model(client: TestClient) -> None:
    grade = client.post("/v1/score", json={"customer_id": "C00001"}).json()["grade"]
    text = client.get("/metrics").text
    assert 'credit_risk_request_seconds_bucket{le="0.1",method="POST",route="/v1/score"' in text
    assert f'credit_risk_scores_total{{grade="{grade}"}}' in text
    assert 'credit_risk_model_info{version="test-v1"} 1.0' in text
    # Routes are labelled by template, not by the customer named in the path.
    client.get("/v1/customers/C00001")
    assert 'route="/v1/customers/{customer_id}"' in client.get("/metrics").text


def _scores_by_grade(client: TestClient) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in client.get("/metrics").text.splitlines():
        if line.startswith('credit_risk_scores_total{grade="'):
            counts[line.split('"')[1]] = int(float(line.rsplit(" ", 1)[1]))
    return counts


def test_a_batch_counts_each_score_under_its_grade(client: TestClient) -> None:
    before = _scores_by_grade(client)
    items = [{"customer_id": f"C0000{i}"} for i in (1, 2, 3, 1, 2, 3, 4)]
    results = client.post("/v1/score/batch", json={"items": items, "terms": False}).json()
    assert _scores_by_grade(client) - before == Counter(r["grade"] for r in results["results"])


def test_openapi_lists_the_endpoints(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in ("/v1/score", "/v1/score/batch", "/v1/customers/{customer_id}",
                 "/v1/companies/{siren}", "/v1/model", "/v1/model/reload", "/health/live",
                 "/health/ready", "/metrics"):  # fmt: skip
        assert path in paths, path
    score = paths["/v1/score"]["post"]
    assert score["summary"]
    assert {"404", "413", "422", "503"} <= set(score["responses"])
    request = schema["components"]["schemas"]["ScoreRequest"]
    assert request["additionalProperties"] is False
    assert request["examples"]


def test_framework_errors_keep_the_error_shape(client: TestClient) -> None:
    missing = client.get("/v1/nowhere")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    wrong_method = client.get("/v1/score")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"


def test_health_answers_while_the_request_thread_is_taken(client: TestClient) -> None:
    """A worker answers requests on one thread; while a long one holds it (a big batch),
    liveness, readiness and metrics still answer, and single scores too (event loop)."""
    portal = client.portal
    assert portal is not None
    limiter = portal.call(anyio.to_thread.current_default_thread_limiter)
    assert limiter.total_tokens == 1
    borrower = object()
    pool = ThreadPoolExecutor(max_workers=1)  # a call that waits fails the test, not hangs it

    def answered(method: str, path: str, **body: Any) -> Response:
        return pool.submit(client.request, method, path, **body).result(timeout=30)

    portal.call(limiter.acquire_on_behalf_of, borrower)
    try:
        assert answered("GET", "/health/live").status_code == 200
        assert answered("GET", "/health/ready").json()["ready"] is True
        assert answered("GET", "/metrics").status_code == 200
        score = {"customer_id": "C00001", "explain": False}
        assert answered("POST", "/v1/score", json=score).status_code == 200
        waiting = pool.submit(client.get, "/v1/model")  # a route that needs the thread
        with pytest.raises(TimeoutError):
            waiting.result(timeout=0.5)
    finally:
        portal.call(limiter.release_on_behalf_of, borrower)
        pool.shutdown(wait=False)
    assert waiting.result(timeout=30).status_code == 200  # answered once the thread is free

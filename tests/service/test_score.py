"""Scoring through the API: known customers, prospects, sole traders, batches."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from service.answers import ReasonAnswer, ScoreAnswer, SubjectAnswer
from service.app import create_app
from service.schemas import ReasonOut, ScoreResponse, SubjectOut
from service.scoring import PROSPECT_BASIS

from .conftest import TODAY, service_settings, signed_in


@pytest.fixture(scope="module")
def prospect_siren(portfolio: dict[str, pd.DataFrame]) -> str:
    """A company of the registry data that is nobody's customer."""
    companies, customers = portfolio["company"], portfolio["customer"]
    return str(companies.loc[~companies["siren"].isin(customers["siren"]), "siren"].iloc[0])


@pytest.fixture(scope="module")
def sole_trader_id(portfolio: dict[str, pd.DataFrame]) -> str:
    companies, customers = portfolio["company"], portfolio["customer"]
    sole = companies.loc[companies["is_sole_trader"].fillna(False).astype(bool), "siren"]
    return str(customers.loc[customers["siren"].isin(sole), "customer_id"].iloc[0])


def _check_scores(body: dict) -> None:
    assert 0 <= body["p_severe"] <= body["p_late"] <= 1
    assert body["grade"] in {"A", "B", "C", "D", "E"}
    assert body["model_version"] == "test-v1"
    uuid.UUID(body["decision_id"])
    assert body["terms"]["recovery_indemnity_eur"] == 40  # recommended terms come along


def test_known_customer_with_reasons(client: TestClient) -> None:
    response = client.post(
        "/v1/score", json={"customer_id": "C00001", "amount": 12_500, "terms_days": 45}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    _check_scores(body)
    assert body["subject"]["customer_id"] == "C00001"
    assert body["subject"]["prospect"] is False
    assert body["as_of"] == TODAY.isoformat()
    assert body["due_date"] == (TODAY + timedelta(days=45)).isoformat()
    assert date.fromisoformat(body["expected_payment_date"]) >= TODAY
    assert 1 <= len(body["reasons"]) <= 4
    for reason in body["reasons"]:
        assert reason["text_fr"]
        assert reason["text_en"]
        assert reason["direction"] in {"raises", "lowers"}


def test_without_explain_there_are_no_reasons_and_the_same_scores(client: TestClient) -> None:
    request = {"customer_id": "C00002", "amount": 3_000}
    explained = client.post("/v1/score", json=request).json()
    plain = client.post("/v1/score", json={**request, "explain": False}).json()
    assert plain["reasons"] is None
    assert plain["p_late"] == explained["p_late"]
    assert plain["decision_id"] != explained["decision_id"]


def test_a_customer_found_by_siren(client: TestClient, portfolio: dict[str, pd.DataFrame]) -> None:
    customers = portfolio["customer"]
    siren = str(customers.loc[customers["customer_id"] == "C00003", "siren"].iloc[0])
    body = client.post("/v1/score", json={"siren": siren}).json()
    assert body["subject"]["customer_id"] == "C00003"
    assert body["subject"]["prospect"] is False


def test_prospect_by_siren_is_scored_from_company_data(
    client: TestClient, prospect_siren: str
) -> None:
    response = client.post("/v1/score", json={"siren": prospect_siren, "amount": 8_000})
    assert response.status_code == 200, response.text
    body = response.json()
    _check_scores(body)
    assert body["subject"] == {
        "customer_id": None,
        "siren": prospect_siren,
        "name": body["subject"]["name"],
        "prospect": True,
        "basis": PROSPECT_BASIS,
    }
    assert body["subject"]["name"]


def test_inline_company_prospect(client: TestClient) -> None:
    company = {
        "name": "Boulangerie Martin",
        "naf_code": "10.71C",
        "creation_date": "2025-06-01",
        "legal_form": "5499",
        "share_capital": 1_000,
        "headcount_band": "01",
    }
    young = client.post("/v1/score", json={"company": company, "amount": 1_800}).json()
    _check_scores(young)
    assert young["subject"]["prospect"] is True
    assert young["subject"]["siren"] is None
    assert young["review_required"] is False
    reasons = {r["feature"] for r in young["reasons"]}
    assert reasons  # a prospect gets reasons from its company data
    assert not reasons & {"days_late_mean", "settled_late_share", "known_late_share"}


def test_sole_trader_needs_human_review(client: TestClient, sole_trader_id: str) -> None:
    body = client.post("/v1/score", json={"customer_id": sole_trader_id}).json()
    assert body["review_required"] is True
    assert "GDPR art. 22" in body["review_reason"]
    inline = {"name": "Jean Dupont", "legal_form": "1000", "is_sole_trader": True}
    prospect = client.post("/v1/score", json={"company": inline}).json()
    assert prospect["review_required"] is True


def test_batch_keeps_the_order_of_mixed_items(client: TestClient, prospect_siren: str) -> None:
    items = [
        {"customer_id": "C00004", "amount": 500},
        {"siren": prospect_siren},
        {"company": {"name": "Nouvelle SAS", "legal_form": "5710"}},
        {"customer_id": "C00001", "terms_days": 60},
    ]
    response = client.post("/v1/score/batch", json={"items": items})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 4
    results = body["results"]
    assert [r["subject"]["customer_id"] for r in results] == ["C00004", None, None, "C00001"]
    assert [r["subject"]["prospect"] for r in results] == [False, True, True, False]
    assert all(r["reasons"] is None for r in results)  # explain is off by default in batches
    single = client.post("/v1/score", json=items[0]).json()
    assert results[0]["p_late"] == single["p_late"]
    explained = client.post("/v1/score/batch", json={"items": items[:1], "explain": True}).json()
    assert explained["results"][0]["reasons"]


def test_a_batch_may_ask_for_scores_only(client: TestClient) -> None:
    """`terms: false` leaves the terms out and changes nothing else."""
    items = [{"customer_id": "C00004", "amount": 500}, {"customer_id": "C00001"}]
    full = client.post("/v1/score/batch", json={"items": items}).json()["results"]
    bare = client.post("/v1/score/batch", json={"items": items, "terms": False}).json()["results"]
    assert all(r["terms"] is not None for r in full)
    assert all(r["terms"] is None and r["policy_version"] is None for r in bare)
    for with_terms, without in zip(full, bare, strict=True):
        for field in ("p_late", "p_severe", "grade", "expected_days_late", "subject"):
            assert with_terms[field] == without[field], field


@pytest.mark.parametrize("count", [6, 40])  # dates computed one by one, and on arrays
def test_each_item_of_a_batch_is_due_and_expected_from_its_own_day_and_terms(
    client: TestClient, count: int
) -> None:
    """Due date = decision day + terms; expected payment = due date + the expected delay,
    rounded to a day, never before the decision day: for every item, whatever its day."""
    terms_and_days_back = [(0, 0), (30, 1), (45, 400), (60, 31), (365, 2), (7, 90), (90, 700)]
    cycled = (terms_and_days_back * (count // 7 + 1))[:count]
    customers = _customers_of_companies_created_by(client, TODAY - timedelta(days=700))[:6]
    items = [
        {"customer_id": customers[n % 6], "terms_days": terms, "as_of": str(TODAY - back)}
        for n, (terms, back) in enumerate((t, timedelta(days)) for t, days in cycled)
    ]
    response = client.post("/v1/score/batch", json={"items": items, "terms": False})
    assert response.status_code == 200, response.text
    for item, result in zip(items, response.json()["results"], strict=True):
        day = date.fromisoformat(item["as_of"])
        due = day + timedelta(days=item["terms_days"])
        assert result["as_of"] == item["as_of"]
        assert result["due_date"] == due.isoformat()
        expected = date.fromisoformat(result["expected_payment_date"])
        # the answer's delay is rounded to a tenth: the day it gives is within half a day of it
        if expected > day:
            assert abs((expected - due).days - result["expected_days_late"]) <= 0.55
        else:
            assert expected == day
            assert (due - day).days + result["expected_days_late"] <= 0.55


def test_batch_above_the_limit_is_refused(client: TestClient) -> None:
    items = [{"customer_id": "C00001"}] * 51  # the test app accepts 50
    response = client.post("/v1/score/batch", json={"items": items})
    assert response.status_code == 413
    assert response.json()["fields"][0]["field"] == "items"


def test_one_bad_item_names_its_position(client: TestClient) -> None:
    items = [{"customer_id": "C00001"}, {"customer_id": "NOBODY"}]
    response = client.post("/v1/score/batch", json={"items": items})
    assert response.status_code == 404
    assert response.json()["fields"][0]["field"] == "items[1].customer_id"


def test_what_if_on_amount_and_terms_changes_the_order_features(client: TestClient) -> None:
    small = client.post("/v1/score", json={"customer_id": "C00001", "amount": 100}).json()
    large = client.post("/v1/score", json={"customer_id": "C00001", "amount": 500_000}).json()
    assert (
        small["p_late"] != large["p_late"]
        or small["expected_days_late"] != large["expected_days_late"]
    )


def test_past_decision_day(client: TestClient) -> None:
    body = client.post("/v1/score", json={"customer_id": "C00001", "as_of": "2025-06-30"}).json()
    assert body["as_of"] == "2025-06-30"


def test_an_empty_ledger_still_scores_inline_prospects(tmp_path: Path, model_dir: Path) -> None:
    app = create_app(service_settings(tmp_path, model_dir), today=lambda: TODAY)
    with signed_in(app) as empty:
        assert empty.get("/health/ready").status_code == 200
        company = {"name": "Première SARL", "legal_form": "5499", "creation_date": "2015-01-01"}
        response = empty.post("/v1/score", json={"company": company, "amount": 900})
        assert response.status_code == 200, response.text
        assert response.json()["subject"]["prospect"] is True
        assert empty.post("/v1/score", json={"customer_id": "C00001"}).status_code == 404


def test_inline_data_for_a_registry_company_keeps_its_siren(
    client: TestClient, prospect_siren: str
) -> None:
    company = {"name": "Renamed SA", "siren": prospect_siren, "legal_form": "5599"}
    body = client.post("/v1/score", json={"company": company}).json()
    assert body["subject"]["siren"] == prospect_siren
    assert body["subject"]["name"] == "Renamed SA"
    assert body["subject"]["prospect"] is True


def test_a_score_comes_with_lawful_recommended_terms(client: TestClient) -> None:
    response = client.post(
        "/v1/score", json={"customer_id": "C00001", "amount": 25_000, "terms_days": 90}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    terms = body["terms"]
    assert terms is not None
    due = date.fromisoformat(terms["deadline"]["due_date"])
    assert due <= date.fromisoformat(body["as_of"]) + timedelta(days=60)  # L441-10
    # The 90 days asked for were not granted, and the answer says why (the law's cap, the
    # grade's policy, or prepayment for the riskiest grades).
    capped = [a for a in terms["adjustments"] if a["field"] == "deadline"]
    assert capped
    assert "requested 90 days" in capped[0]["message"]
    assert terms["recovery_indemnity_eur"] == 40
    assert 0 <= terms["deposit_percent"] <= 100
    assert "40" in terms["legal_notice"]
    assert terms["dunning_plan"]


def test_repeated_items_of_a_batch_get_the_terms_of_a_single_score(client: TestClient) -> None:
    item = {"customer_id": "C00002", "amount": 7300.0, "terms_days": 45}
    other = {"customer_id": "C00002", "amount": 90_000.0, "terms_days": 45}
    results = client.post("/v1/score/batch", json={"items": [item, other, item]}).json()["results"]
    single = client.post("/v1/score", json={**item, "explain": False}).json()
    assert results[0]["terms"] == results[2]["terms"] == single["terms"]
    assert results[1]["terms"] != results[0]["terms"]  # another amount, other terms
    assert len({r["decision_id"] for r in results}) == 3


def test_answers_have_the_documented_fields_in_order() -> None:
    """The scorer's records are serialised as they are: their fields must be the schema's."""
    pairs = [(ScoreAnswer, ScoreResponse), (SubjectAnswer, SubjectOut), (ReasonAnswer, ReasonOut)]
    for record, model in pairs:
        assert [f.name for f in dataclasses.fields(record)] == list(model.model_fields)


def test_answers_are_byte_for_byte_the_json_of_the_schema(
    client: TestClient, prospect_siren: str, sole_trader_id: str
) -> None:
    """Reasons, terms, a prospect and a sole trader: each answer as sent is what the
    documented model, validating it, would send."""
    items = [
        {"customer_id": "C00001", "amount": 12_500, "terms_days": 45},
        {"siren": prospect_siren, "amount": 3_000},
        {"customer_id": sole_trader_id, "amount": 800, "terms_days": 60},
    ]
    response = client.post("/v1/score/batch", json={"items": items, "explain": True})
    assert response.status_code == 200, response.text
    sent = json.loads(response.content)["results"]
    assert [bool(r["reasons"]) for r in sent] == [True, True, True]
    assert [r["subject"]["prospect"] for r in sent] == [False, True, False]
    assert sent[2]["review_required"] is True
    for answer in sent:
        as_sent = json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode()
        assert ScoreResponse.model_validate_json(as_sent).model_dump_json().encode() == as_sent
    single = client.post("/v1/score", json=items[0])  # its very bytes
    assert single.status_code == 200, single.text
    assert ScoreResponse.model_validate_json(single.content).model_dump_json().encode() == (
        single.content
    )


def _customers_of_companies_created_by(client: TestClient, day: date) -> list[str]:
    """Customers that may be scored as of `day`: their company existed then."""
    store = client.app.state.service.store  # type: ignore[attr-defined]
    companies = store.read("company", columns=["siren", "creation_date"])
    customers = store.read("customer", columns=["customer_id", "siren"])
    old = customers.merge(companies, on="siren").query("creation_date <= @day")
    return sorted(old["customer_id"])

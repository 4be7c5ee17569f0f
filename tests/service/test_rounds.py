"""Single scores waiting on the event loop together are answered in one round: each answer is
the one the request gets alone, each decision is logged as answered, and a bad request, or a
decision the log refuses, fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.auth import API_KEY_HEADER
from service.tables import decision

from .conftest import app_on_a_copy, signed_in

ME = "round-tests"
# Fields that differ between two answers to the same request.
_OWN = ("decision_id",)


@pytest.fixture
def own(tmp_path: Path, data_dir: Path, model_dir: Path) -> Iterator[TestClient]:
    with signed_in(app_on_a_copy(tmp_path, data_dir, model_dir), name=ME) as client:
        yield client


def _together(
    client: TestClient, requests: Sequence[tuple[dict[str, Any], str]]
) -> list[httpx.Response]:
    """POST /v1/score for each (body, token) at once, on the app's event loop: every request
    is waiting there before the first is answered."""
    app: FastAPI = client.app  # type: ignore[assignment]

    async def send_all() -> list[httpx.Response]:
        # Errors the app does not map come back as 500s, as a server would send them.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as together:
            return list(
                await asyncio.gather(
                    *(
                        together.post("/v1/score", json=body, headers={API_KEY_HEADER: token})
                        for body, token in requests
                    )
                )
            )

    assert client.portal is not None
    return client.portal.call(send_all)


def _rounds(client: TestClient) -> tuple[float, float]:
    """How many rounds the service has answered, and how many scores they held."""
    families = text_string_to_metric_families(client.get("/metrics").text)
    [sizes] = [f for f in families if f.name == "credit_risk_score_round_size"]
    found = {s.name: s.value for s in sizes.samples}
    return found["credit_risk_score_round_size_count"], found["credit_risk_score_round_size_sum"]


def _logged(client: TestClient) -> dict[str, sa.Row[Any]]:
    """The decision log's rows, by decision id."""
    engine = client.app.state.service.store.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        rows = connection.execute(sa.select(decision)).all()
    return {row.decision_id: row for row in rows}


def _without_own(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k not in _OWN}


def test_scores_waiting_together_are_answered_in_one_round_each_as_alone(
    own: TestClient,
) -> None:
    token = own.headers[API_KEY_HEADER]
    bodies = [
        {"customer_id": f"C{n:05d}", "amount": 1_000.0 * n, "terms_days": 30 + n,
         "explain": n % 2 == 0}
        for n in range(1, 13)
    ]  # fmt: skip
    rounds_before, scores_before = _rounds(own)
    answers = _together(own, [(body, token) for body in bodies])
    rounds_after, scores_after = _rounds(own)
    assert [a.status_code for a in answers] == [200] * len(bodies)
    assert (rounds_after - rounds_before, scores_after - scores_before) == (1, len(bodies))

    logged = _logged(own)
    for body, answer in zip(bodies, answers, strict=True):
        given = answer.json()
        alone = own.post("/v1/score", json=body).json()
        assert _without_own(given) == _without_own(alone)
        assert given["subject"]["customer_id"] == body["customer_id"]
        assert (given["reasons"] is not None) == body["explain"]
        row = logged[given["decision_id"]]
        assert row.chunk_id is None  # its JSON in its row, as a single score's
        assert row.response.encode() == answer.content  # logged as sent
        assert (row.caller, row.channel, row.amount) == (ME, "score", body["amount"])


def test_prospects_described_inline_share_a_round_with_known_customers(
    own: TestClient,
) -> None:
    """Inline company data is scored apart from the book in memory, in the same round: every
    answer is still the one its request gets alone."""
    token = own.headers[API_KEY_HEADER]
    bodies: list[dict[str, Any]] = [
        {"customer_id": "C00001", "amount": 2_000.0},
        {"company": {"name": "Nouvelle SAS", "legal_form": "5710"}, "amount": 800.0},
        {"customer_id": "C00002", "amount": 3_000.0},
        {"company": {"name": "Atelier Roux", "creation_date": "2019-04-01"}, "amount": 150.0},
    ]
    rounds_before, _ = _rounds(own)
    answers = _together(own, [(body, token) for body in bodies])
    rounds_after, _ = _rounds(own)
    assert [a.status_code for a in answers] == [200] * len(bodies)
    assert rounds_after - rounds_before == 1
    for body, answer in zip(bodies, answers, strict=True):
        alone = own.post("/v1/score", json=body).json()
        assert _without_own(answer.json()) == _without_own(alone)
    assert [a.json()["subject"]["prospect"] for a in answers] == [False, True, False, True]


def test_a_bad_request_fails_alone_in_its_round(own: TestClient) -> None:
    token = own.headers[API_KEY_HEADER]
    bodies: list[dict[str, Any]] = [
        {"customer_id": "C00001", "amount": 500.0},
        {"customer_id": "C99999", "amount": 500.0},  # unknown
        {"customer_id": "C00002", "amount": 700.0},
        {"customer_id": "C00003", "as_of": "2026-01-06"},  # after today
        {"customer_id": "C00004", "amount": 900.0},
    ]
    before = set(_logged(own))
    answers = _together(own, [(body, token) for body in bodies])
    assert [a.status_code for a in answers] == [200, 404, 200, 422, 200]
    assert [f["field"] for f in answers[1].json()["fields"]] == ["customer_id"]
    assert [f["field"] for f in answers[3].json()["fields"]] == ["as_of"]
    logged = set(_logged(own)) - before
    assert logged == {answers[i].json()["decision_id"] for i in (0, 2, 4)}


def test_callers_in_one_round_are_each_logged_as_themselves(own: TestClient) -> None:
    service = own.app.state.service  # type: ignore[attr-defined]
    _, other = service.keys.create("round-tests-erp", ["erp"])
    mine = own.headers[API_KEY_HEADER]
    requests: list[tuple[dict[str, Any], str]] = [
        ({"customer_id": f"C0000{n}"}, mine if n % 2 else other) for n in range(1, 7)
    ]
    answers = _together(own, requests)
    logged = _logged(own)
    callers = [logged[a.json()["decision_id"]].caller for a in answers]
    assert callers == [ME if n % 2 else "round-tests-erp" for n in range(1, 7)]


def test_a_decision_the_log_refuses_fails_only_its_request(own: TestClient) -> None:
    """The round's decisions are one transaction: when the log refuses one of them, the others
    are logged one by one and answered; the refused one gets a 500 and is not logged."""
    engine = own.app.state.service.store.engine  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TRIGGER refuse_666 BEFORE INSERT ON decision WHEN NEW.amount = 666 "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
    token = own.headers[API_KEY_HEADER]
    bodies: list[dict[str, Any]] = [
        {"customer_id": f"C0000{n}", "amount": 666.0 if n == 2 else 100.0 * n} for n in range(1, 5)
    ]
    before = set(_logged(own))
    answers = _together(own, [(body, token) for body in bodies])
    assert [a.status_code for a in answers] == [200, 500, 200, 200]
    logged = {row.amount for key, row in _logged(own).items() if key not in before}
    assert logged == {100.0, 300.0, 400.0}

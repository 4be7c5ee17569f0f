"""`POST /v1/score` is served by a plain route reading its body and key by hand: it must
answer every request exactly as FastAPI's path operation, which documents it, would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from service.api import score_route

from .conftest import TestClient, app_on_a_copy, signed_in

JSON = {"content-type": "application/json"}
VALID = b'{"customer_id": "C00001", "amount": 12000, "terms_days": 45}'

# (what is sent, headers, whose key: "scoring", "analyst" (may not score) or None)
REQUESTS: dict[str, tuple[bytes, dict[str, str], str | None]] = {
    "a known customer": (VALID, JSON, "scoring"),
    "with reasons": (b'{"customer_id": "C00002", "explain": true}', JSON, "scoring"),
    "a prospect by SIREN": (b'{"siren": "552100554"}', JSON, "scoring"),
    "JSON, a charset, capitals": (
        VALID,
        {"content-type": "Application/JSON; charset=UTF-8"},
        "scoring",
    ),
    "a +json type": (VALID, {"content-type": "application/merge-patch+json"}, "scoring"),
    "no content type": (VALID, {}, "scoring"),
    "text/plain": (VALID, {"content-type": "text/plain"}, "scoring"),
    "an empty body": (b"", JSON, "scoring"),
    "JSON null": (b"null", JSON, "scoring"),
    "a JSON array": (b'[{"customer_id": "C00001"}]', JSON, "scoring"),
    "truncated JSON": (b'{"customer_id": "C000', JSON, "scoring"),
    "bytes in no JSON encoding": (b"\xff\xfe\x00\xd8", JSON, "scoring"),
    "NaN amount": (b'{"customer_id": "C00001", "amount": NaN}', JSON, "scoring"),
    "negative amount": (b'{"customer_id": "C00001", "amount": -5}', JSON, "scoring"),
    "an unknown field": (b'{"customer_id": "C00001", "colour": "red"}', JSON, "scoring"),
    "a wrong type": (b'{"customer_id": 42, "explain": "maybe"}', JSON, "scoring"),
    "a SIREN with a wrong checksum": (b'{"siren": "552100555"}', JSON, "scoring"),
    "an unknown customer": (b'{"customer_id": "NOBODY"}', JSON, "scoring"),
    "a day after today": (b'{"customer_id": "C00001", "as_of": "2999-01-01"}', JSON, "scoring"),
    "no key": (VALID, JSON, None),
    "no key and truncated JSON": (b'{"customer_id', JSON, None),
    "no key and an unknown field": (b'{"colour": "red"}', JSON, None),
    "a key that may not score": (VALID, JSON, "analyst"),
    "a key that may not score, bad fields": (b'{"amount": "x"}', JSON, "analyst"),
}


def _answer(client: TestClient, body: bytes, headers: dict[str, str], key: str | None) -> Any:
    sent = {**headers}
    if key is not None:
        sent["X-API-Key"] = key
    response = client.post("/v1/score", content=body, headers=sent)
    answer = response.json()
    if response.status_code == 200:
        answer.pop("decision_id")  # a new one for every decision
    return response.status_code, response.headers["content-type"], answer


Served = tuple[TestClient, dict[str, str]]  # a client, and API keys by role


@pytest.fixture(scope="module")
def clients(
    tmp_path_factory: pytest.TempPathFactory, data_dir: Path, model_dir: Path
) -> Iterator[tuple[Served, Served]]:
    """The service as it runs, and the same service with the path operation serving."""
    by_hand = app_on_a_copy(tmp_path_factory.mktemp("by-hand"), data_dir, model_dir)
    generic = app_on_a_copy(tmp_path_factory.mktemp("generic"), data_dir, model_dir)
    generic.router.routes.remove(score_route)
    with _served(by_hand) as hand, _served(generic) as served:
        yield hand, served


@contextmanager
def _served(app: FastAPI) -> Iterator[Served]:
    """A client of the started app, sending no key of its own, and keys by role."""
    with signed_in(app, roles=("sales",), name="scoring") as client:
        keys = {"scoring": client.headers.pop("X-API-Key")}
        _, keys["analyst"] = app.state.service.keys.create("analyst", ["analyst"])
        yield client, keys


@pytest.mark.parametrize("name", REQUESTS)
def test_answers_as_the_documented_path_operation(
    clients: tuple[Served, Served], name: str
) -> None:
    body, headers, whose = REQUESTS[name]
    (hand, hand_keys), (generic, generic_keys) = clients
    by_hand = _answer(hand, body, headers, None if whose is None else hand_keys[whose])
    expected = _answer(generic, body, headers, None if whose is None else generic_keys[whose])
    assert by_hand == expected
    assert by_hand[0] != 500


def test_the_plain_route_serves_and_the_path_operation_documents(
    clients: tuple[Served, Served],
) -> None:
    (hand, hand_keys), _ = clients
    app = hand.app
    assert app.router.routes[0] is score_route
    operation = app.openapi()["paths"]["/v1/score"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ScoreRequest"
    }
    assert operation["security"] == [{"APIKeyHeader": []}]
    key = {"X-API-Key": hand_keys["scoring"]}
    answered = hand.post("/v1/score", content=VALID, headers=JSON | key)
    assert answered.status_code == 200
    timed = hand.get("/metrics").text
    assert 'credit_risk_request_seconds_count{method="POST",route="/v1/score",status="200"}' in (
        timed
    )
    assert hand.get("/v1/score").status_code == 405

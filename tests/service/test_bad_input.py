"""Bad input is a 4xx that names the field, never a 5xx."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from features.siren import luhn_check_digit

VALID_SIREN = "73282932" + luhn_check_digit("73282932")
WRONG_CHECKSUM = VALID_SIREN[:-1] + str((int(VALID_SIREN[-1]) + 1) % 10)


def _fields(response: Any) -> list[str]:
    return [problem["field"] for problem in response.json()["fields"]]


def test_wrong_siren_checksum_names_the_field_and_the_rule(client: TestClient) -> None:
    response = client.post("/v1/score", json={"siren": WRONG_CHECKSUM})
    assert response.status_code == 422
    assert _fields(response) == ["siren"]
    reason = response.json()["fields"][0]["reason"]
    assert "Luhn" in reason
    assert "double every second digit" in reason


def test_wrong_siren_in_a_path_and_inline(client: TestClient) -> None:
    response = client.get(f"/v1/companies/{WRONG_CHECKSUM}")
    assert response.status_code == 422
    assert _fields(response) == ["siren"]
    inline = {"company": {"name": "X", "siren": "12345"}}
    response = client.post("/v1/score", json=inline)
    assert response.status_code == 422
    assert _fields(response) == ["company.siren"]
    assert "9 digits" in response.json()["fields"][0]["reason"]


def test_unknown_customer_and_company_are_404(client: TestClient) -> None:
    response = client.post("/v1/score", json={"customer_id": "NOBODY"})
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_customer"
    assert _fields(response) == ["customer_id"]
    assert client.get("/v1/customers/NOBODY").status_code == 404
    response = client.post("/v1/score", json={"siren": VALID_SIREN})
    assert response.status_code == 404
    assert "inline" in response.json()["message"]
    assert client.get(f"/v1/companies/{VALID_SIREN}").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": -1}, "amount"),
        ({"amount": 1e15}, "amount"),
        ({"amount": "a lot"}, "amount"),
        ({"terms_days": 400}, "terms_days"),
        ({"terms_days": 30.5}, "terms_days"),
        ({"explain": "perhaps"}, "explain"),
        ({"as_of": "1850-01-01"}, "as_of"),
        ({"as_of": "2026-02-30"}, "as_of"),
        ({"as_of": "2030-01-01"}, "as_of"),  # after the service's today
        ({"customer_id": ""}, "customer_id"),
        ({"customer_id": 42}, "customer_id"),
        ({"discount": 0.1}, "discount"),
    ],
)
def test_bad_fields_are_named(client: TestClient, change: dict[str, Any], field: str) -> None:
    response = client.post("/v1/score", json={"customer_id": "C00001", **change})
    assert response.status_code == 422, response.text
    assert _fields(response) == [field]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_amounts_are_refused(client: TestClient, number: str) -> None:
    body = '{"customer_id": "C00001", "amount": ' + number + "}"
    response = client.post("/v1/score", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert _fields(response) == ["amount"]


def test_bad_inline_company_fields(client: TestClient) -> None:
    company = {
        "name": "X",
        "naf_code": "4669B",
        "legal_form": "SARL",
        "headcount_band": "99",
        "share_capital": -5,
        "founded": "2020",
    }
    response = client.post("/v1/score", json={"company": company})
    assert response.status_code == 422
    assert set(_fields(response)) == {
        f"company.{name}"
        for name in ("naf_code", "legal_form", "headcount_band", "share_capital", "founded")
    }


def test_inline_company_created_after_the_decision_day(client: TestClient) -> None:
    company = {"name": "Future SAS", "creation_date": "2026-06-01"}
    response = client.post("/v1/score", json={"company": company})
    assert response.status_code == 422
    assert _fields(response) == ["company.creation_date"]


def test_a_day_before_a_known_company_was_created(client: TestClient) -> None:
    store = client.app.state.service.store  # type: ignore[attr-defined]
    siren = store.read("customer").set_index("customer_id").at["C00001", "siren"]
    created = store.read("company").set_index("siren").at[siren, "creation_date"].date()
    before = str(created - timedelta(days=1))
    for subject in ({"customer_id": "C00001"}, {"siren": siren}):
        refused = client.post("/v1/score", json={**subject, "as_of": before})
        assert refused.status_code == 422
        assert _fields(refused) == ["as_of"]
        assert f"was created ({created})" in refused.json()["message"]
        on_the_day = client.post("/v1/score", json={**subject, "as_of": str(created)})
        assert on_the_day.status_code == 200
    items = [{"customer_id": "C00002"}, {"customer_id": "C00001", "as_of": before}]
    response = client.post("/v1/score/batch", json={"items": items})
    assert response.status_code == 422
    assert _fields(response) == ["items[1].as_of"]


def test_two_different_sirens_for_one_subject(client: TestClient) -> None:
    other = "55210055" + luhn_check_digit("55210055")
    body = {"siren": VALID_SIREN, "company": {"name": "X", "siren": other}}
    response = client.post("/v1/score", json=body)
    assert response.status_code == 422
    assert "differ" in response.json()["message"] + str(response.json()["fields"])


def test_nobody_to_score(client: TestClient) -> None:
    response = client.post("/v1/score", json={"amount": 100})
    assert response.status_code == 422
    assert "customer_id, a siren or the company" in response.json()["message"] + str(
        response.json()["fields"]
    )


def test_bad_batch_items_name_their_position(client: TestClient) -> None:
    items = [{"customer_id": "C00001"}, {"customer_id": "C00002", "amount": -3}]
    response = client.post("/v1/score/batch", json={"items": items})
    assert response.status_code == 422
    assert _fields(response) == ["items[1].amount"]
    assert client.post("/v1/score/batch", json={"items": []}).status_code == 422
    assert client.post("/v1/score/batch", json=items).status_code == 422


@pytest.mark.parametrize("body", [b"not json", b'{"customer_id": "C00001"', b"\xff\xfe", b""])
def test_a_body_that_is_not_json_is_400_or_422(client: TestClient, body: bytes) -> None:
    response = client.post("/v1/score", content=body, headers={"content-type": "application/json"})
    assert response.status_code in {400, 422}, response.text
    assert response.json()["error"] in {"invalid_json", "invalid_request"}


def test_oversized_body_is_413(data_dir: Any, model_dir: Any) -> None:
    from service.app import create_app

    from .conftest import TODAY, service_settings, signed_in

    app = create_app(
        service_settings(data_dir, model_dir, max_body_bytes=2048), today=lambda: TODAY
    )
    with signed_in(app) as small:
        padding = "x" * 4096
        response = small.post("/v1/score", json={"customer_id": "C00001", "po_number": padding})
        assert response.status_code == 413
        assert response.json()["error"] == "body_too_large"

        def chunks() -> Any:  # no Content-Length: the limit still holds
            yield b'{"customer_id": "C00001", "po_number": "'
            for _ in range(10):
                yield b"x" * 512
            yield b'"}'

        response = small.post(
            "/v1/score", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert small.post("/v1/score", json={"customer_id": "C00001"}).status_code == 200

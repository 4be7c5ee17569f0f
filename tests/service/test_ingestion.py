"""ERP ingestion: idempotent writes, 409 naming the differing fields, Idempotency-Key replay,
bad rows named by field, all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from features.ledger import LedgerStore
from service.app import create_app
from service.ingestion import Idempotency, Ingestor
from service.records import migrate_service_tables
from tests.conftest import copy_database

from .conftest import TODAY, app_on_a_copy, service_settings, signed_in

INVOICE = {"customer_id": "C00001", "issue_date": "2025-11-03", "due_date": "2025-12-03",
           "amount": 1250.0, "po_number": "PO-77"}  # fmt: skip


@pytest.fixture
def erp(tmp_path: Path, data_dir: Path, model_dir: Path) -> Iterator[TestClient]:
    with signed_in(app_on_a_copy(tmp_path, data_dir, model_dir), roles=["erp"]) as client:
        yield client


def _store(client: TestClient) -> LedgerStore:
    store: LedgerStore = client.app.state.service.store  # type: ignore[attr-defined]
    return store


def _fields(response: Any) -> list[str]:
    return [f["field"] for f in response.json()["fields"]]


def test_an_invoice_is_stored_once(erp: TestClient) -> None:
    first = erp.put("/v1/invoices/API-1", json=INVOICE)
    assert first.status_code == 201, first.text
    assert first.json() == {"status": "created", "added": 1, "updated": 0, "ids": ["API-1"]}
    again = erp.put("/v1/invoices/API-1", json=INVOICE)
    assert again.status_code == 200
    assert again.json()["status"] == "unchanged"
    stored = _store(erp).read("invoice").set_index("invoice_id").loc["API-1"]
    assert (stored["amount"], stored["po_number"]) == (1250.0, "PO-77")
    assert stored["due_date"].date() == date(2025, 12, 3)
    assert stored["currency"] == "EUR"


def test_the_same_id_with_other_content_is_a_409_naming_the_fields(erp: TestClient) -> None:
    erp.put("/v1/invoices/API-2", json=INVOICE)
    before = _store(erp).snapshot()
    changed = {**INVOICE, "amount": 1300.0, "due_date": "2025-12-18"}
    conflict = erp.put("/v1/invoices/API-2", json=changed)
    assert conflict.status_code == 409
    assert conflict.json()["error"] == "conflicting_record"
    assert sorted(_fields(conflict)) == ["amount", "due_date"]
    assert "already stored with other contents" in conflict.json()["message"]
    after = _store(erp).snapshot()
    assert all(after[name].equals(before[name]) for name in before)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customer_id": "NOBODY"}, "customer_id"),
        ({"due_date": "2025-10-01"}, "due_date"),  # before the issue date
        ({"issue_date": "2026-03-01", "due_date": "2026-04-01"}, "issue_date"),  # future
        ({"amount": -5}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": 1e13}, "amount"),
        ({"currency": "euro"}, "currency"),
        ({"issue_date": "1850-01-01"}, "issue_date"),
        ({"issue_date": "03/11/2025"}, "issue_date"),
        ({"colour": "blue"}, "colour"),
        ({"amount": "lots"}, "amount"),
    ],
)
def test_bad_invoices_are_named_and_nothing_is_written(
    erp: TestClient, change: dict[str, Any], field: str
) -> None:
    before = _store(erp).count("invoice")
    response = erp.put("/v1/invoices/API-BAD", json={**INVOICE, **change})
    assert response.status_code == 422, response.text
    assert field in _fields(response)
    assert _store(erp).count("invoice") == before


def test_nan_amounts_are_refused(erp: TestClient) -> None:
    body = '{"customer_id": "C00001", "issue_date": "2025-11-03", "due_date": "2025-12-03", '
    response = erp.put(
        "/v1/invoices/API-NAN", content=body + '"amount": NaN}',
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert response.status_code in {400, 422}


def test_a_bulk_write_is_all_or_nothing_and_names_the_item(erp: TestClient) -> None:
    items = [{**INVOICE, "invoice_id": f"BULK-{i}"} for i in range(3)]
    items[1]["due_date"] = "2025-01-01"
    refused = erp.put("/v1/invoices", json={"items": items})
    assert refused.status_code == 422
    assert _fields(refused) == ["items[1].due_date"]
    assert not _store(erp).read("invoice")["invoice_id"].str.startswith("BULK-").any()

    items[1]["due_date"] = "2025-12-03"
    stored = erp.put("/v1/invoices", json={"items": items})
    assert stored.status_code == 201
    assert stored.json()["added"] == 3
    items[2]["amount"] = 99.0
    conflict = erp.put("/v1/invoices", json={"items": items})
    assert conflict.status_code == 409
    assert _fields(conflict) == ["items[2].amount"]


def test_payments_settle_invoices_idempotently(erp: TestClient) -> None:
    for invoice_id in ("PAY-A", "PAY-B"):
        erp.put(f"/v1/invoices/{invoice_id}", json=INVOICE)
    payment = {"payment_id": "VIR-1", "paid_date": "2025-12-10",
               "allocations": [{"invoice_id": "PAY-A", "amount": 1250.0},
                               {"invoice_id": "PAY-B", "amount": 500.0}]}  # fmt: skip
    first = erp.post("/v1/payments", json=payment)
    assert first.status_code == 201
    assert first.json()["added"] == 2
    assert erp.post("/v1/payments", json=payment).json()["status"] == "unchanged"
    rows = _store(erp).read("payment").query("payment_id == 'VIR-1'").sort_values("invoice_id")
    assert rows["amount"].tolist() == [1250.0, 500.0]
    assert set(rows["match_rule"]) == {"export"}

    over = {"payment_id": "VIR-2", "paid_date": "2025-12-11",
            "allocations": [{"invoice_id": "PAY-B", "amount": 900.0}]}  # fmt: skip
    refused = erp.post("/v1/payments", json=over)
    assert refused.status_code == 422
    assert "more than its amount" in refused.json()["message"]
    unknown = {"payment_id": "VIR-3", "paid_date": "2025-12-11",
               "allocations": [{"invoice_id": "GHOST", "amount": 10.0}]}  # fmt: skip
    response = erp.post("/v1/payments", json=unknown)
    assert response.status_code == 422
    assert _fields(response) == ["allocations[0].invoice_id"]
    changed = {**payment, "paid_date": "2025-12-12"}
    conflict = erp.post("/v1/payments", json=changed)
    assert conflict.status_code == 409
    assert "allocations[0].paid_date" in _fields(conflict)


def test_an_idempotency_key_answers_a_retry_once(erp: TestClient) -> None:
    erp.put("/v1/invoices/IDEM-1", json=INVOICE)
    payment = {"payment_id": "VIR-I", "paid_date": "2025-12-10",
               "allocations": [{"invoice_id": "IDEM-1", "amount": 100.0}]}  # fmt: skip
    key = {"Idempotency-Key": "erp-batch-0042"}
    first = erp.post("/v1/payments", json=payment, headers=key)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    replay = erp.post("/v1/payments", json=payment, headers=key)
    assert replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(_store(erp).read("payment").query("payment_id == 'VIR-I'")) == 1

    other = {**payment, "payment_id": "VIR-J"}
    reused = erp.post("/v1/payments", json=other, headers=key)
    assert reused.status_code == 422
    assert _fields(reused) == ["Idempotency-Key"]
    bulk = erp.post("/v1/payments/bulk", json={"items": [payment]}, headers=key)
    assert bulk.status_code == 422  # the same key on another endpoint


def test_customers_are_created_then_updated(erp: TestClient) -> None:
    created = erp.put("/v1/customers/NEW-1", json={"name": "Menuiserie Roux",
                                                    "siren": "552100554"})  # fmt: skip
    assert created.status_code == 201
    updated = erp.put("/v1/customers/NEW-1", json={"payer_email": "compta@roux.fr",
                                                    "preferred_channel": "email"})  # fmt: skip
    assert updated.status_code == 200
    assert updated.json()["status"] == "updated"
    stored = _store(erp).read("customer").set_index("customer_id").loc["NEW-1"]
    assert (stored["name"], stored["payer_email"]) == ("Menuiserie Roux", "compta@roux.fr")
    assert erp.put("/v1/customers/NEW-2", json={"siren": "552100555"}).status_code == 422
    assert (
        erp.put("/v1/invoices/NEW-INV", json={**INVOICE, "customer_id": "NEW-1"}).status_code == 201
    )


def test_ingested_invoices_count_in_the_next_score(erp: TestClient) -> None:
    erp.put("/v1/customers/FRESH", json={"name": "Nouveau"})
    before = erp.post("/v1/score", json={"customer_id": "FRESH"}).json()
    assert before["subject"]["prospect"] is True
    overdue = {**INVOICE, "customer_id": "FRESH", "issue_date": "2025-09-01",
               "due_date": "2025-10-01", "amount": 8000.0}  # fmt: skip
    assert erp.put("/v1/invoices/FRESH-1", json=overdue).status_code == 201
    after = erp.post("/v1/score", json={"customer_id": "FRESH", "amount": 1000}).json()
    assert after["subject"]["prospect"] is False
    terms = after["terms"]
    assert terms["available_credit"] == pytest.approx(max(terms["credit_limit"] - 8000.0, 0))


def test_ingestion_on_each_database(store: LedgerStore) -> None:
    """The same writes through the domain on SQLite and PostgreSQL."""
    migrate_service_tables(store.engine)
    ingestor = Ingestor(store, lambda: TODAY)
    ingestor.customers([{"customer_id": "K1", "name": "Un"}], caller="t", fields=[""])
    row = {**INVOICE, "customer_id": "K1", "invoice_id": "K1-1"}
    remembered = Idempotency("key1", "retry-1", "/v1/invoices", "digest")
    first = ingestor.invoices([row], caller="t", fields=[""], idempotency=remembered)
    replay = ingestor.invoices([row], caller="t", fields=[""], idempotency=remembered)
    assert (first.status_code, first.replayed) == (201, False)
    assert (replay.status_code, replay.replayed, replay.body) == (201, True, first.body)
    assert store.count("invoice") == 1


def test_payer_contacts_no_reminder_could_use(
    tmp_path: Path, data_dir: Path, model_dir: Path
) -> None:
    """Refused at ingestion with the field named; left out of the terms when a file had them."""
    copy_database(data_dir / "credit_risk.db", tmp_path / "credit_risk.db")
    app = create_app(service_settings(tmp_path, model_dir), today=lambda: TODAY)
    with signed_in(app, roles=["erp"]) as client:
        refused = client.put("/v1/customers/C00001", json={"payer_phone": "06 12 poste 4"})
        assert refused.status_code == 422
        assert _fields(refused) == ["payer_phone"]
        store = _store(client)
        stored = (
            store.read("customer")
            .query("customer_id == 'C00002'")
            .assign(
                payer_name="Mme Roux", payer_email="roux@", payer_phone="06 12 34 56 78 poste 12"
            )
        )
        store.write({"customer": stored}, "a file")  # importers accept any phone text
        scored = client.post("/v1/score", json={"customer_id": "C00002", "amount": 900})
        assert scored.status_code == 200, scored.text
        terms = repr(scored.json()["terms"])
        assert "Mme Roux" in terms  # the payer is still named in the reminders
        assert "poste 12" not in terms
        assert "roux@" not in terms


def test_one_id_twice_in_a_request_is_refused_when_its_contents_differ(erp: TestClient) -> None:
    items = [{**INVOICE, "invoice_id": f"TWICE-{i}"} for i in range(3)]
    items[2] = {**items[0], "amount": 980.0}
    refused = erp.put("/v1/invoices", json={"items": items})
    assert refused.status_code == 409
    assert _fields(refused) == ["items[2].amount"]  # as for an id stored with other contents
    assert "duplicate invoice_id TWICE-0" in refused.json()["message"]
    assert not _store(erp).read("invoice")["invoice_id"].str.startswith("TWICE-").any()

    items[2] = {**items[0]}  # the same invoice sent twice in one bulk: stored once
    stored = erp.put("/v1/invoices", json={"items": items})
    assert stored.status_code == 201
    assert stored.json()["added"] == 2
    assert (_store(erp).read("invoice")["invoice_id"] == "TWICE-0").sum() == 1

    erp.put("/v1/invoices/TWICE-3", json=INVOICE)
    payment = {"payment_id": "VIR-9", "paid_date": "2025-12-10",
               "allocations": [{"invoice_id": "TWICE-3", "amount": 250.0},
                               {"invoice_id": "TWICE-3", "amount": 400.0}]}  # fmt: skip
    response = erp.post("/v1/payments/bulk", json={"items": [payment]})
    assert response.status_code == 422
    assert _fields(response) == ["items[0].allocations[1].invoice_id"]
    assert "allocations[0]" in response.json()["message"]
    assert (_store(erp).read("payment")["payment_id"] == "VIR-9").sum() == 0
    payment["allocations"] = [{"invoice_id": "TWICE-3", "amount": 650.0}]
    assert erp.post("/v1/payments", json=payment).status_code == 201

"""Look-ups of a customer account or a company: registry profile, accounts, payment history."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

import pandas as pd

from features.ledger import LedgerStore
from features.siren import normalize_siren
from service.errors import UnknownCompany, UnknownCustomer
from service.portfolio import history_summary, ledger_for, read_by
from service.schemas import (
    AccountsOut,
    CompanyProfile,
    CompanyResponse,
    CustomerResponse,
    HistoryOut,
    LegalEventOut,
)

__all__ = ["company_profile", "customer_profile"]


def customer_profile(store: LedgerStore, customer_id: str, today: date) -> CustomerResponse:
    customers = read_by(store, "customer", "customer_id", [customer_id])
    if customers.empty:
        raise UnknownCustomer(customer_id)
    row = _record(customers.iloc[0])
    siren = row["siren"]
    ledger = ledger_for(store, customers, [])
    return CustomerResponse(
        customer_id=customer_id,
        siren=siren,
        name=row["name"],
        po_required=bool(row["po_required"]),
        preferred_channel=row["preferred_channel"],
        company=None if siren is None else _company(store, siren, today),
        history=HistoryOut(**asdict(history_summary(ledger.invoices, ledger.payments, today))),
    )


def company_profile(store: LedgerStore, siren_text: str, today: date) -> CompanyResponse:
    siren = normalize_siren(siren_text)
    customers = read_by(store, "customer", "siren", [siren])
    company = _company(store, siren, today)
    if company is None and customers.empty:
        raise UnknownCompany(siren)
    history = None
    if not customers.empty:
        ledger = ledger_for(store, customers, [])
        summary = history_summary(ledger.invoices, ledger.payments, today)
        history = HistoryOut(**asdict(summary))
    return CompanyResponse(
        company=company,
        customer_ids=sorted(customers["customer_id"].astype(str)),
        history=history,
    )


def _company(store: LedgerStore, siren: str, today: date) -> CompanyProfile | None:
    """The registry profile with what was public by `today` (accounts, legal events)."""
    found = read_by(store, "company", "siren", [siren])
    if found.empty:
        return None
    row = _record(found.iloc[0])
    day = pd.Timestamp(today)
    statements = read_by(store, "financial_statement", "siren", [siren])
    statements = statements[statements["publication_date"] <= day]
    events = read_by(store, "legal_event", "siren", [siren])
    events = events[events["event_date"] <= day].sort_values("event_date")
    return CompanyProfile(
        **{name: row[name] for name in CompanyProfile.model_fields if name in row},
        latest_accounts=_latest_accounts(statements),
        legal_events=[
            LegalEventOut(
                **{k: v for k, v in _record(e).items() if k in LegalEventOut.model_fields}
            )
            for _, e in events.iterrows()
        ],
    )


def _latest_accounts(statements: pd.DataFrame) -> AccountsOut | None:
    if statements.empty:
        return None
    latest = _record(statements.sort_values("fiscal_year_end").iloc[-1])
    return AccountsOut(**{name: latest[name] for name in AccountsOut.model_fields})


def _record(row: pd.Series) -> dict[str, Any]:
    """A row as plain Python values: missing values None, timestamps dates."""
    values: dict[str, Any] = {}
    for name, value in row.items():
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            values[str(name)] = None
        elif isinstance(value, pd.Timestamp):
            values[str(name)] = value.date()
        else:
            values[str(name)] = value.item() if hasattr(value, "item") else value
    return values

"""Find a company among the ledger's companies and customer accounts, by SIREN or by name.

A query of nine digits (spaces allowed) is a SIREN: an exact look-up, after the Luhn check. Any
other query is part of a name: the registry names starting with it come first (the name index
serves them), then names containing it, at most `limit` in all.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from features.ledger import LedgerStore
from features.ledger_tables import ledger_tables
from features.siren import normalize_siren

__all__ = ["CompanyMatch", "find_companies", "looks_like_siren"]

MAX_MATCHES = 20


@dataclass(frozen=True)
class CompanyMatch:
    """A company the ledger knows: from the registry, a customer account, or both."""

    siren: str | None
    name: str
    customer_id: str | None  # the first customer account of the company, if any
    is_sole_trader: bool
    ceased: bool


def looks_like_siren(query: str) -> bool:
    """Digits and spaces only: the user means a SIREN (which may still be invalid)."""
    compact = query.replace(" ", "").replace("\u00a0", "")
    return compact.isdigit()


def find_companies(store: LedgerStore, query: str, limit: int = MAX_MATCHES) -> list[CompanyMatch]:
    """Companies matching the query; raises InvalidSiren for a malformed SIREN."""
    text = query.strip()
    if not text:
        return []
    if looks_like_siren(text):
        return _by_siren(store, normalize_siren(text))
    return _by_name(store, text, limit)


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _matches(column: sa.ColumnElement[str], text: str, shape: str) -> sa.ColumnElement[bool]:
    """`column LIKE shape` ignoring case. SQLite's lower() leaves accented capitals alone, so
    the text is also tried as typed and with a capital first letter ("éta" finds
    "Établissements")."""
    forms = dict.fromkeys((text, text.lower(), text[:1].upper() + text[1:].lower()))
    lowered = sa.func.lower(column)
    return sa.or_(
        *(column.like(shape.format(_escaped(form)), escape="\\") for form in forms),
        lowered.like(shape.format(_escaped(text.lower())), escape="\\"),
    )


def _by_siren(store: LedgerStore, siren: str) -> list[CompanyMatch]:
    company, customer = ledger_tables["company"], ledger_tables["customer"]
    with store.connect() as connection:
        found = connection.execute(
            sa.select(company.c.name, company.c.is_sole_trader, company.c.status).where(
                company.c.siren == siren
            )
        ).one_or_none()
        account = connection.execute(
            sa.select(customer.c.customer_id, customer.c.name)
            .where(customer.c.siren == siren)
            .order_by(customer.c.customer_id)
            .limit(1)
        ).one_or_none()
    if found is None and account is None:
        return []
    name = (found.name if found is not None else None) or (account.name if account else None)
    return [
        CompanyMatch(
            siren=siren,
            name=str(name or siren),
            customer_id=account.customer_id if account is not None else None,
            is_sole_trader=bool(found.is_sole_trader) if found is not None else False,
            ceased=found is not None and found.status == "ceased",
        )
    ]


def _by_name(store: LedgerStore, text: str, limit: int) -> list[CompanyMatch]:
    company, customer = ledger_tables["company"], ledger_tables["customer"]
    first_account = (
        sa.select(sa.func.min(customer.c.customer_id))
        .where(customer.c.siren == company.c.siren)
        .scalar_subquery()
    )
    columns = (company.c.siren, company.c.name, company.c.is_sole_trader, company.c.status,
               first_account.label("customer_id"))  # fmt: skip
    starts = sa.select(*columns).where(_matches(company.c.name, text, "{}%"))
    contains = sa.select(*columns).where(
        _matches(company.c.name, text, "%{}%"), ~_matches(company.c.name, text, "{}%")
    )
    # Customer accounts whose company the registry does not hold (no SIREN, or an unknown one).
    orphan = (
        sa.select(customer.c.siren, customer.c.name, customer.c.customer_id)
        .where(
            _matches(customer.c.name, text, "%{}%"),
            sa.or_(
                customer.c.siren.is_(None),
                ~sa.exists().where(company.c.siren == customer.c.siren),
            ),
        )
        .order_by(customer.c.name)
        .limit(limit)
    )
    with store.connect() as connection:
        rows = list(connection.execute(starts.order_by(company.c.name).limit(limit)))
        if len(rows) < limit:
            rows += connection.execute(contains.order_by(company.c.name).limit(limit - len(rows)))
        orphans = list(connection.execute(orphan)) if len(rows) < limit else []
    matches = [
        CompanyMatch(
            siren=row.siren,
            name=str(row.name),
            customer_id=row.customer_id,
            is_sole_trader=bool(row.is_sole_trader),
            ceased=row.status == "ceased",
        )
        for row in rows
    ]
    matches += [
        CompanyMatch(row.siren, str(row.name or row.customer_id), row.customer_id, False, False)
        for row in orphans
    ]
    return matches[:limit]

"""From a score to recommended terms: the bridge between the model and the terms policy.

The customer's exposure (open and overdue amounts, oldest overdue invoice) comes from the same
point-in-time features the model scored, so the terms and the score see the same ledger on the
same day.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from features.contacts import EMAIL_PATTERN
from service.terms import OrderColumns, PayerContact, TermsPolicy, recommended_terms_json
from service.terms.request import PHONE_PATTERN

__all__ = ["COMPANY_FIELDS", "CUSTOMER_FIELDS", "TERMS_FEATURES", "recommended_terms"]

# What `recommended_terms` reads of the features, the company's registry row and the customer
# account.
TERMS_FEATURES = ("overdue_count", "open_amount", "overdue_amount", "oldest_overdue_days",
                  "prior_invoices", "relationship_days", "prior_amount_mean", "settled_count",
                  "known_late_share")  # fmt: skip
COMPANY_FIELDS = ("naf_code", "is_sole_trader")
CUSTOMER_FIELDS = ("preferred_channel", "payer_name", "payer_email", "payer_phone")

# A customer counts as a good payer (thanked after payment) with a record of this many settled
# invoices, almost none late.
_GOOD_PAYER_SETTLED = 5
_GOOD_PAYER_LATE_SHARE = 0.1
_DAYS_PER_MONTH = 30.44


def recommended_terms(
    policy: TermsPolicy,
    *,
    features: np.ndarray,
    grade: Sequence[str],
    p_severe: Sequence[float],
    amount: Sequence[float],
    terms_days: Sequence[int],
    as_of: Sequence[date],
    companies: Sequence[Mapping[str, Any]],
    customers: Sequence[Mapping[str, Any]],
) -> list[bytes]:
    """The policy's recommendation for each scored order, as its JSON. `features` has a row
    per order and a column per name of TERMS_FEATURES; `companies` and `customers` give each
    order's registry row and account (empty for a prospect)."""
    read = np.asarray(features, dtype=float)
    # A missing count or amount reads as none (NaN compares false: a missing late share is
    # not below any threshold).
    known = dict(zip(TERMS_FEATURES, np.where(np.isnan(read), 0.0, read).T, strict=True))
    late_share = read[:, TERMS_FEATURES.index("known_late_share")]
    overdue = known["overdue_count"].astype(int) > 0  # read as int() reads it: 0.5 is none
    count, days = known["prior_invoices"], known["relationship_days"]
    monthly = np.where(
        (count > 0) & (days > 0),
        known["prior_amount_mean"] * count / np.maximum(days / _DAYS_PER_MONTH, 1.0),
        np.nan,  # no history: a prospect, no usual amount
    )
    good_payer = (known["settled_count"] >= _GOOD_PAYER_SETTLED) & (
        late_share < _GOOD_PAYER_LATE_SHARE
    )
    orders = OrderColumns(
        grade=grade,
        p_severe=p_severe,
        order_amount=amount,
        requested=[(days, "invoice_date") for days in terms_days],
        open_amount=np.maximum(known["open_amount"], 0.0).tolist(),
        oldest_overdue_days=np.where(overdue, known["oldest_overdue_days"], 0).astype(int).tolist(),
        usual_monthly_amount=monthly,
        naf_code=[_text(company.get("naf_code")) for company in companies],
        supplier_naf_code=[None] * len(grade),
        is_sole_trader=[bool(company.get("is_sole_trader") or False) for company in companies],
        preferred_channel=[_text(customer.get("preferred_channel")) for customer in customers],
        payer=[_payer(customer) for customer in customers],
        good_payer=good_payer.tolist(),
        invoice_date=as_of,
    )
    return recommended_terms_json(orders, policy)


def _payer(customer: Mapping[str, Any]) -> PayerContact | None:
    """The payer as stored; an address or number no reminder can use (imported files hold
    anything, e.g. "06 12 34 56 78 poste 12") is left out rather than failing the score."""
    return _payer_of(
        customer.get("payer_name"), customer.get("payer_email"), customer.get("payer_phone")
    )


@functools.lru_cache(maxsize=4096)
def _payer_of(name: object, email: object, phone: object) -> PayerContact | None:
    """Checked once per stored contact: a batch names the same customers many times."""
    name, email, phone = _text(name), _text(email), _text(phone)
    email = email if email is not None and _EMAIL.fullmatch(email) else None
    phone = phone if phone is not None and _PHONE.fullmatch(phone) else None
    if not (name or email or phone):
        return None
    return _payer_contact(name, email, phone)


_EMAIL, _PHONE = re.compile(EMAIL_PATTERN), re.compile(PHONE_PATTERN)


@functools.lru_cache(maxsize=4096)
def _payer_contact(name: str | None, email: str | None, phone: str | None) -> PayerContact:
    """Validated once per contact: a batch names the same customers many times (frozen)."""
    return PayerContact(name=name, email=email, phone=phone)


def _text(value: object) -> str | None:
    if type(value) is str:  # the common case, checked first
        return value
    return None if value is None or pd.isna(value) else str(value)

"""From a score to recommended terms: the bridge between the model and the terms policy.

The customer's exposure (open and overdue amounts, oldest overdue invoice) comes from the same
point-in-time features the model scored, so the terms and the score see the same ledger on the
same day.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

import pandas as pd

from features.schemas import EMAIL_PATTERN
from service.terms import (
    PayerContact,
    RequestedTerms,
    TermsPolicy,
    TermsRequest,
    recommend_terms,
)
from service.terms.request import PHONE_PATTERN

__all__ = ["COMPANY_FIELDS", "CUSTOMER_FIELDS", "TERMS_FEATURES", "terms_for"]

# What `terms_for` reads of the features, the company's registry row and the customer account:
# a batch hands over only these, row by row.
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


def terms_for(
    policy: TermsPolicy,
    *,
    features: Mapping[str, float],
    grade: str,
    p_late: float,
    p_severe: float,
    amount: float,
    terms_days: int,
    as_of: date,
    company: Mapping[str, Any],
    customer: Mapping[str, Any],
) -> dict[str, Any]:
    """The policy's recommendation for one scored order, as JSON-ready data."""
    overdue_count = int(_number(features["overdue_count"]))
    open_amount = max(_number(features["open_amount"]), 0.0)
    request = TermsRequest(
        grade=grade,
        p_late=p_late,
        p_severe=p_severe,
        order_amount=amount,
        requested_terms=_requested(terms_days),
        open_amount=open_amount,
        overdue_amount=min(_number(features["overdue_amount"]), open_amount)
        if overdue_count else 0.0,
        overdue_count=overdue_count,
        oldest_overdue_days=int(_number(features["oldest_overdue_days"])) if overdue_count else 0,
        usual_monthly_amount=_usual_monthly_amount(features),
        naf_code=_text(company.get("naf_code")),
        is_sole_trader=bool(company.get("is_sole_trader") or False),
        preferred_channel=_text(customer.get("preferred_channel")),
        payer=_payer(customer),
        good_payer=_number(features["settled_count"]) >= _GOOD_PAYER_SETTLED
        and _number(features["known_late_share"], 1.0) < _GOOD_PAYER_LATE_SHARE,
        invoice_date=as_of,
    )  # fmt: skip
    return recommend_terms(request, policy, today=as_of).to_dict()


def _usual_monthly_amount(features: Mapping[str, float]) -> float | None:
    """What the customer is invoiced in a usual month, from its history (None: a prospect)."""
    count, days = _number(features["prior_invoices"]), _number(features["relationship_days"])
    if count <= 0 or days <= 0:
        return None
    return _number(features["prior_amount_mean"]) * count / max(days / _DAYS_PER_MONTH, 1.0)


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


@functools.lru_cache(maxsize=512)
def _requested(days: int) -> RequestedTerms:
    """Validated once per number of days (frozen): most orders ask for one of a few."""
    return RequestedTerms(days=days)


@functools.lru_cache(maxsize=4096)
def _payer_contact(name: str | None, email: str | None, phone: str | None) -> PayerContact:
    """Validated once per contact: a batch names the same customers many times (frozen)."""
    return PayerContact(name=name, email=email, phone=phone)


def _number(value: object, missing: float = 0.0) -> float:
    if type(value) is float:  # features come as floats: the common case, checked first
        return missing if math.isnan(value) else value
    number = float(value) if value is not None and not pd.isna(value) else missing  # type: ignore[arg-type]
    return missing if math.isnan(number) else number


def _text(value: object) -> str | None:
    return None if value is None or pd.isna(value) else str(value)

"""What `recommend_terms` returns: frozen, and JSON-friendly through `to_dict()`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from service.terms.law import DeadlineBasis
from service.terms.rules import DunningChannel, PaymentMethod, SettleRule, Tone

__all__ = [
    "Adjustment",
    "DunningStep",
    "LatePaymentInterest",
    "PaymentDeadline",
    "RecommendedTerms",
]


@dataclass(frozen=True, slots=True)
class PaymentDeadline:
    days: int
    basis: DeadlineBasis
    due_date: date


@dataclass(frozen=True, slots=True)
class DunningStep:
    """One reminder or action. `day_offset` counts from the due date (negative: before it);
    a thank-you step counts from the payment date instead (`trigger` "payment")."""

    day_offset: int
    channel: DunningChannel
    tone: Tone
    level: int
    to: str | None
    message_key: str
    scheduled_on: date | None  # None when it waits for the payment
    trigger: Literal["due_date", "payment"] = "due_date"


@dataclass(frozen=True, slots=True)
class LatePaymentInterest:
    """The late-payment penalty rate (percent a year) for the invoice's half-year."""

    rate_percent: Decimal
    rule: Literal["ecb_plus_10", "legal_floor", "contractual"]
    half_year: str
    ecb_rate_percent: Decimal
    legal_rate_percent: Decimal
    floor_percent: Decimal


@dataclass(frozen=True, slots=True)
class Adjustment:
    """Something asked for (by the request or the policy) that was changed, and why.

    `rule` is the article that forced it ("L441-10 I", "L441-11 II 1°") or "policy",
    "credit_limit", "dunning".
    """

    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class RecommendedTerms:
    grade: str
    deadline: PaymentDeadline
    deposit_percent: float
    deposit_amount: float
    prepayment_required: bool
    settle_before_new_order: SettleRule
    credit_limit: float
    available_credit: float  # the credit limit less the open amount, never below 0
    payment_method: PaymentMethod
    dunning_plan: tuple[DunningStep, ...]
    late_payment_interest: LatePaymentInterest
    recovery_indemnity_eur: int
    legal_notice: str
    review_required: bool
    review_reasons: tuple[str, ...]
    policy_version: str
    adjustments: tuple[Adjustment, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: dates as ISO strings, rates as floats, tuples as lists."""
        converted: dict[str, Any] = _jsonable(self)
        return converted


# A batch converts tens of thousands of results: each class's field names are looked up once,
# and the types met most often are recognised by their exact type first.
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_AS_IS = frozenset({str, int, float, bool, type(None)})


def _jsonable(value: Any) -> Any:
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is tuple or kind is list:
        return [item if type(item) in _AS_IS else _jsonable(item) for item in value]
    if kind is date:
        return value.isoformat()
    if kind is Decimal:
        return float(value)
    names = _FIELD_NAMES.get(kind)
    if names is None:
        if not dataclasses.is_dataclass(value) or isinstance(value, type):
            return _jsonable_other(value)
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(value))
    return {
        name: field if type(field := getattr(value, name)) in _AS_IS else _jsonable(field)
        for name in names
    }


def _jsonable_other(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value

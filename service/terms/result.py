"""What `recommend_terms` returns: frozen, and JSON-friendly through `to_dict()` and
`to_json()` (the JSON of `to_dict()`, byte for byte, as pydantic writes it)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic_core import to_json

from service.terms.law import DeadlineBasis
from service.terms.memo import by_identity
from service.terms.rules import DunningChannel, PaymentMethod, SettleRule, Tone

__all__ = [
    "Adjustment",
    "DunningStep",
    "LatePaymentInterest",
    "PaymentDeadline",
    "RecommendedTerms",
    "SharedTermsJson",
    "adjustment_json",
    "adjustments_json",
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
        """Plain JSON types: dates as ISO strings, rates as floats, tuples as lists.

        Spelled out field by field rather than walked generically: a batch converts tens of
        thousands of results. A test keeps it equal to the generic conversion of every field.
        """
        interest = self.late_payment_interest
        # The plan's steps and the interest are converted once per distinct value and copied:
        # a batch's results mostly share them, and each result gets dicts of its own.
        return {
            "grade": self.grade,
            "deadline": _deadline_as_dict(self.deadline),
            "deposit_percent": self.deposit_percent,
            "deposit_amount": self.deposit_amount,
            "prepayment_required": self.prepayment_required,
            "settle_before_new_order": self.settle_before_new_order,
            "credit_limit": self.credit_limit,
            "available_credit": self.available_credit,
            "payment_method": self.payment_method,
            "dunning_plan": [dict(step) for step in _steps_as_dicts(self.dunning_plan)],
            "late_payment_interest": dict(_interest_as_dict(interest)),
            "recovery_indemnity_eur": self.recovery_indemnity_eur,
            "legal_notice": self.legal_notice,
            "review_required": self.review_required,
            "review_reasons": list(self.review_reasons),
            "policy_version": self.policy_version,
            "adjustments": _adjustments_as_dicts(self.adjustments),
        }

    def to_json(self) -> bytes:
        """The JSON of `to_dict()`, made of the JSON of its parts, most of them shared."""
        shared = SharedTermsJson.of(
            self.grade, self.deadline, self.payment_method, self.dunning_plan,
            self.late_payment_interest, self.recovery_indemnity_eur, self.legal_notice,
            self.review_required, self.review_reasons, self.policy_version,
        )  # fmt: skip
        return shared.with_order(
            self.deposit_percent, self.deposit_amount, self.prepayment_required,
            self.settle_before_new_order, self.credit_limit, self.available_credit,
            adjustments_json(map(adjustment_json, self.adjustments)),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class SharedTermsJson:
    """The JSON of the fields that the orders of one grade, deadline, plan and notice share,
    written once: an order's own fields (deposit, credit, settlement, adjustments) are filled
    in between. A batch writes ten thousand recommendations; this costs a tenth of writing
    each one's dict."""

    head: bytes  # from the opening brace to the deposit percent's key
    tail: bytes  # from the payment method to the policy version

    @classmethod
    def of(
        cls,
        grade: str,
        deadline: PaymentDeadline,
        payment_method: PaymentMethod,
        dunning_plan: tuple[DunningStep, ...],
        late_payment_interest: LatePaymentInterest,
        recovery_indemnity_eur: int,
        legal_notice: str,
        review_required: bool,
        review_reasons: tuple[str, ...],
        policy_version: str,
    ) -> SharedTermsJson:
        return cls(
            _HEAD % (_json(grade), _deadline_json(deadline)),
            _TAIL % (
                _json(payment_method), _plan_json(dunning_plan),
                _interest_json(late_payment_interest), _number(recovery_indemnity_eur),
                _json(legal_notice), _TRUE if review_required else _FALSE,
                _json(review_reasons), _json(policy_version),
            ),
        )  # fmt: skip

    def with_order(
        self,
        deposit_percent: float,
        deposit_amount: float,
        prepayment_required: bool,
        settle_before_new_order: SettleRule,
        credit_limit: float,
        available_credit: float,
        adjustments: bytes,
    ) -> bytes:
        """One order's JSON; `adjustments` as `adjustments_json` writes them."""
        return _ORDER % (
            self.head, _number(deposit_percent), _number(deposit_amount),
            _TRUE if prepayment_required else _FALSE, _json(settle_before_new_order),
            _number(credit_limit), _number(available_credit), self.tail, adjustments,
        )  # fmt: skip


def adjustment_json(adjustment: Adjustment) -> bytes:
    return to_json(_adjustment_as_dict(adjustment))


def adjustments_json(written: Iterable[bytes]) -> bytes:
    """The JSON array of adjustments each written by `adjustment_json`."""
    return b"[%b]" % b",".join(written)


# The layout of `to_dict()`: the shared head, the order's own fields, the shared tail.
_HEAD = b'{"grade":%b,"deadline":%b,"deposit_percent":'
_ORDER = (
    b'%b%b,"deposit_amount":%b,"prepayment_required":%b,"settle_before_new_order":%b,'
    b'"credit_limit":%b,"available_credit":%b,%b,"adjustments":%b}'
)
_TAIL = (
    b'"payment_method":%b,"dunning_plan":%b,"late_payment_interest":%b,'
    b'"recovery_indemnity_eur":%b,"legal_notice":%b,"review_required":%b,"review_reasons":%b,'
    b'"policy_version":%b'
)
_TRUE, _FALSE = b"true", b"false"


def _number(value: float) -> bytes:
    # Python and pydantic write a float alike, but below 1e-4, where Python writes "1e-05"
    # and pydantic "0.00001"; ints alike.
    if type(value) is float and (value == 0.0 or 1e-4 <= abs(value) < 1e16):
        return repr(value).encode()
    return to_json(value)


@functools.lru_cache(maxsize=4096)
def _json(value: str | tuple[str, ...]) -> bytes:
    return to_json(value)


@by_identity(4096)
def _deadline_json(deadline: PaymentDeadline) -> bytes:
    return to_json(_deadline_as_dict(deadline))


@by_identity(4096)
def _plan_json(plan: tuple[DunningStep, ...]) -> bytes:
    return to_json(_steps_as_dicts(plan))


@by_identity(256)
def _interest_json(interest: LatePaymentInterest) -> bytes:
    return to_json(_interest_as_dict(interest))


def _deadline_as_dict(deadline: PaymentDeadline) -> dict[str, Any]:
    return {
        "days": deadline.days,
        "basis": deadline.basis,
        "due_date": deadline.due_date.isoformat(),
    }


def _adjustments_as_dicts(adjustments: tuple[Adjustment, ...]) -> list[dict[str, str]]:
    return [_adjustment_as_dict(adjustment) for adjustment in adjustments]


def _adjustment_as_dict(adjustment: Adjustment) -> dict[str, str]:
    return {"field": adjustment.field, "rule": adjustment.rule, "message": adjustment.message}


@functools.lru_cache(maxsize=4096)
def _steps_as_dicts(plan: tuple[DunningStep, ...]) -> tuple[dict[str, Any], ...]:
    return tuple(
        {
            "day_offset": step.day_offset,
            "channel": step.channel,
            "tone": step.tone,
            "level": step.level,
            "to": step.to,
            "message_key": step.message_key,
            "scheduled_on": None if step.scheduled_on is None else step.scheduled_on.isoformat(),
            "trigger": step.trigger,
        }
        for step in plan
    )


@functools.lru_cache(maxsize=256)
def _interest_as_dict(interest: LatePaymentInterest) -> dict[str, Any]:
    return {
        "rate_percent": float(interest.rate_percent),
        "rule": interest.rule,
        "half_year": interest.half_year,
        "ecb_rate_percent": float(interest.ecb_rate_percent),
        "legal_rate_percent": float(interest.legal_rate_percent),
        "floor_percent": float(interest.floor_percent),
    }

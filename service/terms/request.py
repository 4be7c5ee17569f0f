"""What `recommend_terms` needs to know about a customer and an order, validated and frozen;
`OrderColumns`, the same for many orders at once (`recommended_terms_json`)."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal, Self, get_args

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from features.contacts import EMAIL_PATTERN
from service.terms.law import DeadlineBasis, normalized_naf

__all__ = [
    "PHONE_PATTERN",
    "Grade",
    "OrderColumns",
    "PayerContact",
    "ReminderChannel",
    "RequestedTerms",
    "TermsRequest",
    "requested_deadline",
]

# The same values as features.grades.GRADES and features.schemas.REMINDER_CHANNELS, spelled out
# because a Literal needs literals; a test keeps them equal.
Grade = Literal["A", "B", "C", "D", "E"]
ReminderChannel = Literal["email", "sms", "phone", "letter"]

NafCode = Annotated[str, AfterValidator(normalized_naf)]
Probability = Annotated[float, Field(ge=0, le=1)]
# The bounds of amounts and requested days, which `OrderColumns` checks too.
_MOST_EUROS = 1e10
_MOST_DAYS = 3650
Euros = Annotated[float, Field(ge=0, le=_MOST_EUROS)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# Where a reminder can go: an address with a domain (as the ledger checks it), a phone number
# a person can dial.
PHONE_PATTERN = r"^\+?[0-9 .()-]{6,20}$"


class PayerContact(_Input):
    """Who pays the customer's invoices, when known: where the reminders go."""

    name: str | None = None
    email: Annotated[str, Field(pattern=EMAIL_PATTERN)] | None = None
    phone: Annotated[str, Field(pattern=PHONE_PATTERN)] | None = None


class RequestedTerms(_Input):
    """The terms a customer asks for: a number of days and how they are counted."""

    days: Annotated[int, Field(ge=0, le=_MOST_DAYS)]
    basis: DeadlineBasis = "invoice_date"


class TermsRequest(_Input):
    """A customer, an order and the model's risk, for one recommendation."""

    grade: Grade
    p_late: Probability
    p_severe: Probability
    order_amount: Euros
    requested_terms: RequestedTerms | None = None
    open_amount: Euros = 0.0  # current exposure: everything invoiced and not yet paid
    overdue_amount: Euros = 0.0
    overdue_count: Annotated[int, Field(ge=0)] = 0
    oldest_overdue_days: Annotated[int, Field(ge=0)] = 0
    usual_monthly_amount: Euros | None = None  # None for a prospect
    naf_code: NafCode | None = None  # the customer's activity
    supplier_naf_code: NafCode | None = None  # what is sold: the sector caps follow it first
    is_sole_trader: bool = False
    preferred_channel: ReminderChannel | None = None
    payer: PayerContact | None = None
    good_payer: bool = False
    invoice_date: date | None = None  # the invoice or order date; None: today

    @model_validator(mode="after")
    def _overdue_is_part_of_open(self) -> Self:
        if self.overdue_amount > self.open_amount:
            raise ValueError("overdue_amount cannot exceed open_amount (overdue invoices are open)")
        if self.overdue_count == 0 and (self.overdue_amount or self.oldest_overdue_days):
            raise ValueError("overdue_amount and oldest_overdue_days need overdue_count > 0")
        return self


@dataclass(frozen=True, slots=True)
class OrderColumns:
    """What the terms of many orders are decided on: the fields of a `TermsRequest` that the
    decisions read, one column each, an entry per order, in the same units. `requested` holds
    (days, basis) or None for the policy's deadline; `usual_monthly_amount` NaN for a
    prospect. `checked_rows` checks every entry as a `TermsRequest` checks its field."""

    grade: Sequence[str]
    p_severe: Sequence[float]
    order_amount: Sequence[float]
    requested: Sequence[tuple[int, DeadlineBasis] | None]
    open_amount: Sequence[float]
    oldest_overdue_days: Sequence[int]
    usual_monthly_amount: Sequence[float] | np.ndarray
    naf_code: Sequence[str | None]
    supplier_naf_code: Sequence[str | None]
    is_sole_trader: Sequence[bool]
    preferred_channel: Sequence[str | None]
    payer: Sequence[PayerContact | None]
    good_payer: Sequence[bool]
    invoice_date: Sequence[date]

    @classmethod
    def of(cls, requests: Sequence[TermsRequest], today: date) -> OrderColumns:
        """The columns of these requests; `today` stands for a missing invoice date."""
        return cls(
            grade=[r.grade for r in requests],
            p_severe=[r.p_severe for r in requests],
            order_amount=[r.order_amount for r in requests],
            requested=[requested_deadline(r.requested_terms) for r in requests],
            open_amount=[r.open_amount for r in requests],
            oldest_overdue_days=[r.oldest_overdue_days for r in requests],
            usual_monthly_amount=[
                np.nan if r.usual_monthly_amount is None else r.usual_monthly_amount
                for r in requests
            ],
            naf_code=[r.naf_code for r in requests],
            supplier_naf_code=[r.supplier_naf_code for r in requests],
            is_sole_trader=[r.is_sole_trader for r in requests],
            preferred_channel=[r.preferred_channel for r in requests],
            payer=[r.payer for r in requests],
            good_payer=[r.good_payer for r in requests],
            invoice_date=[r.invoice_date or today for r in requests],
        )

    def checked_rows(self) -> Iterator[tuple[Any, ...]]:
        """Each order's values, in the order of the columns (NAF codes normalized, a missing
        usual amount as None); ValueError naming the first order and field out of bounds."""
        count = len(self.grade)
        for name in self.__slots__:
            if len(getattr(self, name)) != count:
                raise ValueError(
                    f"column {name} has {len(getattr(self, name))} entries, not {count}"
                )
        monthly = np.asarray(self.usual_monthly_amount, dtype=float)
        _check_bounds(
            np.array(
                [self.p_severe, self.order_amount, self.open_amount, self.oldest_overdue_days,
                 monthly],
                dtype=float,
            ).reshape(len(_BOUNDED), count)
        )  # fmt: skip
        for index, (grade, channel, requested) in enumerate(
            zip(self.grade, self.preferred_channel, self.requested, strict=True)
        ):
            if grade not in _GRADES:
                raise ValueError(f"order {index}: grade {grade!r} is not one of A to E")
            if channel not in _CHANNELS:
                raise ValueError(f"order {index}: preferred_channel {channel!r} is not a channel")
            if requested is not None and not (
                0 <= requested[0] <= _MOST_DAYS and requested[1] in _BASES
            ):
                raise ValueError(
                    f"order {index}: requested terms {requested!r} are not 0 to {_MOST_DAYS} "
                    "days from the invoice date or end of month"
                )
        return zip(
            self.grade, self.p_severe, self.order_amount, self.requested, self.open_amount,
            self.oldest_overdue_days, [None if m != m else m for m in monthly.tolist()],
            [_naf(code, "naf_code", i) for i, code in enumerate(self.naf_code)],
            [_naf(code, "supplier_naf_code", i) for i, code in enumerate(self.supplier_naf_code)],
            self.is_sole_trader, self.preferred_channel, self.payer, self.good_payer,
            self.invoice_date, strict=True,
        )  # fmt: skip


_GRADES = frozenset(get_args(Grade))
_CHANNELS = frozenset([*get_args(ReminderChannel), None])
_BASES = frozenset(get_args(DeadlineBasis))


# The numeric columns and their bounds, in the order `checked_rows` stacks them; the last one
# may be missing (NaN, for None).
_BOUNDED = ("p_severe", "order_amount", "open_amount", "oldest_overdue_days",
            "usual_monthly_amount")  # fmt: skip
_LOW = np.array([[0.0], [0.0], [0.0], [0.0], [0.0]])
_HIGH = np.array([[1.0], [_MOST_EUROS], [_MOST_EUROS], [np.inf], [_MOST_EUROS]])


def _check_bounds(values: np.ndarray) -> None:
    """ValueError naming the first order (then column) out of bounds; NaN is out, but in the
    last column. One test over the stacked columns: a round of a few orders costs a few
    microseconds."""
    inside = (values >= _LOW) & (values <= _HIGH)
    inside[-1] |= np.isnan(values[-1])
    if inside.all():
        return
    column, order = min(zip(*np.nonzero(~inside), strict=True), key=lambda at: (at[1], at[0]))
    name, value = _BOUNDED[column], float(values[column, order])
    low, high = float(_LOW[column, 0]), float(_HIGH[column, 0])
    raise ValueError(f"order {order}: {name} {value!r} is not within [{low}, {high}]")


def requested_deadline(requested: RequestedTerms | None) -> tuple[int, DeadlineBasis] | None:
    """Requested terms as the decisions take them: (days, basis), or None for the policy's."""
    return None if requested is None else (requested.days, requested.basis)


def _naf(code: str | None, name: str, index: int) -> str | None:
    if code is None:
        return None
    try:
        return _normalized(code)
    except ValueError as error:
        raise ValueError(f"order {index}: {name}: {error}") from None


@functools.lru_cache(maxsize=4096)
def _normalized(code: str) -> str:
    return normalized_naf(code)

"""What `recommend_terms` needs to know about a customer and an order, validated and frozen."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from features.schemas import EMAIL_PATTERN
from service.terms.law import DeadlineBasis, normalized_naf

__all__ = [
    "PHONE_PATTERN",
    "Grade",
    "PayerContact",
    "ReminderChannel",
    "RequestedTerms",
    "TermsRequest",
]

# The same values as features.grades.GRADES and features.schemas.REMINDER_CHANNELS, spelled out
# because a Literal needs literals; a test keeps them equal.
Grade = Literal["A", "B", "C", "D", "E"]
ReminderChannel = Literal["email", "sms", "phone", "letter"]

NafCode = Annotated[str, AfterValidator(normalized_naf)]
Probability = Annotated[float, Field(ge=0, le=1)]
Euros = Annotated[float, Field(ge=0, le=1e10)]


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

    days: Annotated[int, Field(ge=0, le=3650)]
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

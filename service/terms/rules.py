"""The terms a policy gives one grade, as frozen data: what `recommend_terms` reads.

These are built from a validated policy file (`service.terms.policy`); constructing them by hand
skips that validation, so tests and notebooks should go through `TermsPolicy.from_dict`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from service.terms.law import DeadlineBasis, PenaltyRate, due_date, penalty_rate

__all__ = [
    "DUNNING_CHANNELS",
    "LEGAL_CHANNELS",
    "PAYMENT_METHODS",
    "SETTLE_RULES",
    "TONES",
    "CreditLimitRule",
    "Deadline",
    "DunningChannel",
    "DunningRule",
    "GradePolicy",
    "GradeTerms",
    "HalfYearRates",
    "PaymentMethod",
    "SettleRule",
    "Tone",
]

DunningChannel = Literal[
    "email", "sms", "phone", "letter", "formal_notice", "injunction", "collection_agency"
]
DUNNING_CHANNELS: tuple[DunningChannel, ...] = (
    "email", "sms", "phone", "letter", "formal_notice", "injunction", "collection_agency",
)  # fmt: skip
# After a formal notice (mise en demeure) only: a court injunction or a collection agency.
LEGAL_CHANNELS: tuple[DunningChannel, ...] = ("injunction", "collection_agency")
Tone = Literal["friendly", "firm", "formal", "legal"]
TONES: tuple[Tone, ...] = ("friendly", "firm", "formal", "legal")  # in escalating order
SettleRule = Literal["none", "overdue", "all_open"]
SETTLE_RULES: tuple[SettleRule, ...] = ("none", "overdue", "all_open")  # in escalating order
PaymentMethod = Literal["bank_transfer", "sepa_direct_debit", "card", "prepayment"]
PAYMENT_METHODS: tuple[PaymentMethod, ...] = (
    "bank_transfer", "sepa_direct_debit", "card", "prepayment",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Deadline:
    """A payment deadline: `days` counted from the invoice date or from the end of its month."""

    days: int
    basis: DeadlineBasis

    def due_date(self, invoice_date: date) -> date:
        return due_date(invoice_date, self.days, self.basis)

    def describe(self) -> str:
        if self.basis == "end_of_month":
            return f"{self.days} days end of month"
        return f"{self.days} days from the invoice date"


@dataclass(frozen=True, slots=True)
class CreditLimitRule:
    """A multiple of the customer's usual monthly amount, never above an absolute cap (EUR)."""

    monthly_multiple: float
    cap: float

    def limit_for(self, monthly_amount: float) -> float:
        # Whole euros, rounded down: a limit is a ceiling.
        return float(math.floor(min(self.monthly_multiple * monthly_amount, self.cap)))


@dataclass(frozen=True, slots=True)
class DunningRule:
    """One step of a dunning plan, `day_offset` days from the due date (negative: before)."""

    day_offset: int
    channel: DunningChannel
    tone: Tone
    level: int
    message_key: str


@dataclass(frozen=True, slots=True)
class GradeTerms:
    """Everything the policy gives one grade for one amount band."""

    deadline: Deadline
    deposit_percent: float
    prepayment: bool
    settle_before_new_order: SettleRule
    payment_method: PaymentMethod
    credit_limit: CreditLimitRule
    dunning: tuple[DunningRule, ...]


@dataclass(frozen=True, slots=True)
class GradePolicy:
    """A grade's terms: the base terms, then the terms of each band from its lower amount."""

    grade: str
    base: GradeTerms
    bands: tuple[tuple[float, GradeTerms], ...] = ()  # (from_amount, terms), increasing

    def terms_for(self, amount: float) -> GradeTerms:
        terms = self.base
        for from_amount, band_terms in self.bands:
            if amount >= from_amount:
                terms = band_terms
        return terms

    def path_for(self, amount: float) -> str:
        """Where the terms in force at `amount` are written in the policy file."""
        path = f"grades.{self.grade}"
        for index, (from_amount, _) in enumerate(self.bands):
            if amount >= from_amount:
                path = f"grades.{self.grade}.bands[{index}]"
        return path


@dataclass(frozen=True, slots=True)
class HalfYearRates:
    """The rates in force on 1 January (H1) or 1 July (H2), in percent."""

    ecb_rate: Decimal
    legal_rate_professionals: Decimal
    penalty_rate: Decimal | None = None  # a contractual rate, when the supplier sets one

    def penalty(self) -> PenaltyRate:
        """The late-payment rate these rates give, and the rule that sets it."""
        return penalty_rate(self.ecb_rate, self.legal_rate_professionals, self.penalty_rate)

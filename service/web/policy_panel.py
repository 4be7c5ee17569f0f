"""What the model card says of the terms policy: its version, the late-payment penalty it
prints today, and the rates it lacks (the half-year in force, or the next one within a month)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from service.terms import TermsPolicy
from service.terms.rates_due import MissingRates, missing_rates

__all__ = ["PolicyPanel", "policy_panel"]


@dataclass(frozen=True)
class PolicyPanel:
    version: str
    source: str
    description: str
    half_year: str  # whose rates recommendations take today
    penalty_percent: Decimal
    rule: str  # "ecb_plus_10", "legal_floor" or "contractual"
    missing: list[MissingRates]


def policy_panel(policy: TermsPolicy | None, today: date) -> PolicyPanel | None:
    if policy is None:
        return None
    half_year, rates, _ = policy.rates_for(today)
    rate = rates.penalty()
    return PolicyPanel(
        policy.version, policy.source, policy.description, half_year, rate.percent, rate.rule,
        missing_rates(policy, today),
    )  # fmt: skip

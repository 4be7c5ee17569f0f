"""Which late-payment rates a policy still lacks: the half-year in force and the next one.

The rates change twice a year (the ECB rate in force on 1 January or 1 July, and the legal
interest rate set by arrêté for each half-year), so a policy runs out of rates on a known day.
A recommendation for a half-year the policy lacks uses the latest earlier rates and is flagged
for review; these notes say so before and after that day, for the analyst (`credit-risk policy
check`), readiness, `GET /v1/policy` and the metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from service.terms.law import half_year_of, half_year_start
from service.terms.policy import TermsPolicy

__all__ = ["WARN_DAYS_BEFORE", "MissingRates", "missing_rates", "rates_days_left"]

# How long before a half-year starts its missing rates are announced: the arrêté is published
# in the last days of the half-year before, the ECB rate is known weeks ahead.
WARN_DAYS_BEFORE = 31


@dataclass(frozen=True, slots=True)
class MissingRates:
    """A half-year the policy has no rates for, and the rates used instead."""

    half_year: str  # "2027-H1"
    starts: date
    used: str  # the half-year whose rates recommendations take instead
    policy_version: str
    today: date

    @property
    def in_force(self) -> bool:
        return self.starts <= self.today

    def message(self) -> str:
        add = (
            f"add [interest_rates.{self.half_year}] with the ECB main refinancing rate in force "
            f"on {_day(self.starts)} and the legal interest rate for professionals of that "
            f"half-year (L441-10 II)"
        )
        if self.in_force:
            return (
                f"policy {self.policy_version} has no late-payment rates for {self.half_year} "
                f"(since {_day(self.starts)}): recommendations use those of {self.used} and are "
                f"flagged for review; {add}"
            )
        days = (self.starts - self.today).days
        return (
            f"policy {self.policy_version} has no late-payment rates for {self.half_year}, "
            f"which starts on {_day(self.starts)} (in {days} day{'s' if days != 1 else ''}): "
            f"{add}, or recommendations from that day will use those of {self.used} and be "
            f"flagged for review"
        )


def missing_rates(
    policy: TermsPolicy, today: date, *, warn_days: int = WARN_DAYS_BEFORE
) -> list[MissingRates]:
    """The half-year in force if the policy lacks its rates, and the next one if it starts
    within `warn_days` and the policy lacks its rates, in that order."""
    gaps = []
    for starts in (_start_of(today), _next_start(today)):
        if (starts - today).days > warn_days:  # the next one, not due yet
            continue
        if half_year_of(starts) in policy.interest_rates:
            continue
        used, _, _ = policy.rates_for(starts)
        gaps.append(MissingRates(half_year_of(starts), starts, used, policy.version, today))
    return gaps


def rates_days_left(policy: TermsPolicy, today: date) -> int:
    """Days from `today` to the first day without rates (0: the half-year in force lacks
    them). Looks no further than the half-year after next: when all three have rates, the
    days to the end of the third."""
    starts = _start_of(today)
    for _ in range(3):
        if half_year_of(starts) not in policy.interest_rates:
            return max((starts - today).days, 0)
        starts = _next_start(starts)
    return (starts - today).days


def _start_of(day: date) -> date:
    return half_year_start(half_year_of(day))


def _next_start(day: date) -> date:
    return date(day.year, 7, 1) if day.month <= 6 else date(day.year + 1, 1, 1)


def _day(day: date) -> str:
    return f"{day.day} {('January', 'July')[day.month > 6]} {day.year}"  # a half-year's start

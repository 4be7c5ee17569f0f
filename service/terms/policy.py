"""A terms policy: a versioned file an analyst edits, loaded whole or refused whole.

`load_policy(path)` reads TOML; `TermsPolicy.from_dict` takes the same content as a mapping. Both
check the shape of every key (`policy_file`), then the law, consistency and monotonicity across
grades (`policy_checks`), and raise `InvalidPolicy` listing every problem with its key path.
`default_policy()` is the policy shipped with the package (`default_policy.toml`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from features.grades import GRADES
from service.terms import policy_checks
from service.terms.errors import InvalidPolicy, PolicyProblem
from service.terms.law import half_year_of, parse_half_year
from service.terms.policy_file import (
    BandFile,
    CreditLimitFile,
    DunningStepFile,
    GradeFile,
    PolicyFile,
    parse_policy_file,
)
from service.terms.rules import (
    CreditLimitRule,
    Deadline,
    DunningRule,
    GradePolicy,
    GradeTerms,
    HalfYearRates,
)

__all__ = [
    "DEFAULT_POLICY_FILE",
    "TermsPolicy",
    "default_policy",
    "default_policy_text",
    "load_policy",
]

DEFAULT_POLICY_FILE = "default_policy.toml"
T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class TermsPolicy:
    """A validated policy: per-grade terms (with amount bands), rates per half-year, version."""

    version: str
    grades: Mapping[str, GradePolicy]
    interest_rates: Mapping[str, HalfYearRates]
    settle_overdue_after_days: int | None = None
    prepayment_from_p_severe: float | None = None
    description: str = ""
    source: str = "policy"  # the file it came from, for messages
    document: Mapping[str, Any] = field(default_factory=dict)  # the file's content, as read

    def terms_for(self, grade: str, amount: float) -> GradeTerms:
        return self.grades[grade].terms_for(amount)

    def rates_for(self, invoice_date: date) -> tuple[str, HalfYearRates, bool]:
        """The rates of the invoice's half-year: (key, rates, True), or else the nearest known
        half-year, the latest earlier one first: (key, rates, False)."""
        wanted = half_year_of(invoice_date)
        if wanted in self.interest_rates:
            return wanted, self.interest_rates[wanted], True
        keys, wanted_order = self.half_years(), _calendar_order(wanted)
        earlier = [key for key in keys if _calendar_order(key) < wanted_order]
        nearest = earlier[-1] if earlier else keys[0]
        return nearest, self.interest_rates[nearest], False

    def half_years(self) -> list[str]:
        """The half-years the policy has rates for, in calendar order."""
        return sorted(self.interest_rates, key=_calendar_order)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "policy") -> TermsPolicy:
        """Validate a policy given as a mapping (the content of the TOML file)."""
        if not isinstance(data, Mapping):
            raise InvalidPolicy(source, [PolicyProblem("", "a policy must be a table of keys")])
        parsed = parse_policy_file(data)
        if isinstance(parsed, list):
            raise InvalidPolicy(source, parsed)
        policy = _build(parsed, source, data)
        problems = policy_checks.rate_problems(policy.interest_rates)
        for grade in GRADES:
            problems += policy_checks.band_problems(grade, getattr(parsed.grades, grade).bands)
            problems += policy_checks.terms_problems(policy.grades[grade])
        if not problems:  # monotonicity compares terms that must first be right one by one
            problems += policy_checks.monotonicity_problems(policy.grades)
        if problems:
            raise InvalidPolicy(source, problems)
        return policy


def _calendar_order(half_year: str) -> tuple[int, int]:
    return parse_half_year(half_year) or (0, 0)


def load_policy(path: str | Path) -> TermsPolicy:
    """Read and validate a TOML policy file; `InvalidPolicy` if unreadable, malformed or wrong."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidPolicy(source, [PolicyProblem("", f"cannot be read: {error}")]) from error
    return _from_toml(text, source)


def default_policy() -> TermsPolicy:
    """The policy shipped with the package."""
    return _from_toml(default_policy_text(), f"service/terms/{DEFAULT_POLICY_FILE}")


def default_policy_text() -> str:
    """The shipped policy's file, comments included: what an analyst starts from."""
    return resources.files("service.terms").joinpath(DEFAULT_POLICY_FILE).read_text("utf-8")


def _from_toml(text: str, source: str) -> TermsPolicy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidPolicy(source, [PolicyProblem("", f"not valid TOML: {error}")]) from error
    return TermsPolicy.from_dict(data, source=source)


def _build(parsed: PolicyFile, source: str, document: Mapping[str, Any]) -> TermsPolicy:
    grades = {grade: _grade_policy(grade, getattr(parsed.grades, grade)) for grade in GRADES}
    rates = {
        key: HalfYearRates(
            ecb_rate=_decimal(rate.ecb_rate),
            legal_rate_professionals=_decimal(rate.legal_rate_professionals),
            penalty_rate=None if rate.penalty_rate is None else _decimal(rate.penalty_rate),
        )
        for key, rate in parsed.interest_rates.items()
    }
    overdue, severe = parsed.overdue, parsed.severe_risk
    return TermsPolicy(
        version=parsed.version,
        grades=MappingProxyType(grades),
        interest_rates=MappingProxyType(rates),
        settle_overdue_after_days=overdue.settle_first_after_days if overdue else None,
        prepayment_from_p_severe=severe.prepayment_from_p_severe if severe else None,
        description=parsed.description,
        source=source,
        document=MappingProxyType(dict(document)),
    )


def _decimal(value: float) -> Decimal:
    # Through str: 2.15 stays 2.15 rather than the binary float's 2.149999...
    return Decimal(str(value))


def _grade_policy(grade: str, grade_file: GradeFile) -> GradePolicy:
    base = GradeTerms(
        deadline=Deadline(grade_file.deadline.days, grade_file.deadline.basis),
        deposit_percent=grade_file.deposit_percent,
        prepayment=grade_file.prepayment,
        settle_before_new_order=grade_file.settle_before_new_order,
        payment_method=grade_file.payment_method,
        credit_limit=_credit_limit(grade_file.credit_limit),
        dunning=_dunning(grade_file.dunning),
    )
    bands = []
    terms = base
    # Bands are cumulative: each replaces only the keys it sets in the terms of the band below.
    # (Bands out of amount order are refused by policy_checks.band_problems.)
    for band in grade_file.bands:
        terms = _apply_band(terms, band)
        bands.append((band.from_amount, terms))
    return GradePolicy(grade, base, tuple(bands))


def _apply_band(terms: GradeTerms, band: BandFile) -> GradeTerms:
    deadline = Deadline(band.deadline.days, band.deadline.basis) if band.deadline else None
    return GradeTerms(
        deadline=_or(deadline, terms.deadline),
        deposit_percent=_or(band.deposit_percent, terms.deposit_percent),
        prepayment=_or(band.prepayment, terms.prepayment),
        settle_before_new_order=band.settle_before_new_order or terms.settle_before_new_order,
        payment_method=band.payment_method or terms.payment_method,
        credit_limit=_credit_limit(band.credit_limit) if band.credit_limit else terms.credit_limit,
        dunning=_dunning(band.dunning) if band.dunning else terms.dunning,
    )


def _or(value: T | None, default: T) -> T:
    return default if value is None else value


def _credit_limit(rule: CreditLimitFile) -> CreditLimitRule:
    return CreditLimitRule(rule.monthly_multiple, rule.cap)


def _dunning(steps: list[DunningStepFile]) -> tuple[DunningRule, ...]:
    return tuple(
        DunningRule(step.day_offset, step.channel, step.tone, step.level, step.message_key)
        for step in steps
    )

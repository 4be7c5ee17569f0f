"""The rules of a policy that span several keys: the law, consistency, and risk monotonicity.

Each check returns problems rather than raising, so that an analyst sees every mistake of a
file at once. A policy that would need capping by L441-10 is refused here rather than capped
silently: the analyst should know that the file says something the law forbids. Sector caps
(L441-11) depend on the customer and are applied per recommendation instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import pairwise

from features.grades import GRADES
from service.terms.errors import PolicyProblem
from service.terms.law import general_cap_days, parse_half_year, penalty_floor
from service.terms.policy_file import BandFile
from service.terms.rules import (
    LEGAL_CHANNELS,
    SETTLE_RULES,
    TONES,
    Deadline,
    DunningRule,
    GradePolicy,
    GradeTerms,
    HalfYearRates,
)

__all__ = [
    "band_problems",
    "deadline_is_softer",
    "escalation_days",
    "monotonicity_problems",
    "rate_problems",
    "terms_problems",
]

_REMINDER_CHANNELS = ("email", "sms", "phone", "letter")
_MONOTONE = "a riskier grade must not get softer terms than a safer one"


def rate_problems(rates: Mapping[str, HalfYearRates]) -> list[PolicyProblem]:
    problems = []
    for key, rate in rates.items():
        path = f"interest_rates.{key}"
        if parse_half_year(key) is None:
            problems.append(PolicyProblem(path, "not a half-year: write it like 2026-H1"))
        floor = penalty_floor(rate.legal_rate_professionals)
        if rate.penalty_rate is not None and rate.penalty_rate < floor:
            problems.append(
                PolicyProblem(
                    f"{path}.penalty_rate",
                    f"{rate.penalty_rate} % is below the legal floor of 3 x "
                    f"{rate.legal_rate_professionals} % = {floor} % (Code de commerce L441-10 II)",
                )
            )
    return problems


def band_problems(grade: str, bands: Sequence[BandFile]) -> list[PolicyProblem]:
    problems = []
    for index, band in enumerate(bands):
        path = f"grades.{grade}.bands[{index}]"
        if index and band.from_amount <= bands[index - 1].from_amount:
            problems.append(
                PolicyProblem(
                    f"{path}.from_amount",
                    f"bands must rise in amount: {band.from_amount} comes after "
                    f"{bands[index - 1].from_amount}",
                )
            )
        if not band.model_fields_set - {"from_amount"}:
            problems.append(PolicyProblem(path, "the band changes nothing"))
    return problems


def terms_problems(grade_policy: GradePolicy) -> list[PolicyProblem]:
    """The law and consistency of a grade's terms, in its base and in each band.

    A band inherits the keys it does not set, so a problem of the base terms is reported once,
    at the base, and not again for every band.
    """
    problems = []
    reported: set[tuple[str, str]] = set()
    paths = [f"grades.{grade_policy.grade}"] + [
        f"grades.{grade_policy.grade}.bands[{i}]" for i in range(len(grade_policy.bands))
    ]
    all_terms = [grade_policy.base] + [terms for _, terms in grade_policy.bands]
    for path, terms in zip(paths, all_terms, strict=True):
        found = set(_terms_problems(terms))
        for key, message in sorted(found - reported):
            problems.append(PolicyProblem(f"{path}.{key}", message))
        reported = found
    return problems


def _terms_problems(terms: GradeTerms) -> Iterator[tuple[str, str]]:
    deadline = terms.deadline
    cap = general_cap_days(deadline.basis)
    if deadline.days > cap:
        legal = Deadline(cap, deadline.basis).describe()
        yield (
            "deadline.days",
            f"{deadline.describe()} exceed the legal maximum of {legal} (Code de commerce "
            "L441-10 I); the policy is refused rather than capped",
        )
    if terms.prepayment and terms.deposit_percent != 100:
        yield "deposit_percent", "must be 100 with prepayment (the whole amount before delivery)"
    if terms.prepayment and deadline.days != 0:
        yield "deadline.days", "must be 0 with prepayment (payable at order)"
    if terms.payment_method == "prepayment" and not terms.prepayment:
        yield "payment_method", "'prepayment' needs prepayment = true"
    yield from _dunning_problems(terms.dunning)


def _dunning_problems(plan: Sequence[DunningRule]) -> Iterator[tuple[str, str]]:
    formal_notice_day: int | None = None
    for index, step in enumerate(plan):
        key = f"dunning[{index}]"
        if index:
            previous = plan[index - 1]
            if step.day_offset < previous.day_offset:
                yield f"{key}.day_offset", "steps must be in date order"
            if step.level < previous.level:
                yield f"{key}.level", "levels must not go down along the plan"
            if TONES.index(step.tone) < TONES.index(previous.tone):
                yield f"{key}.tone", "the tone must not soften along the plan"
        if step.day_offset < 0 and (step.level != 0 or step.channel not in _REMINDER_CHANNELS):
            yield (
                key,
                (
                    "a step before the due date is a courtesy reminder: level 0, by email, sms, "
                    "phone or letter"
                ),
            )
        if step.channel == "formal_notice":
            yield from _formal_notice_problems(key, step)
            if formal_notice_day is None:
                formal_notice_day = step.day_offset
        if step.channel in LEGAL_CHANNELS:
            yield from _legal_action_problems(key, step, formal_notice_day)


def _formal_notice_problems(key: str, step: DunningRule) -> Iterator[tuple[str, str]]:
    if step.day_offset <= 0:
        yield f"{key}.day_offset", "a formal notice needs an overdue debt: after the due date"
    if step.level < 3:
        yield f"{key}.level", "a formal notice is level 3 or 4"
    if step.tone not in ("formal", "legal"):
        yield f"{key}.tone", "a formal notice is formal or legal in tone"


def _legal_action_problems(
    key: str, step: DunningRule, formal_notice_day: int | None
) -> Iterator[tuple[str, str]]:
    if formal_notice_day is None or formal_notice_day >= step.day_offset:
        yield (
            f"{key}.channel",
            f"{step.channel} needs a formal notice (mise en demeure) on an earlier day",
        )
    if step.level != 4 or step.tone != "legal":
        yield key, f"{step.channel} is level 4 with a legal tone"


def deadline_is_softer(riskier: Deadline, safer: Deadline) -> bool:
    """Whether `riskier` can fall due later than `safer` for some invoice date.

    End of month adds 0 to 30 days to the invoice date depending on the day of the month, so an
    end-of-month deadline is no softer than a from-invoice one only if it is 30 days shorter.
    """
    if riskier.basis == safer.basis:
        return riskier.days > safer.days
    if riskier.basis == "end_of_month":
        return riskier.days + 30 > safer.days
    return riskier.days > safer.days


def escalation_days(plan: Sequence[DunningRule]) -> dict[int, int]:
    """For each level a plan reaches, the first day offset at which it reaches it."""
    reached: dict[int, int] = {}
    for step in plan:
        for level in range(step.level + 1):
            reached[level] = min(reached.get(level, step.day_offset), step.day_offset)
    return reached


def monotonicity_problems(grades: Mapping[str, GradePolicy]) -> list[PolicyProblem]:
    """Riskier grades get terms at least as hard as the grade before, in every amount band."""
    amounts = sorted({0.0} | {amount for g in grades.values() for amount, _ in g.bands})
    problems: list[PolicyProblem] = []
    seen: set[tuple[str, str]] = set()
    for safer, riskier in pairwise(GRADES):
        for amount in amounts:
            band = f" for orders from {amount:,.2f}".removesuffix(".00") + " EUR" if amount else ""
            path = grades[riskier].path_for(amount)
            for key, what in _softer_fields(
                grades[riskier].terms_for(amount), grades[safer].terms_for(amount)
            ):
                # The same terms compared again in a higher band: said once, at the lowest.
                if (f"{path}.{key}", f"{what} {safer}") in seen:
                    continue
                seen.add((f"{path}.{key}", f"{what} {safer}"))
                message = f"grade {riskier} {what} grade {safer}{band}: {_MONOTONE}"
                problems.append(PolicyProblem(f"{path}.{key}", message))
    return problems


def _softer_fields(riskier: GradeTerms, safer: GradeTerms) -> Iterator[tuple[str, str]]:
    if deadline_is_softer(riskier.deadline, safer.deadline):
        yield (
            "deadline",
            (
                f"gets a longer deadline ({riskier.deadline.describe()}, vs "
                f"{safer.deadline.describe()}) than"
            ),
        )
    if riskier.deposit_percent < safer.deposit_percent:
        yield (
            "deposit_percent",
            (
                f"asks a lower deposit ({riskier.deposit_percent:g} %, vs "
                f"{safer.deposit_percent:g} %) than"
            ),
        )
    if safer.prepayment and not riskier.prepayment:
        yield "prepayment", "needs no prepayment, unlike"
    settle_r, settle_s = riskier.settle_before_new_order, safer.settle_before_new_order
    if SETTLE_RULES.index(settle_r) < SETTLE_RULES.index(settle_s):
        yield (
            "settle_before_new_order",
            (f"settles less before a new order ({settle_r!r}, vs {settle_s!r}) than"),
        )
    limit_r, limit_s = riskier.credit_limit, safer.credit_limit
    if limit_r.monthly_multiple > limit_s.monthly_multiple or limit_r.cap > limit_s.cap:
        yield (
            "credit_limit",
            (
                f"gets a higher credit limit ({limit_r.monthly_multiple:g} x monthly, cap "
                f"{limit_r.cap:,.0f} EUR, vs {limit_s.monthly_multiple:g} x, cap "
                f"{limit_s.cap:,.0f}) than"
            ),
        )
    yield from _softer_dunning(riskier.dunning, safer.dunning)


def _softer_dunning(
    riskier: Sequence[DunningRule], safer: Sequence[DunningRule]
) -> Iterator[tuple[str, str]]:
    def count(plan: Sequence[DunningRule], before_due: bool) -> int:
        return sum((step.day_offset < 0) == before_due for step in plan)

    if count(riskier, True) < count(safer, True):
        yield "dunning", "has fewer reminders before the due date than"
    if count(riskier, False) < count(safer, False):
        yield "dunning", "has fewer dunning steps from the due date on than"
    reached_r, reached_s = escalation_days(riskier), escalation_days(safer)
    for level, day in sorted(reached_s.items()):
        if reached_r.get(level, day + 1) > day:
            yield "dunning", f"reaches dunning level {level} later (or never) than"
            break

"""From risk to lawful payment terms: `recommend_terms`, a pure function of its inputs.

The policy says what each grade gets; the request may ask for other terms; the law bounds both.
The due date is the earliest of what the request asks, what the grade's policy allows, the
general legal cap (L441-10 I) and any sector cap (L441-11 II); every cut is explained in
`adjustments`. Deposit, prepayment, settlement and credit limit follow the grade's policy and
harden when the customer's exposure or P(severe) call for it, never softer than the policy.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import date

from service.terms.dunning import dunning_plan
from service.terms.law import (
    RECOVERY_INDEMNITY_EUR,
    general_cap_days,
    half_year_of,
    penalty_rate,
    sector_caps_for,
)
from service.terms.notice import legal_notice
from service.terms.policy import TermsPolicy
from service.terms.request import TermsRequest
from service.terms.result import (
    Adjustment,
    LatePaymentInterest,
    PaymentDeadline,
    RecommendedTerms,
)
from service.terms.rules import Deadline, GradeTerms, SettleRule

__all__ = ["recommend_terms"]

GDPR_REVIEW_REASON = (
    "sole trader (entrepreneur individuel): a natural person, so this automated recommendation "
    "needs a human decision before it is applied (GDPR art. 22)"
)


def recommend_terms(request: TermsRequest, policy: TermsPolicy, *, today: date) -> RecommendedTerms:
    """The payment terms to offer for this order; `today` stands for a missing invoice date."""
    invoice_date = request.invoice_date or today
    terms = policy.terms_for(request.grade, request.order_amount)
    adjustments: list[Adjustment] = []
    monthly = (
        request.usual_monthly_amount
        if request.usual_monthly_amount is not None
        else request.order_amount  # a prospect: the first order stands for the usual amount
    )
    credit_limit = terms.credit_limit.limit_for(monthly)
    deposit_percent = _deposit_percent(request, terms, credit_limit, adjustments)
    prepayment = _prepayment(request, terms, policy, deposit_percent, adjustments)
    if prepayment:
        deposit_percent = 100.0
    deadline = _deadline(request, terms, prepayment, invoice_date, adjustments)
    settle = _settle_rule(request, terms, policy, adjustments)
    plan = dunning_plan(terms.dunning, deadline.due_date, invoice_date, request, adjustments)
    interest, rates_known = _interest(policy, half_year_of(invoice_date))
    reasons = _review_reasons(request, policy, invoice_date, interest, rates_known)
    return RecommendedTerms(
        grade=request.grade,
        deadline=deadline,
        deposit_percent=deposit_percent,
        deposit_amount=round(request.order_amount * deposit_percent / 100, 2),
        prepayment_required=prepayment,
        settle_before_new_order=settle,
        credit_limit=credit_limit,
        available_credit=round(max(credit_limit - request.open_amount, 0.0), 2),  # in cents
        payment_method=terms.payment_method,
        dunning_plan=plan,
        late_payment_interest=interest,
        recovery_indemnity_eur=RECOVERY_INDEMNITY_EUR,
        legal_notice=_legal_notice(deadline, interest, prepayment),
        review_required=bool(reasons),
        review_reasons=reasons,
        policy_version=policy.version,
        adjustments=tuple(adjustments),
    )


def _deposit_percent(
    request: TermsRequest, terms: GradeTerms, credit_limit: float, adjustments: list[Adjustment]
) -> float:
    """The policy's deposit, raised so that the part of the order beyond the credit limit is
    paid at order."""
    order = request.order_amount
    headroom = max(credit_limit - request.open_amount, 0.0)
    if order <= headroom:
        return terms.deposit_percent
    # Rounded up to the hundredth so that the deposit always covers the excess.
    needed = min(100.0, math.ceil(round((order - headroom) / order * 10_000, 6)) / 100)
    if needed <= terms.deposit_percent:
        return terms.deposit_percent
    adjustments.append(
        Adjustment(
            "deposit_percent",
            "credit_limit",
            f"deposit raised from {terms.deposit_percent:g} % to {needed:g} %: the open amount "
            f"({request.open_amount:,.2f} EUR) plus this order ({order:,.2f} EUR) exceed the "
            f"credit limit of {credit_limit:,.0f} EUR",
        )
    )
    return needed


def _prepayment(
    request: TermsRequest,
    terms: GradeTerms,
    policy: TermsPolicy,
    deposit_percent: float,
    adjustments: list[Adjustment],
) -> bool:
    if terms.prepayment:
        return True
    threshold = policy.prepayment_from_p_severe
    if threshold is not None and request.p_severe >= threshold:
        message = (
            f"prepayment required: P(severe) {request.p_severe:.2f} is at least the policy's "
            f"{threshold:.2f}"
        )
        adjustments.append(Adjustment("prepayment_required", "policy", message))
        return True
    if deposit_percent >= 100:
        message = "prepayment required: the whole order lies beyond the credit limit"
        adjustments.append(Adjustment("prepayment_required", "credit_limit", message))
        return True
    return False


@dataclass(frozen=True, slots=True)
class _Bound:
    """A limit on the deadline: the longest deadline it allows, and where it comes from."""

    deadline: Deadline
    rule: str
    why: str

    def explain(self) -> str:
        if self.rule == "policy":
            return self.why
        return f"Code de commerce {self.rule}: {self.why}"


def _deadline(
    request: TermsRequest,
    terms: GradeTerms,
    prepayment: bool,
    invoice_date: date,
    adjustments: list[Adjustment],
) -> PaymentDeadline:
    requested = request.requested_terms
    asked = Deadline(requested.days, requested.basis) if requested else terms.deadline
    if prepayment:
        if requested:
            message = f"requested {asked.describe()} replaced by payment at order (prepayment)"
            adjustments.append(Adjustment("deadline", "policy", message))
        return PaymentDeadline(0, "invoice_date", invoice_date)
    asked_due = asked.due_date(invoice_date)
    bounds = _deadline_bounds(request, terms, asked)
    # min keeps the first of equal dates: the law before the policy, to cite the law.
    binding = min(bounds, key=lambda bound: bound.deadline.due_date(invoice_date))
    binding_due = binding.deadline.due_date(invoice_date)
    if binding_due >= asked_due:
        return PaymentDeadline(asked.days, asked.basis, asked_due)
    exceeded_law = [
        bound
        for bound in bounds
        if bound.rule != "policy" and bound.deadline.due_date(invoice_date) < asked_due
    ]
    adjustments.append(_deadline_adjustment(request, asked, binding, exceeded_law))
    return PaymentDeadline(binding.deadline.days, binding.deadline.basis, binding_due)


def _deadline_bounds(request: TermsRequest, terms: GradeTerms, asked: Deadline) -> list[_Bound]:
    caps = sector_caps_for((request.supplier_naf_code, request.naf_code))
    bounds = [_Bound(Deadline(cap.days, cap.basis), cap.article, cap.goods) for cap in caps]
    general = Deadline(general_cap_days(asked.basis), asked.basis)
    bounds.append(_Bound(general, "L441-10 I", f"at most {general.describe()}"))
    if request.requested_terms is not None:
        why = f"grade {request.grade} policy: {terms.deadline.describe()}"
        bounds.append(_Bound(terms.deadline, "policy", why))
    return bounds


def _deadline_adjustment(
    request: TermsRequest, asked: Deadline, binding: _Bound, exceeded_law: list[_Bound]
) -> Adjustment:
    what = (
        f"requested {asked.describe()}"
        if request.requested_terms is not None
        else f"grade {request.grade} policy deadline of {asked.describe()}"
    )
    because = binding.explain()
    if binding.rule == "policy" and exceeded_law:
        because += f"; the request also exceeds {exceeded_law[0].explain()}"
    rule = exceeded_law[0].rule if exceeded_law else binding.rule
    message = f"{what} capped to {binding.deadline.describe()} ({because})"
    return Adjustment("deadline", rule, message)


def _settle_rule(
    request: TermsRequest, terms: GradeTerms, policy: TermsPolicy, adjustments: list[Adjustment]
) -> SettleRule:
    rule = terms.settle_before_new_order
    after = policy.settle_overdue_after_days
    if after is None or rule != "none" or request.oldest_overdue_days <= after:
        return rule
    message = (
        f"overdue invoices to be settled before a new order: the oldest is "
        f"{request.oldest_overdue_days} days overdue (policy: more than {after} days)"
    )
    adjustments.append(Adjustment("settle_before_new_order", "policy", message))
    return "overdue"


# A batch asks for the same few rates and notices thousands of times: both are pure functions
# of frozen values, so they are computed once per distinct input.
@functools.lru_cache(maxsize=256)
def _interest(policy: TermsPolicy, half_year: str) -> tuple[LatePaymentInterest, bool]:
    """The late-payment interest of a half-year ("2026-H2"): the policy's rates depend on the
    invoice date only through its half-year."""
    year, half = half_year.rsplit("-H", 1)
    key, rates, known = policy.rates_for(date(int(year), 1 if half == "1" else 7, 1))
    rate = penalty_rate(rates.ecb_rate, rates.legal_rate_professionals, rates.penalty_rate)
    interest = LatePaymentInterest(
        rate_percent=rate.percent,
        rule=rate.rule,
        half_year=key,
        ecb_rate_percent=rates.ecb_rate,
        legal_rate_percent=rates.legal_rate_professionals,
        floor_percent=rate.floor_percent,
    )
    return interest, known


@functools.lru_cache(maxsize=1024)
def _legal_notice(
    deadline: PaymentDeadline, interest: LatePaymentInterest, prepayment: bool
) -> str:
    return legal_notice(deadline, interest, prepayment=prepayment)


def _review_reasons(
    request: TermsRequest,
    policy: TermsPolicy,
    invoice_date: date,
    interest: LatePaymentInterest,
    rates_known: bool,
) -> tuple[str, ...]:
    reasons = []
    if request.is_sole_trader:
        reasons.append(GDPR_REVIEW_REASON)
    if not rates_known:
        wanted = half_year_of(invoice_date)
        reasons.append(
            f"policy {policy.version} has no late-payment rates for {wanted}: those of "
            f"{interest.half_year} were used; check the penalty rate before sending and add "
            f"the {wanted} rates to the policy (L441-10 II)"
        )
    return tuple(reasons)

"""From risk to lawful payment terms: `recommend_terms`, a pure function of its inputs.

The policy says what each grade gets; the request may ask for other terms; the law bounds both.
The due date is the earliest of what the request asks, what the grade's policy allows, the
general legal cap (L441-10 I) and any sector cap (L441-11 II); every cut is explained in
`adjustments`. Deposit, prepayment, settlement and credit limit follow the grade's policy and
harden when the customer's exposure or P(severe) call for it, never softer than the policy.

`recommended_terms_json` makes the same decisions for many orders (`OrderColumns`) and gives
each one's terms as JSON: what a score and a batch send.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from service.terms.dunning import dunning_plan
from service.terms.law import (
    RECOVERY_INDEMNITY_EUR,
    DeadlineBasis,
    general_cap_days,
    half_year_of,
    half_year_start,
    sector_caps_for,
)
from service.terms.notice import legal_notice
from service.terms.policy import TermsPolicy
from service.terms.request import OrderColumns, PayerContact, TermsRequest, requested_deadline
from service.terms.result import (
    Adjustment,
    DunningStep,
    LatePaymentInterest,
    PaymentDeadline,
    RecommendedTerms,
    SharedTermsJson,
    adjustment_json,
    adjustments_json,
)
from service.terms.rules import Deadline, DunningChannel, GradeTerms, PaymentMethod, SettleRule

__all__ = ["GDPR_REVIEW_REASON", "recommend_terms", "recommended_terms_json"]

T = TypeVar("T")
S = TypeVar("S")

GDPR_REVIEW_REASON = (
    "sole trader (entrepreneur individuel): a natural person, so this automated recommendation "
    "needs a human decision before it is applied (GDPR art. 22)"
)


def recommend_terms(request: TermsRequest, policy: TermsPolicy, *, today: date) -> RecommendedTerms:
    """The payment terms to offer for this order; `today` stands for a missing invoice date."""
    order, shared = _decided(
        policy, _shared, request.grade, request.p_severe, request.order_amount,
        requested_deadline(request.requested_terms), request.open_amount,
        request.oldest_overdue_days, request.usual_monthly_amount, request.naf_code,
        request.supplier_naf_code, request.is_sole_trader, request.preferred_channel,
        request.payer, request.good_payer, request.invoice_date or today,
    )  # fmt: skip
    return RecommendedTerms(
        grade=request.grade,
        deadline=shared.deadline,
        deposit_percent=order.deposit_percent,
        deposit_amount=order.deposit_amount,
        prepayment_required=order.prepayment,
        settle_before_new_order=order.settle,
        credit_limit=order.credit_limit,
        available_credit=order.available_credit,
        payment_method=shared.payment_method,
        dunning_plan=shared.plan,
        late_payment_interest=shared.interest,
        recovery_indemnity_eur=RECOVERY_INDEMNITY_EUR,
        legal_notice=shared.notice,
        review_required=bool(shared.reasons),
        review_reasons=shared.reasons,
        policy_version=policy.version,
        adjustments=tuple(order.in_order(order.notes, shared.cut, shared.skipped)),
    )


def recommended_terms_json(orders: OrderColumns, policy: TermsPolicy) -> list[bytes]:
    """`recommend_terms` for many orders at once, each as the JSON of its `to_dict()`: the same
    decisions (the same code makes them), without a `RecommendedTerms` for each. What the
    orders of one grade, deadline and payer share is decided and written once (`_Shared`); an
    order's own amounts and notes are filled in around it."""
    written = []
    for row in orders.checked_rows():
        order, shared = _decided(policy, _shared_json_once, *row)
        own = [adjustment_json(note) for note in order.notes]
        written.append(
            shared.terms.with_order(
                order.deposit_percent, order.deposit_amount, order.prepayment, order.settle,
                order.credit_limit, order.available_credit,
                adjustments_json(order.in_order(own, shared.cut, shared.skipped)),
            )
        )  # fmt: skip
    return written


@dataclass(frozen=True, slots=True)
class _Shared:
    """What follows from an order's grade terms, prepayment, requested deadline, invoice date,
    sectors and payer alone: the same for many orders of a batch, which writes its JSON once
    (`_SharedJson`)."""

    deadline: PaymentDeadline
    cut: tuple[Adjustment, ...]  # what was cut to reach the deadline: nothing, or one note
    interest: LatePaymentInterest
    notice: str
    reasons: tuple[str, ...]  # for a review
    payment_method: PaymentMethod
    plan: tuple[DunningStep, ...]
    skipped: tuple[Adjustment, ...]  # reminders left out of the plan: nothing, or one note


@dataclass(frozen=True, slots=True)
class _SharedJson:
    """The JSON of a `_Shared`, as a batch writes it: all that the batch keeps of it."""

    terms: SharedTermsJson
    cut: tuple[bytes, ...]  # the JSON of the deadline's note, if any
    skipped: tuple[bytes, ...]  # and of the plan's


@dataclass(slots=True)
class _Order:
    """An order's own decisions (not frozen: ten thousand a batch)."""

    deposit_percent: float
    deposit_amount: float
    prepayment: bool
    settle: SettleRule
    credit_limit: float
    available_credit: float
    notes: list[Adjustment]  # its own adjustments, in order; the deadline's goes at `cut_at`
    cut_at: int

    def in_order(self, own: Sequence[T], cut: Sequence[T], skipped: Sequence[T]) -> list[T]:
        """The adjustments (notes, or their JSON) in order: deposit and prepayment (its own),
        deadline (shared), settlement (its own), plan (shared)."""
        return [*own[: self.cut_at], *cut, *own[self.cut_at :], *skipped]


def _decided(
    policy: TermsPolicy,
    share: Callable[..., S],
    grade: str,
    p_severe: float,
    order: float,
    requested: tuple[int, DeadlineBasis] | None,
    open_amount: float,
    oldest_overdue_days: int,
    usual_monthly_amount: float | None,
    naf_code: str | None,
    supplier_naf_code: str | None,
    is_sole_trader: bool,
    preferred: DunningChannel | None,
    payer: PayerContact | None,
    good_payer: bool,
    invoice_date: date,
) -> tuple[_Order, S]:
    """Every decision for one order, and what it shares with others as `share` gives it
    (`_shared`, or `_shared_json_once` for its JSON)."""
    terms = policy.terms_for(grade, order)
    notes: list[Adjustment] = []
    # A prospect: the first order stands for the usual amount.
    monthly = usual_monthly_amount if usual_monthly_amount is not None else order
    credit_limit = terms.credit_limit.limit_for(monthly)
    deposit_percent = _deposit_percent(order, open_amount, terms, credit_limit, notes)
    prepayment = _prepayment(p_severe, terms, policy, deposit_percent, notes)
    if prepayment:
        deposit_percent = 100.0
    cut_at = len(notes)
    shared = share(
        policy, grade, terms, prepayment, requested, invoice_date, naf_code, supplier_naf_code,
        is_sole_trader, preferred, payer, good_payer,
    )  # fmt: skip
    settle = _settle_rule(oldest_overdue_days, terms, policy, notes)
    own = _Order(
        deposit_percent,
        round(order * deposit_percent / 100, 2),
        prepayment,
        settle,
        credit_limit,
        round(max(credit_limit - open_amount, 0.0), 2),  # in cents
        notes,
        cut_at,
    )
    return own, shared


def _shared(
    policy: TermsPolicy,
    grade: str,
    terms: GradeTerms,
    prepayment: bool,
    requested: tuple[int, DeadlineBasis] | None,
    invoice_date: date,
    naf_code: str | None,
    supplier_naf_code: str | None,
    is_sole_trader: bool,
    preferred: DunningChannel | None,
    payer: PayerContact | None,
    good_payer: bool,
) -> _Shared:
    deadline, cut, interest, notice, reasons = _dated(
        policy, grade, terms.deadline, requested, prepayment, invoice_date, naf_code,
        supplier_naf_code, is_sole_trader,
    )  # fmt: skip
    plan, skipped = dunning_plan(
        terms.dunning, deadline.due_date, invoice_date, preferred, payer, good_payer
    )
    return _Shared(
        deadline, _notes(cut), interest, notice, reasons, terms.payment_method, plan,
        _notes(skipped),
    )  # fmt: skip


def _notes(note: Adjustment | None) -> tuple[Adjustment, ...]:
    return () if note is None else (note,)


def _shared_json_once(
    policy: TermsPolicy,
    grade: str,
    terms: GradeTerms,
    *rest: Any,
) -> _SharedJson:
    """The JSON of `_shared`, written once per distinct input and found again: by the next
    order of the same customer and day, and by the next batch (10,000 orders of the demo's
    customers on one day share 2,827)."""
    # The grade's terms by identity (hashing them costs more than the look-up saves): the key
    # holds the policy, which holds them, so no other object can take their identity.
    key = (policy, grade, id(terms), *rest)
    shared = _SHARED.get(key)
    if shared is None:
        if len(_SHARED) >= _MOST_SHARED:  # all forgotten at once: rare, and thread-safe
            _SHARED.clear()
        shared = _SHARED[key] = _written(_shared(policy, grade, terms, *rest), grade, policy)
    return shared


def _written(shared: _Shared, grade: str, policy: TermsPolicy) -> _SharedJson:
    terms = SharedTermsJson.of(
        grade, shared.deadline, shared.payment_method, shared.plan, shared.interest,
        RECOVERY_INDEMNITY_EUR, shared.notice, bool(shared.reasons), shared.reasons,
        policy.version,
    )  # fmt: skip
    return _SharedJson(
        terms, tuple(map(adjustment_json, shared.cut)), tuple(map(adjustment_json, shared.skipped))
    )


# `_shared_json_once`'s results; each holds about 2 KB of JSON (at most 10 MB in all).
_SHARED: dict[tuple[Any, ...], _SharedJson] = {}
_MOST_SHARED = 4096


def _deposit_percent(
    order: float,
    open_amount: float,
    terms: GradeTerms,
    credit_limit: float,
    adjustments: list[Adjustment],
) -> float:
    """The policy's deposit, raised so that the part of the order beyond the credit limit is
    paid at order."""
    headroom = max(credit_limit - open_amount, 0.0)
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
            f"({open_amount:,.2f} EUR) plus this order ({order:,.2f} EUR) exceed the "
            f"credit limit of {credit_limit:,.0f} EUR",
        )
    )
    return needed


def _prepayment(
    p_severe: float,
    terms: GradeTerms,
    policy: TermsPolicy,
    deposit_percent: float,
    adjustments: list[Adjustment],
) -> bool:
    if terms.prepayment:
        return True
    threshold = policy.prepayment_from_p_severe
    if threshold is not None and p_severe >= threshold:
        message = (
            f"prepayment required: P(severe) {p_severe:.2f} is at least the policy's "
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


# A batch's orders share a few grades, requested terms and invoice dates: what follows from
# these alone is worked out once per distinct combination (all frozen values).
@functools.lru_cache(maxsize=4096)
def _dated(
    policy: TermsPolicy,
    grade: str,
    policy_deadline: Deadline,
    requested: tuple[int, DeadlineBasis] | None,
    prepayment: bool,
    invoice_date: date,
    naf_code: str | None,
    supplier_naf_code: str | None,
    is_sole_trader: bool,
) -> tuple[PaymentDeadline, Adjustment | None, LatePaymentInterest, str, tuple[str, ...]]:
    """The deadline and the note on what was cut to reach it (if anything was), the
    late-payment interest, the legal notice and the reasons for a review."""
    deadline, cut = _deadline(
        grade, policy_deadline, requested, prepayment, invoice_date, naf_code, supplier_naf_code
    )
    wanted = half_year_of(invoice_date)
    interest, rates_known = _interest(policy, wanted)
    notice = legal_notice(deadline, interest, prepayment=prepayment)
    reasons = _review_reasons(is_sole_trader, policy, wanted, interest, rates_known)
    return deadline, cut, interest, notice, reasons


def _deadline(
    grade: str,
    policy_deadline: Deadline,
    requested: tuple[int, DeadlineBasis] | None,
    prepayment: bool,
    invoice_date: date,
    naf_code: str | None,
    supplier_naf_code: str | None,
) -> tuple[PaymentDeadline, Adjustment | None]:
    """The deadline, and the note on what was cut to reach it, if anything was."""
    asked = Deadline(*requested) if requested else policy_deadline
    if prepayment:
        note = None
        if requested:
            message = f"requested {asked.describe()} replaced by payment at order (prepayment)"
            note = Adjustment("deadline", "policy", message)
        return PaymentDeadline(0, "invoice_date", invoice_date), note
    asked_due = asked.due_date(invoice_date)
    bounds = _deadline_bounds(grade, policy_deadline, requested is not None, asked,
                              (supplier_naf_code, naf_code))  # fmt: skip
    # min keeps the first of equal dates: the law before the policy, to cite the law.
    binding = min(bounds, key=lambda bound: bound.deadline.due_date(invoice_date))
    binding_due = binding.deadline.due_date(invoice_date)
    if binding_due >= asked_due:
        return PaymentDeadline(asked.days, asked.basis, asked_due), None
    exceeded_law = [
        bound
        for bound in bounds
        if bound.rule != "policy" and bound.deadline.due_date(invoice_date) < asked_due
    ]
    note = _deadline_adjustment(grade, requested is not None, asked, binding, exceeded_law)
    return PaymentDeadline(binding.deadline.days, binding.deadline.basis, binding_due), note


def _deadline_bounds(
    grade: str,
    policy_deadline: Deadline,
    requested: bool,
    asked: Deadline,
    naf_codes: tuple[str | None, str | None],
) -> list[_Bound]:
    caps = sector_caps_for(naf_codes)
    bounds = [_Bound(Deadline(cap.days, cap.basis), cap.article, cap.goods) for cap in caps]
    general = Deadline(general_cap_days(asked.basis), asked.basis)
    bounds.append(_Bound(general, "L441-10 I", f"at most {general.describe()}"))
    if requested:
        why = f"grade {grade} policy: {policy_deadline.describe()}"
        bounds.append(_Bound(policy_deadline, "policy", why))
    return bounds


def _deadline_adjustment(
    grade: str, requested: bool, asked: Deadline, binding: _Bound, exceeded_law: list[_Bound]
) -> Adjustment:
    what = (
        f"requested {asked.describe()}"
        if requested
        else f"grade {grade} policy deadline of {asked.describe()}"
    )
    because = binding.explain()
    if binding.rule == "policy" and exceeded_law:
        because += f"; the request also exceeds {exceeded_law[0].explain()}"
    rule = exceeded_law[0].rule if exceeded_law else binding.rule
    message = f"{what} capped to {binding.deadline.describe()} ({because})"
    return Adjustment("deadline", rule, message)


def _settle_rule(
    oldest_overdue_days: int, terms: GradeTerms, policy: TermsPolicy, adjustments: list[Adjustment]
) -> SettleRule:
    rule = terms.settle_before_new_order
    after = policy.settle_overdue_after_days
    if after is None or rule != "none" or oldest_overdue_days <= after:
        return rule
    message = (
        f"overdue invoices to be settled before a new order: the oldest is "
        f"{oldest_overdue_days} days overdue (policy: more than {after} days)"
    )
    adjustments.append(Adjustment("settle_before_new_order", "policy", message))
    return "overdue"


@functools.lru_cache(maxsize=256)
def _interest(policy: TermsPolicy, half_year: str) -> tuple[LatePaymentInterest, bool]:
    """The late-payment interest of a half-year ("2026-H2"): the policy's rates depend on the
    invoice date only through its half-year."""
    key, rates, known = policy.rates_for(half_year_start(half_year))
    rate = rates.penalty()
    interest = LatePaymentInterest(
        rate_percent=rate.percent,
        rule=rate.rule,
        half_year=key,
        ecb_rate_percent=rates.ecb_rate,
        legal_rate_percent=rates.legal_rate_professionals,
        floor_percent=rate.floor_percent,
    )
    return interest, known


def _review_reasons(
    is_sole_trader: bool,
    policy: TermsPolicy,
    wanted: str,
    interest: LatePaymentInterest,
    rates_known: bool,
) -> tuple[str, ...]:
    """Why a person must check the terms: a sole trader, or rates missing for the invoice's
    half-year (`wanted`)."""
    reasons = []
    if is_sole_trader:
        reasons.append(GDPR_REVIEW_REASON)
    if not rates_known:
        reasons.append(
            f"policy {policy.version} has no late-payment rates for {wanted}: those of "
            f"{interest.half_year} were used; check the penalty rate before sending and add "
            f"the {wanted} rates to the policy (L441-10 II)"
        )
    return tuple(reasons)

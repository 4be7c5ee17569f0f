"""Properties of `recommend_terms` for ANY valid policy and ANY valid request (hypothesis).

Policies are generated valid by construction: random per-grade values, each riskier grade drawn
no softer than the grade before. The checks restate the law here rather than reuse the package's
table, so that a mistake in the table shows up.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.terms import (
    InvalidPolicy,
    RecommendedTerms,
    RequestedTerms,
    TermsPolicy,
    TermsRequest,
    recommend_terms,
)

GRADES = "ABCDE"
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TODAY = date(2026, 11, 23)

# Independent restatement of the caps (days from the invoice date, or after the end of month).
SECTOR_NAF = {
    "10.11Z": 20, "10.12Z": 20, "46.32A": 20, "01.46Z": 20,
    "10.13A": 30, "10.20Z": 30, "10.39A": 30, "10.51A": 30, "10.71C": 30, "46.31Z": 30,
    "46.38A": 30, "49.41A": 30, "52.29B": 30, "77.11A": 30,
}  # fmt: skip
SPIRITS_NAF = "11.01Z"  # 30 days after the end of the month of delivery
OTHER_NAF = ["62.01Z", "46.69B", "41.20A", "11.02B"]
METHODS = ["bank_transfer", "sepa_direct_debit", "card"]
CHANNELS = ["email", "sms", "phone", "letter"]


def end_of_month(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


# --- policies ---------------------------------------------------------------------------------


@st.composite
def deadlines(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Five deadlines, each falling due no later than the one before for any invoice date."""
    basis = draw(st.sampled_from(["invoice_date", "end_of_month"]))
    days = draw(st.integers(0, 60 if basis == "invoice_date" else 45))
    chosen = [(days, basis)]
    for _ in range(4):
        days, basis = chosen[-1]
        # An end-of-month deadline adds up to 30 days: 30 fewer days to stay no softer.
        room = {
            "invoice_date": days,
            "end_of_month": days - 30 if basis == "invoice_date" else days,
        }
        basis = draw(st.sampled_from([b for b, most in room.items() if most >= 0]))
        chosen.append((draw(st.integers(0, room[basis])), basis))
    return [{"days": days, "basis": basis} for days, basis in chosen]


def ascending(values: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    return st.lists(values, min_size=5, max_size=5).map(sorted)


@st.composite
def dunning_plans(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """A ladder of escalation; a riskier grade climbs at least as far, and earlier."""
    offsets = sorted(draw(st.sets(st.integers(1, 120), min_size=5, max_size=5)))
    before_due = sorted(draw(st.sets(st.integers(-60, -1), min_size=3, max_size=3)))
    first_channel = draw(st.sampled_from(["email", "sms", "phone"]))
    ladder = [
        (first_channel, draw(st.sampled_from(["friendly", "firm"])), 1),
        (draw(st.sampled_from(["phone", "email"])), "firm", 2),
        ("letter", "formal", 2),
        ("formal_notice", draw(st.sampled_from(["formal", "legal"])), 3),
        (draw(st.sampled_from(["injunction", "collection_agency"])), "legal", 4),
    ]
    lengths = draw(ascending(st.integers(1, 5)))
    reminders = draw(ascending(st.integers(0, 3)))
    shifts = draw(ascending(st.integers(0, offsets[0] - 1)))
    plans = []
    for length, count, shift in zip(lengths, reminders, shifts, strict=True):
        plan = [
            {"day_offset": day, "channel": "email", "tone": "friendly", "level": 0,
             "message_key": "reminder_before_due"}
            for day in before_due[:count]
        ]  # fmt: skip
        plan += [
            {"day_offset": day - shift, "channel": channel, "tone": tone, "level": level,
             "message_key": f"level_{level}"}
            for day, (channel, tone, level) in zip(offsets[:length], ladder, strict=False)
        ]  # fmt: skip
        plans.append(plan)
    return plans


@st.composite
def rate_tables(draw: st.DrawFn) -> dict[str, dict[str, float]]:
    first_year = draw(st.integers(2022, 2027))
    halves = [(first_year + i // 2, 1 + i % 2) for i in range(draw(st.integers(1, 6)))]
    table = {}
    for year, half in halves:
        legal = draw(st.integers(0, 800)) / 100
        rates: dict[str, float] = {
            "ecb_rate": draw(st.integers(-50, 600)) / 100,
            "legal_rate_professionals": legal,
        }
        if draw(st.booleans()):
            floor = Decimal(str(legal)) * 3
            rates["penalty_rate"] = float(floor + Decimal(draw(st.integers(0, 1000))) / 100)
        table[f"{year}-H{half}"] = rates
    return table


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    # This grade and the riskier ones prepay: mostly few grades, so deadlines get exercised.
    first_prepaid = draw(st.sampled_from([5, 5, 4, 4, 3, 2, 1, 0]))
    deposits = draw(ascending(st.integers(0, 10_000)))
    band_deposits = draw(ascending(st.integers(0, 10_000)))
    settles = draw(ascending(st.integers(0, 2)))
    multiples = draw(ascending(st.integers(0, 96)))[::-1]
    caps = draw(ascending(st.integers(0, 500_000)))[::-1]
    plans = draw(dunning_plans())
    with_band = draw(st.booleans())
    grades = {}
    for i, (grade, deadline) in enumerate(zip(GRADES, draw(deadlines()), strict=True)):
        prepaid = i >= first_prepaid
        grades[grade] = {
            "deadline": {"days": 0, "basis": "invoice_date"} if prepaid else deadline,
            "deposit_percent": 100 if prepaid else deposits[i] / 100,
            "prepayment": prepaid,
            "settle_before_new_order": ("none", "overdue", "all_open")[settles[i]],
            "payment_method": draw(st.sampled_from(METHODS + ["prepayment"] * prepaid)),
            "credit_limit": {"monthly_multiple": multiples[i] / 4, "cap": caps[i]},
            "dunning": plans[i],
        }
        if with_band and not prepaid:
            grades[grade]["bands"] = [
                {"from_amount": 20_000, "deposit_percent": band_deposits[i] / 100}
            ]
    policy: dict[str, Any] = {
        "version": f"prop-{draw(st.integers(1, 99))}",
        "interest_rates": draw(rate_tables()),
        "grades": grades,
    }
    if draw(st.booleans()):
        policy["overdue"] = {"settle_first_after_days": draw(st.integers(0, 90))}
    if draw(st.booleans()):
        policy["severe_risk"] = {"prepayment_from_p_severe": draw(st.integers(10, 100)) / 100}
    return policy


# --- requests ---------------------------------------------------------------------------------

naf_codes = st.one_of(
    st.none(),
    st.sampled_from(sorted(SECTOR_NAF)),
    st.just(SPIRITS_NAF),
    st.sampled_from(OTHER_NAF),
)
# Mostly amounts within the credit limits, sometimes far beyond.
amounts = st.one_of(st.integers(0, 10_000_00), st.integers(0, 200_000_00)).map(lambda c: c / 100)
probabilities = st.one_of(st.floats(0, 0.2), st.floats(0, 1))


@st.composite
def requests(draw: st.DrawFn) -> TermsRequest:
    open_amount = draw(st.one_of(st.just(0.0), amounts))
    overdue_count = draw(st.integers(0, 5))
    requested = draw(
        st.one_of(
            st.none(),
            st.builds(
                RequestedTerms,
                days=st.integers(0, 200),
                basis=st.sampled_from(["invoice_date", "end_of_month"]),
            ),
        )
    )
    return TermsRequest(
        grade="A",
        p_late=draw(probabilities),
        p_severe=draw(probabilities),
        order_amount=draw(amounts),
        requested_terms=requested,
        open_amount=open_amount,
        overdue_count=overdue_count,
        overdue_amount=draw(st.floats(0.01, 1)) * open_amount if overdue_count else 0,
        oldest_overdue_days=draw(st.integers(1, 400)) if overdue_count else 0,
        usual_monthly_amount=draw(st.one_of(st.none(), amounts)),
        naf_code=draw(naf_codes),
        supplier_naf_code=draw(naf_codes),
        is_sole_trader=draw(st.booleans()),
        preferred_channel=draw(st.one_of(st.none(), st.sampled_from(CHANNELS))),
        good_payer=draw(st.booleans()),
        invoice_date=draw(st.one_of(st.none(), st.dates(date(2021, 1, 1), date(2029, 12, 31)))),
    )  # fmt: skip


# --- properties -------------------------------------------------------------------------------
# One hypothesis test draws the examples; each check below is one property, named on failure.


@SETTINGS
@given(policies(), requests())
def test_any_policy_and_request_give_lawful_monotone_terms(
    policy_data: dict[str, Any], request: TermsRequest
) -> None:
    try:
        policy = TermsPolicy.from_dict(policy_data)
    except InvalidPolicy as refused:  # pragma: no cover - shows the problems when it fails
        raise AssertionError(f"the strategy made an invalid policy: {refused}") from refused
    all_terms = [
        recommend_terms(request.model_copy(update={"grade": grade}), policy, today=TODAY)
        for grade in GRADES
    ]
    for terms in all_terms:
        check_deadline_within_the_law(terms, request)
        check_amounts_in_range(terms, request)
        check_interest_indemnity_and_review(terms, request, policy_data["interest_rates"])
        check_dunning_plan_lawful(terms, request)
    for safer, riskier in pairwise(all_terms):
        check_no_softer_terms(riskier, safer)


def invoice_date_of(request: TermsRequest) -> date:
    return request.invoice_date or TODAY


def check_deadline_within_the_law(terms: RecommendedTerms, request: TermsRequest) -> None:
    invoice = invoice_date_of(request)
    deadline = terms.deadline
    start = end_of_month(invoice) if deadline.basis == "end_of_month" else invoice
    assert deadline.due_date == start + timedelta(days=deadline.days)
    assert deadline.days >= 0
    if deadline.basis == "invoice_date":
        assert deadline.days <= 60
    else:
        assert deadline.days <= 45
    for naf in (request.naf_code, request.supplier_naf_code):
        if naf in SECTOR_NAF:
            assert deadline.due_date <= invoice + timedelta(days=SECTOR_NAF[naf])
        if naf == SPIRITS_NAF:
            assert deadline.due_date <= end_of_month(invoice) + timedelta(days=30)


def check_amounts_in_range(terms: RecommendedTerms, request: TermsRequest) -> None:
    assert 0 <= terms.deposit_percent <= 100
    assert 0 <= terms.deposit_amount <= request.order_amount + 0.005
    assert terms.credit_limit >= 0
    assert 0 <= terms.available_credit <= terms.credit_limit
    for money in (terms.deposit_amount, terms.credit_limit, terms.available_credit):
        assert round(money, 2) == money  # whole cents, never float noise
    if terms.prepayment_required:
        assert terms.deposit_percent == 100
        assert terms.deadline.due_date == invoice_date_of(request)


def check_no_softer_terms(riskier: RecommendedTerms, safer: RecommendedTerms) -> None:
    settle_order = ("none", "overdue", "all_open")
    assert riskier.deadline.due_date <= safer.deadline.due_date
    assert riskier.deposit_percent >= safer.deposit_percent
    assert riskier.prepayment_required >= safer.prepayment_required
    assert settle_order.index(riskier.settle_before_new_order) >= settle_order.index(
        safer.settle_before_new_order
    )
    assert riskier.credit_limit <= safer.credit_limit
    # Reminders before the due date may fall before the invoice of a short deadline and be
    # skipped; from the due date on, a riskier grade has as many steps and escalates no later.
    after_due_r = [s for s in riskier.dunning_plan if s.trigger == "due_date" and s.day_offset >= 0]
    after_due_s = [s for s in safer.dunning_plan if s.trigger == "due_date" and s.day_offset >= 0]
    assert len(after_due_r) >= len(after_due_s)
    for level in {step.level for step in after_due_s if step.level >= 1}:
        reached_r = [s.scheduled_on for s in after_due_r if s.level >= level and s.scheduled_on]
        reached_s = [s.scheduled_on for s in after_due_s if s.level >= level and s.scheduled_on]
        assert reached_r
        assert min(reached_r) <= min(reached_s)


def check_interest_indemnity_and_review(
    terms: RecommendedTerms, request: TermsRequest, rates: dict[str, dict[str, float]]
) -> None:
    interest = terms.late_payment_interest
    used = rates[interest.half_year]
    legal = Decimal(str(used["legal_rate_professionals"]))
    ecb_plus_10 = Decimal(str(used["ecb_rate"])) + 10
    assert interest.rate_percent >= 3 * legal
    if "penalty_rate" in used:
        assert interest.rate_percent == Decimal(str(used["penalty_rate"]))
    elif ecb_plus_10 >= 3 * legal:
        assert interest.rate_percent == ecb_plus_10
    invoice = invoice_date_of(request)
    half_year = f"{invoice.year}-H{1 if invoice.month <= 6 else 2}"
    assert interest.half_year == half_year or terms.review_required
    assert terms.recovery_indemnity_eur == 40
    assert "40\u00a0€" in terms.legal_notice
    if request.is_sole_trader:
        assert terms.review_required
        assert any("GDPR art. 22" in reason for reason in terms.review_reasons)


def check_dunning_plan_lawful(terms: RecommendedTerms, request: TermsRequest) -> None:
    plan = [step for step in terms.dunning_plan if step.trigger == "due_date"]
    for step in plan:
        assert step.scheduled_on is not None
        assert step.scheduled_on >= invoice_date_of(request)
        assert step.scheduled_on == terms.deadline.due_date + timedelta(days=step.day_offset)
    channels = [step.channel for step in plan]
    for legal_action in ("injunction", "collection_agency"):
        if legal_action in channels:
            assert "formal_notice" in channels[: channels.index(legal_action)]
    assert [step.day_offset for step in plan] == sorted(step.day_offset for step in plan)
    thanks = [step for step in terms.dunning_plan if step.trigger == "payment"]
    assert len(thanks) == int(request.good_payer)

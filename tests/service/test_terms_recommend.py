"""`recommend_terms` with the default policy: a table per grade, then each rule on its own."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from features.grades import GRADES
from features.schemas import REMINDER_CHANNELS
from service.terms import (
    PayerContact,
    RecommendedTerms,
    RequestedTerms,
    TermsPolicy,
    TermsRequest,
    default_policy,
    recommend_terms,
)
from service.terms.request import Grade, ReminderChannel

INVOICE_DATE = date(2026, 3, 10)  # in 2026-H1, whose rates the default policy has
TODAY = date(2026, 3, 12)
POLICY = default_policy()


def request(**changes: Any) -> TermsRequest:
    """A known customer ordering 12 000 EUR, with 5 000 EUR open and 10 000 EUR a month."""
    values: dict[str, Any] = {
        "grade": "C",
        "p_late": 0.3,
        "p_severe": 0.05,
        "order_amount": 12_000,
        "open_amount": 5_000,
        "usual_monthly_amount": 10_000,
        "invoice_date": INVOICE_DATE,
    } | changes
    return TermsRequest(**values)


def recommend(**changes: Any) -> RecommendedTerms:
    return recommend_terms(request(**changes), POLICY, today=TODAY)


@pytest.mark.parametrize(
    ("grade", "days", "basis", "due", "deposit", "prepayment", "settle", "limit", "method",
     "steps"),
    [
        ("A", 45, "end_of_month", date(2026, 5, 15), 0, False, "none", 30_000, "bank_transfer",
         4),
        ("B", 45, "invoice_date", date(2026, 4, 24), 0, False, "none", 20_000, "bank_transfer",
         6),
        # 17 000 EUR would exceed C's 15 000 limit, but the 20 % deposit covers the excess.
        ("C", 30, "invoice_date", date(2026, 4, 9), 20, False, "overdue", 15_000,
         "sepa_direct_debit", 7),
        # D's limit is 10 000: 7 000 of the order lies beyond, so 58.34 % is paid at order.
        ("D", 15, "invoice_date", date(2026, 3, 25), 58.34, False, "all_open", 10_000,
         "sepa_direct_debit", 8),
        # E pays at order: its reminders before the due date fall before the invoice, skipped.
        ("E", 0, "invoice_date", INVOICE_DATE, 100, True, "all_open", 0, "prepayment", 5),
    ],
)  # fmt: skip
def test_default_policy_per_grade(
    grade: str,
    days: int,
    basis: str,
    due: date,
    deposit: float,
    prepayment: bool,
    settle: str,
    limit: float,
    method: str,
    steps: int,
) -> None:
    terms = recommend(grade=grade)
    assert (terms.deadline.days, terms.deadline.basis, terms.deadline.due_date) == (
        days,
        basis,
        due,
    )
    assert terms.deposit_percent == deposit
    assert terms.deposit_amount == round(12_000 * deposit / 100, 2)
    assert terms.prepayment_required is prepayment
    assert terms.settle_before_new_order == settle
    assert (terms.credit_limit, terms.available_credit) == (limit, max(limit - 5_000, 0))
    assert terms.payment_method == method
    assert len(terms.dunning_plan) == steps
    assert terms.recovery_indemnity_eur == 40
    assert float(terms.late_payment_interest.rate_percent) == 12.15
    assert terms.policy_version == "2026.1"
    assert terms.review_required is False


def test_dunning_plan_of_grade_d() -> None:
    plan = recommend(grade="D").dunning_plan
    assert [(s.day_offset, s.channel, s.tone, s.level) for s in plan] == [
        (-15, "email", "friendly", 0),
        (-7, "email", "friendly", 0),
        (-2, "sms", "friendly", 0),
        (1, "phone", "firm", 1),
        (5, "email", "firm", 2),
        (10, "letter", "formal", 2),
        (20, "formal_notice", "legal", 3),
        (30, "collection_agency", "legal", 4),
    ]
    assert plan[0].scheduled_on == INVOICE_DATE  # J-15 of a 15-day deadline: the invoice day
    assert plan[-1].scheduled_on == date(2026, 4, 24)


def test_requested_terms_within_the_policy_are_granted() -> None:
    terms = recommend(grade="C", requested_terms=RequestedTerms(days=20))
    assert (terms.deadline.days, terms.deadline.due_date) == (20, date(2026, 3, 30))
    assert terms.adjustments == ()


@pytest.mark.parametrize(
    ("grade", "requested", "granted", "rule", "message"),
    [
        ("A", RequestedTerms(days=90), (60, "invoice_date"), "L441-10 I",
         "requested 90 days from the invoice date capped to 60 days from the invoice date "
         "(Code de commerce L441-10 I: at most 60 days from the invoice date)"),
        ("A", RequestedTerms(days=50, basis="end_of_month"), (45, "end_of_month"), "L441-10 I",
         "requested 50 days end of month capped to 45 days end of month (Code de commerce "
         "L441-10 I: at most 45 days end of month)"),
        ("C", RequestedTerms(days=45), (30, "invoice_date"), "policy",
         "requested 45 days from the invoice date capped to 30 days from the invoice date "
         "(grade C policy: 30 days from the invoice date)"),
        ("C", RequestedTerms(days=90), (30, "invoice_date"), "L441-10 I",
         "(grade C policy: 30 days from the invoice date; the request also exceeds Code de "
         "commerce L441-10 I: at most 60 days from the invoice date)"),
        ("E", RequestedTerms(days=30), (0, "invoice_date"), "policy",
         "requested 30 days from the invoice date replaced by payment at order (prepayment)"),
    ],
)  # fmt: skip
def test_requested_terms_beyond_the_law_or_the_policy_are_capped(
    grade: str, requested: RequestedTerms, granted: tuple[int, str], rule: str, message: str
) -> None:
    terms = recommend(grade=grade, requested_terms=requested)
    assert (terms.deadline.days, terms.deadline.basis) == granted
    deadline_adjustments = [a for a in terms.adjustments if a.field == "deadline"]
    assert len(deadline_adjustments) == 1
    assert deadline_adjustments[0].rule == rule
    assert message in str(deadline_adjustments[0])


@pytest.mark.parametrize(
    ("changes", "days", "basis", "rule"),
    [
        ({"naf_code": "10.11Z"}, 20, "invoice_date", "L441-11 II 2°"),
        ({"naf_code": "46.31Z"}, 30, "invoice_date", "L441-11 II 1°"),
        ({"naf_code": "62.01Z", "supplier_naf_code": "49.41A"}, 30, "invoice_date", "L441-11 II"),
        ({"naf_code": "11.01Z"}, 30, "end_of_month", "L441-11 II 3°"),
        ({"naf_code": "10.11Z", "requested_terms": RequestedTerms(days=90)}, 20, "invoice_date",
         "L441-11 II 2°"),
    ],
)  # fmt: skip
def test_sector_caps_cut_the_policy_deadline(
    changes: dict[str, Any], days: int, basis: str, rule: str
) -> None:
    terms = recommend(grade="A", **changes)
    assert (terms.deadline.days, terms.deadline.basis) == (days, basis)
    (adjustment,) = [a for a in terms.adjustments if a.field == "deadline"]
    assert adjustment.rule == rule
    assert f"Code de commerce {rule}:" in adjustment.message


def test_a_deadline_within_the_sector_cap_is_left_alone() -> None:
    terms = recommend(grade="D", naf_code="10.51A")
    assert terms.deadline.days == 15
    assert not [a for a in terms.adjustments if a.field == "deadline"]


def test_the_invoice_date_defaults_to_today() -> None:
    terms = recommend(grade="C", invoice_date=None)
    assert terms.deadline.due_date == date(2026, 4, 11)


def test_sole_traders_are_always_reviewed() -> None:
    terms = recommend(grade="A", is_sole_trader=True)
    assert terms.review_required is True
    assert "GDPR art. 22" in terms.review_reasons[0]


def test_missing_rates_fall_back_to_the_latest_and_ask_for_review() -> None:
    terms = recommend(grade="A", invoice_date=date(2026, 11, 23))
    assert terms.late_payment_interest.half_year == "2026-H1"
    assert terms.review_required is True
    assert "no late-payment rates for 2026-H2" in terms.review_reasons[0]


def test_the_legal_floor_applies_when_ecb_plus_10_is_below_it() -> None:
    terms = recommend(grade="A", invoice_date=date(2024, 3, 1))
    interest = terms.late_payment_interest
    assert (float(interest.rate_percent), interest.rule) == (15.21, "legal_floor")
    assert "15,21\u00a0% (trois fois le taux d'intérêt légal de 5,07\u00a0%)" in terms.legal_notice


def test_a_contractual_rate_is_used_as_set() -> None:
    text = resources.files("service.terms").joinpath("default_policy.toml").read_text("utf-8")
    data = tomllib.loads(text)
    data["interest_rates"]["2026-H1"]["penalty_rate"] = 15
    policy = TermsPolicy.from_dict(data)
    terms = recommend_terms(request(), policy, today=TODAY)
    assert (float(terms.late_payment_interest.rate_percent), terms.late_payment_interest.rule) == (
        15.0,
        "contractual",
    )
    assert "15,00\u00a0% (taux contractuel)" in terms.legal_notice


def test_the_legal_notice_states_the_deadline_the_penalties_and_the_indemnity() -> None:
    notice = recommend(grade="A").legal_notice
    assert notice.startswith(
        "Paiement à 45 jours fin de mois (fin du mois de la facture + 45 jours), soit au plus "
        "tard le 15/05/2026."
    )
    assert "12,15\u00a0% (taux de refinancement de la BCE de 2,15\u00a0% majoré de 10 points)" in (
        notice
    )
    assert "indemnité forfaitaire pour frais de recouvrement de 40\u00a0€" in notice
    assert "L441-10 et D441-5" in notice
    assert "Pas d'escompte" in notice
    assert recommend(grade="E").legal_notice.startswith("Paiement intégral à la commande")


def test_a_high_p_severe_requires_prepayment() -> None:
    terms = recommend(grade="A", p_severe=0.6)
    assert terms.prepayment_required is True
    assert terms.deposit_percent == 100
    assert terms.deadline.days == 0
    assert any(a.field == "prepayment_required" and "0.60" in a.message for a in terms.adjustments)


def test_an_order_wholly_beyond_the_credit_limit_is_prepaid() -> None:
    terms = recommend(grade="D", open_amount=12_000)
    assert terms.available_credit == 0
    assert (terms.deposit_percent, terms.prepayment_required) == (100, True)
    assert {a.rule for a in terms.adjustments} >= {"credit_limit"}


def test_a_prospect_gets_a_limit_from_the_order_amount() -> None:
    terms = recommend(grade="B", usual_monthly_amount=None, open_amount=0)
    assert terms.credit_limit == 24_000


@pytest.mark.parametrize(("oldest", "settle"), [(10, "none"), (15, "none"), (16, "overdue")])
def test_long_overdue_invoices_must_be_settled_first(oldest: int, settle: str) -> None:
    terms = recommend(grade="A", overdue_count=1, overdue_amount=1_000, oldest_overdue_days=oldest)
    assert terms.settle_before_new_order == settle


def test_early_reminders_use_the_preferred_channel_and_the_payer_contact() -> None:
    payer = PayerContact(name="Mme Martin", email="compta@client.fr", phone="+33 6 12 34 56 78")
    plan = recommend(grade="D", preferred_channel="sms", payer=payer).dunning_plan
    assert [(s.channel, s.to) for s in plan[:4]] == [("sms", "+33 6 12 34 56 78")] * 4
    assert (plan[4].channel, plan[4].to) == ("email", "compta@client.fr")  # level 2: as planned
    assert (plan[6].channel, plan[6].to) == ("formal_notice", "Mme Martin")


def test_an_unreachable_preferred_channel_is_not_used() -> None:
    plan = recommend(grade="D", preferred_channel="sms", payer=PayerContact(name="X")).dunning_plan
    assert plan[0].channel == "email"
    assert plan[0].to is None


def test_good_payers_are_thanked_after_payment() -> None:
    terms = recommend(grade="A", good_payer=True, preferred_channel="letter")
    thanks = terms.dunning_plan[-1]
    assert (thanks.trigger, thanks.message_key, thanks.tone, thanks.channel) == (
        "payment",
        "thank_you",
        "friendly",
        "letter",
    )
    assert thanks.scheduled_on is None
    assert recommend(grade="A").dunning_plan[-1].message_key != "thank_you"


def test_to_dict_is_plain_json() -> None:
    terms = recommend(grade="D", good_payer=True, requested_terms=RequestedTerms(days=90))
    data = json.loads(json.dumps(terms.to_dict()))
    assert data["deadline"] == {"days": 15, "basis": "invoice_date", "due_date": "2026-03-25"}
    assert data["late_payment_interest"]["rate_percent"] == 12.15
    assert data["dunning_plan"][-1]["scheduled_on"] is None
    assert {adjustment["field"] for adjustment in data["adjustments"]} == {
        "deadline",
        "deposit_percent",
    }
    assert data["recovery_indemnity_eur"] == 40


def test_the_request_is_validated_and_frozen() -> None:
    assert request(naf_code="1051a").naf_code == "10.51A"
    with pytest.raises(ValidationError, match="NAF"):
        request(naf_code="dairy")
    with pytest.raises(ValidationError, match="overdue_amount cannot exceed open_amount"):
        request(open_amount=100, overdue_count=1, overdue_amount=200, oldest_overdue_days=3)
    with pytest.raises(ValidationError, match="need overdue_count > 0"):
        request(overdue_amount=10)
    with pytest.raises(ValidationError, match="Extra inputs"):
        request(discount=5)
    with pytest.raises(ValidationError):
        request(order_amount=float("nan"))
    with pytest.raises(ValidationError):
        request(p_late=1.5)
    with pytest.raises(ValidationError):
        request().grade = "A"  # type: ignore[misc]


def test_request_literals_match_the_data_layer() -> None:
    assert get_args(Grade) == GRADES
    assert get_args(ReminderChannel) == REMINDER_CHANNELS


def test_the_terms_package_loads_no_web_framework() -> None:
    """A notebook imports the policy without a server; the policy never raises HTTP errors."""
    code = (
        "import sys, service.terms; "
        "print(sorted(m for m in ('fastapi', 'starlette', 'mlflow', 'training') if m in "
        "sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"

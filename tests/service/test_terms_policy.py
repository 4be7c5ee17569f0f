"""Loading a terms policy: the shipped default, and every way a file is refused by key path."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from features.errors import CreditRiskError
from service.terms import InvalidPolicy, TermsPolicy, default_policy, load_policy

Policy = dict[str, Any]


def default_dict() -> Policy:
    text = resources.files("service.terms").joinpath("default_policy.toml").read_text("utf-8")
    return tomllib.loads(text)


def test_the_default_policy_loads() -> None:
    policy = default_policy()
    assert policy.version == "2026.1"
    assert set(policy.grades) == set("ABCDE")
    assert policy.interest_rates["2026-H1"].ecb_rate == Decimal("2.15")
    assert policy.settle_overdue_after_days == 15
    assert policy.prepayment_from_p_severe == 0.5


def test_load_policy_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        resources.files("service.terms").joinpath("default_policy.toml").read_text("utf-8"),
        encoding="utf-8",
    )
    assert load_policy(path).version == "2026.1"


def test_bands_are_cumulative_and_chosen_by_amount() -> None:
    data = default_dict()
    data["grades"]["C"]["bands"] = [
        {"from_amount": 50_000, "deposit_percent": 30},
        {"from_amount": 200_000, "payment_method": "card"},
    ]
    data["grades"]["D"]["bands"].append({"from_amount": 200_000, "deposit_percent": 60})
    policy = TermsPolicy.from_dict(data)
    assert policy.terms_for("C", 49_999.99).deposit_percent == 20
    assert policy.terms_for("C", 50_000).deposit_percent == 30
    top = policy.terms_for("C", 250_000)
    assert (top.deposit_percent, top.payment_method) == (30, "card")  # the 50k band still holds
    assert policy.grades["C"].path_for(250_000) == "grades.C.bands[1]"


def test_rates_for_takes_the_invoice_half_year_or_the_nearest_known() -> None:
    policy = default_policy()
    assert policy.rates_for(date(2026, 6, 30))[::2] == ("2026-H1", True)
    assert policy.rates_for(date(2024, 7, 1))[::2] == ("2024-H2", True)
    assert policy.rates_for(date(2026, 7, 1))[::2] == ("2026-H1", False)  # 2026-H2 is missing
    assert policy.rates_for(date(2020, 1, 1))[::2] == ("2023-H1", False)


def _set(path: str, value: Any) -> Callable[[Policy], None]:
    """An edit of the default policy: set the value at a dotted path ("grades.D.deposit")."""

    def edit(data: Policy) -> None:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value

    return edit


def _delete(path: str) -> Callable[[Policy], None]:
    def edit(data: Policy) -> None:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        del node[last]

    return edit


def _drop_formal_notice(data: Policy) -> None:
    plan = data["grades"]["C"]["dunning"]
    plan[:] = [step for step in plan if step["channel"] != "formal_notice"]


FORMAL_NOTICE = {
    "day_offset": 30,
    "channel": "formal_notice",
    "tone": "formal",
    "level": 3,
    "message_key": "formal_notice",
}
REMINDER = {
    "day_offset": 3,
    "channel": "email",
    "tone": "friendly",
    "level": 1,
    "message_key": "reminder",
}


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (_set("grades.D.deposit_percent", 120), "grades.D.deposit_percent",
         "must be between 0 and 100 (got 120)"),
        (_set("grades.B.deposit_pct", 5), "grades.B.deposit_pct",
         "unknown key; did you mean 'deposit_percent'?"),
        (_set("surprise", 1), "surprise", "unknown key (allowed: version, description, "),
        (_set("grades.A.deadline", {"days": 90, "basis": "invoice_date"}), "grades.A.deadline.days",
         "90 days from the invoice date exceed the legal maximum of 60 days from the invoice "
         "date (Code de commerce L441-10 I); the policy is refused rather than capped"),
        (_set("grades.A.deadline", {"days": 50, "basis": "end_of_month"}), "grades.A.deadline.days",
         "50 days end of month exceed the legal maximum of 45 days end of month"),
        (_set("grades.A.deadline", {"days": 30, "basis": "next_month"}),
         "grades.A.deadline.basis", "must be one of 'invoice_date', 'end_of_month'"),
        (_set("grades.D.deposit_percent", 10), "grades.D.deposit_percent",
         "grade D asks a lower deposit (10 %, vs 20 %) than grade C: a riskier grade must not "
         "get softer terms than a safer one"),
        (_set("grades.C.deadline", {"days": 50, "basis": "invoice_date"}), "grades.C.deadline",
         "grade C gets a longer deadline (50 days from the invoice date, vs 45 days from the "
         "invoice date) than grade B"),
        # 20 days end of month can fall due 50 days after the invoice: softer than B's 45 days.
        (_set("grades.C.deadline", {"days": 20, "basis": "end_of_month"}), "grades.C.deadline",
         "grade C gets a longer deadline"),
        (_set("grades.D.settle_before_new_order", "none"), "grades.D.settle_before_new_order",
         "grade D settles less before a new order ('none', vs 'overdue') than grade C"),
        (_set("grades.D.credit_limit", {"monthly_multiple": 1.0, "cap": 40_000}),
         "grades.D.credit_limit", "grade D gets a higher credit limit"),
        (_set("grades.C.bands", [{"from_amount": 50_000, "deposit_percent": 15}]),
         "grades.C.bands[0].deposit_percent",
         "grade C asks a lower deposit (15 %, vs 20 %) than grade B for orders from 50,000 EUR"),
        (_set("grades.E.dunning", [FORMAL_NOTICE]), "grades.E.dunning",
         "grade E has fewer reminders before the due date than grade D"),
        (_delete("grades.C"), "grades.C", "is missing"),
        (_set("interest_rates.2026-H1.penalty_rate", 7.5), "interest_rates.2026-H1.penalty_rate",
         "7.5 % is below the legal floor of 3 x 2.62 % = 7.86 % (Code de commerce L441-10 II)"),
        (_set("interest_rates.2026-H3", {"ecb_rate": 2.0, "legal_rate_professionals": 2.0}),
         "interest_rates.2026-H3", "not a half-year: write it like 2026-H1"),
        (_set("grades.B.deposit_percent", "10"), "grades.B.deposit_percent",
         "must be a number (got '10')"),
        (_set("grades.B.prepayment", 1), "grades.B.prepayment", "must be true or false (got 1)"),
        (_set("grades.E.deposit_percent", 50), "grades.E.deposit_percent",
         "must be 100 with prepayment"),
        (_set("grades.D.payment_method", "prepayment"), "grades.D.payment_method",
         "'prepayment' needs prepayment = true"),
        (_drop_formal_notice, "grades.C.dunning[5].channel",
         "injunction needs a formal notice (mise en demeure) on an earlier day"),
        (_set("grades.A.dunning", [FORMAL_NOTICE, REMINDER]), "grades.A.dunning[1].day_offset",
         "steps must be in date order"),
        (_set("grades.A.dunning", [{**REMINDER, "day_offset": -5}]), "grades.A.dunning[0]",
         "a step before the due date is a courtesy reminder"),
        (_set("grades.A.dunning", [{**FORMAL_NOTICE, "level": 2}]),
         "grades.A.dunning[0].level", "a formal notice is level 3 or 4"),
        (_set("grades.A.dunning", []), "grades.A.dunning", "must not be empty"),
        (_set("grades.B.bands", [{"from_amount": 50_000}]), "grades.B.bands[0]",
         "the band changes nothing"),
        (_set("grades.B.bands", [{"from_amount": 9e4, "deposit_percent": 30},
                                 {"from_amount": 5e4, "deposit_percent": 20}]),
         "grades.B.bands[1].from_amount", "bands must rise in amount"),
        (_set("version", ""), "version", "String should have at least 1 character"),
    ],
)  # fmt: skip
def test_a_wrong_policy_is_refused_naming_the_key(
    edit: Callable[[Policy], None], path: str, message: str
) -> None:
    data = default_dict()
    edit(data)
    with pytest.raises(InvalidPolicy) as refused:
        TermsPolicy.from_dict(data, source="test.toml")
    messages = [problem.message for problem in refused.value.problems if problem.path == path]
    assert any(message in found for found in messages), refused.value
    assert f"{path}: " in str(refused.value)
    assert "test.toml" in str(refused.value)


def test_every_problem_is_listed_at_once() -> None:
    data = default_dict()
    data["grades"]["D"]["deposit_percent"] = 120
    data["grades"]["B"]["deposit_pct"] = 5
    del data["grades"]["E"]["credit_limit"]
    with pytest.raises(InvalidPolicy) as refused:
        TermsPolicy.from_dict(data)
    assert sorted(problem.path for problem in refused.value.problems) == [
        "grades.B.deposit_pct",
        "grades.D.deposit_percent",
        "grades.E.credit_limit",
    ]


def test_a_problem_of_the_base_terms_is_not_repeated_for_each_band() -> None:
    data = default_dict()
    data["grades"]["D"]["deadline"] = {"days": 61, "basis": "invoice_date"}
    with pytest.raises(InvalidPolicy) as refused:
        TermsPolicy.from_dict(data)
    assert [p.path for p in refused.value.problems] == ["grades.D.deadline.days"]


def test_invalid_policy_is_a_domain_error() -> None:
    with pytest.raises(CreditRiskError):
        TermsPolicy.from_dict({"version": "1"})
    with pytest.raises(InvalidPolicy, match="a policy must be a table"):
        TermsPolicy.from_dict([])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('version = "1"\ngrades = {A = ', "not valid TOML"),
        ('version = "1"\nversion = "2"\n', "not valid TOML"),
        ("\x00", "not valid TOML"),
    ],
)
def test_a_malformed_file_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidPolicy, match=message) as refused:
        load_policy(path)
    assert str(path) in str(refused.value)
    assert refused.value.problems[0].path == ""
    assert "(file): not valid TOML" in str(refused.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidPolicy, match="cannot be read"):
        load_policy(tmp_path / "nowhere.toml")


def test_the_policy_is_frozen() -> None:
    policy = default_policy()
    with pytest.raises(AttributeError):
        policy.version = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.grades["A"] = policy.grades["B"]  # type: ignore[index]
    assert copy.copy(policy.terms_for("A", 0)) == policy.terms_for("A", 0)

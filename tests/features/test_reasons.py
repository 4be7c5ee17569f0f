"""Reasons: every feature reads in French and English; the strongest contributions come first."""

from __future__ import annotations

import math

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from features.point_in_time import FEATURES, HISTORY_FEATURES
from features.reasons import SENTENCES, Reason, describe, explain, explain_frame
from features.scoring_model import ScoringModel

NBSP = "\u00a0"

# A known customer of a registered company with published accounts.
TYPICAL: dict[str, float] = {
    "has_history": 1.0,
    "prior_invoices": 24.0,
    "prior_amount_mean": 4200.0,
    "amount_vs_usual": 3.1,
    "relationship_days": 1200.0,
    "settled_count": 20.0,
    "settled_late_share": 0.42,
    "settled_severe_share": 0.15,
    "days_late_mean": 12.3,
    "days_late_max": 75.0,
    "recent_days_late_mean": 20.4,
    "recent_late30_count": 3.0,
    "days_late_trend": 9.2,
    "days_since_last_settlement": 35.0,
    "known_late_share": 0.38,
    "known_severe_share": 0.1,
    "open_count": 4.0,
    "open_amount": 32_000.0,
    "overdue_count": 2.0,
    "overdue_amount": 18_400.0,
    "overdue_days_mean": 40.0,
    "oldest_overdue_days": 95.0,
    "dispute_rate": 0.12,
    "terms_vs_usual": 15.0,
    "amount_log": math.log1p(18_400),
    "terms_days": 60.0,
    "po_required": 1.0,
    "po_missing": 0.0,
    "issue_month": 8.0,
    "due_month": 10.0,
    "month_end_issue": 1.0,
    "has_company": 1.0,
    "company_age_years": 1.2,
    "share_capital_log": math.log1p(10_000),
    "legal_form": 5710.0,
    "naf_division": 43.0,
    "headcount": 4.0,
    "sole_trader": 0.0,
    "has_accounts": 1.0,
    "accounts_confidential": 0.0,
    "accounts_age_days": 608.0,
    "revenue_log": math.log1p(2.4e6),
    "revenue_growth": -0.18,
    "net_margin": 0.04,
    "equity_ratio": -0.05,
    "negative_equity": 1.0,
    "liquidity_ratio": 1.4,
    "cash_ratio": 0.2,
    "debt_ratio": 0.8,
    "dso_days": 70.0,
    "dpo_days": 95.0,
    "proceedings_count": 1.0,
    "proceeding_severity": 3.0,
    "days_since_proceeding": 122.0,
}
# What build_features gives a prospect: zero counts, unknown averages.
PROSPECT = {
    **TYPICAL,
    **dict.fromkeys(HISTORY_FEATURES, math.nan),
    **dict.fromkeys(("has_history", "prior_invoices", "settled_count", "open_count",
                     "open_amount", "overdue_count", "overdue_amount"), 0.0),
}  # fmt: skip
ACCOUNTS_FIGURES = ("accounts_confidential", "accounts_age_days", "revenue_log", "revenue_growth",
                    "net_margin", "equity_ratio", "negative_equity", "liquidity_ratio",
                    "cash_ratio", "debt_ratio", "dso_days", "dpo_days")  # fmt: skip
REGISTRY_FIGURES = ("company_age_years", "share_capital_log", "legal_form", "naf_division",
                    "headcount", "sole_trader")  # fmt: skip
NO_ACCOUNTS = {**TYPICAL, "has_accounts": 0.0, **dict.fromkeys(ACCOUNTS_FIGURES, math.nan)}
UNKNOWN_COMPANY = {
    **NO_ACCOUNTS,
    "has_company": 0.0,
    **dict.fromkeys(REGISTRY_FIGURES, math.nan),
    "proceedings_count": 0.0,
    "proceeding_severity": 0.0,
    "days_since_proceeding": math.nan,
}
# Codes for which 0 is not a value.
CODES = ("issue_month", "due_month", "legal_form", "naf_division")


def plain(text: str) -> str:
    """The text with its non-breaking spaces as plain spaces, to compare with typed strings."""
    return text.replace(NBSP, " ")


def read(feature: str, value: float, **context: float) -> tuple[str, str] | None:
    """The sentence of `feature` at `value`, in a typical row changed by `context`."""
    said = describe(feature, {**TYPICAL, **context, feature: value})
    return None if said is None else (plain(said[0]), plain(said[1]))


def assert_clean(texts: tuple[str, str] | None) -> None:
    assert texts is not None
    for text in texts:
        assert text
        assert text == text.strip()
        assert "  " not in plain(text)
        for leak in ("nan", "inf", "None", "{}"):
            assert leak not in text.split(" "), text


# ---- sentences -------------------------------------------------------------------------------


def test_every_feature_has_a_sentence_and_no_sentence_is_stale() -> None:
    assert [name for name in FEATURES if name not in SENTENCES] == []
    assert [name for name in SENTENCES if name not in FEATURES] == []
    assert [name for name in FEATURES if name not in TYPICAL] == []


@pytest.mark.parametrize("feature", FEATURES)
def test_every_feature_reads_in_both_languages_for_a_typical_value(feature: str) -> None:
    texts = describe(feature, TYPICAL)
    assert_clean(texts)
    assert texts is not None
    assert texts[0] != texts[1]


@pytest.mark.parametrize("feature", FEATURES)
def test_edge_values_read_cleanly_or_not_at_all(feature: str) -> None:
    for context in (TYPICAL, PROSPECT, NO_ACCOUNTS, UNKNOWN_COMPANY):
        for value in (0.0, math.nan, -1.0, -0.5, 0.5, 1e9, math.inf):
            texts = describe(feature, {**context, feature: value})
            if texts is not None:
                assert_clean(texts)


@pytest.mark.parametrize("feature", [name for name in FEATURES if name not in CODES])
def test_zero_reads_for_every_feature_but_codes(feature: str) -> None:
    assert_clean(describe(feature, {**TYPICAL, feature: 0.0}))


EXAMPLES = [
    ("recent_late30_count", 3.0, {"settled_count": 12.0},
     "3 des 5 dernières factures payées avec plus de 30 jours de retard",
     "3 of the last 5 invoices paid more than 30 days late"),
    ("recent_late30_count", 3.0, {"settled_count": 4.0},
     "3 des 4 dernières factures payées avec plus de 30 jours de retard",
     "3 of the last 4 invoices paid more than 30 days late"),
    ("recent_late30_count", 0.0, {"settled_count": 9.0},
     "aucune des 5 dernières factures payée avec plus de 30 jours de retard",
     "none of the last 5 invoices paid more than 30 days late"),
    ("settled_late_share", 0.42, {}, "42 % des factures réglées l'ont été en retard",
     "42% of settled invoices were paid late"),
    ("settled_late_share", 0.004, {}, "moins de 1 % des factures réglées l'ont été en retard",
     "less than 1% of settled invoices were paid late"),
    ("days_late_mean", 12.3, {}, "retard moyen de 12 jours", "12 days late on average"),
    ("days_late_mean", -3.0, {}, "payées en moyenne 3 jours avant l'échéance",
     "paid 3 days early on average"),
    ("recent_days_late_mean", 20.4, {"settled_count": 2.0},
     "retard moyen de 20 jours sur les 2 dernières factures",
     "20 days late on average for the last 2 invoices"),
    ("overdue_count", 2.0, {"overdue_amount": 18_400.0}, "2 factures échues impayées (18 400 €)",
     "2 overdue invoices unpaid (€18,400)"),
    ("overdue_amount", 18_400.0, {"overdue_count": 2.0}, "2 factures échues impayées (18 400 €)",
     "2 overdue invoices unpaid (€18,400)"),
    ("oldest_overdue_days", 95.0, {}, "la plus ancienne facture impayée a 95 jours de retard",
     "the oldest unpaid invoice is 95 days overdue"),
    ("open_count", 4.0, {"open_amount": 1_234_567.0}, "4 factures en cours (1,2 M€)",
     "4 open invoices (€1.2M)"),
    ("negative_equity", 1.0, {}, "capitaux propres négatifs dans les derniers comptes",
     "negative equity in the last accounts"),
    ("equity_ratio", -0.05, {}, "capitaux propres négatifs dans les derniers comptes",
     "negative equity in the last accounts"),
    ("company_age_years", 1.2, {}, "entreprise créée il y a 14 mois",
     "company created 14 months ago"),
    ("company_age_years", 12.4, {}, "entreprise créée il y a 12 ans",
     "company created 12 years ago"),
    ("has_accounts", 0.0, {}, "aucun compte annuel publié", "no published annual accounts"),
    ("revenue_log", math.nan, {"has_accounts": 0.0}, "aucun compte annuel publié",
     "no published annual accounts"),
    ("accounts_confidential", 1.0, {}, "comptes déposés en confidentialité",
     "accounts filed as confidential"),
    ("proceeding_severity", 3.0, {"proceedings_count": 1.0, "days_since_proceeding": 122.0},
     "procédure de redressement judiciaire ouverte il y a 4 mois",
     "receivership proceedings (redressement judiciaire) opened 4 months ago"),
    ("proceeding_severity", 2.5, {"proceedings_count": 2.0, "days_since_proceeding": 40.0},
     "procédure collective (niveau 2,5) il y a 40 jours",
     "insolvency proceedings (level 2.5) 40 days ago"),
    ("proceedings_count", 0.0, {"proceeding_severity": 0.0},
     "aucune procédure collective connue", "no known insolvency proceedings"),
    ("has_history", 0.0, {}, "nouveau client : aucun historique de paiement",
     "new customer: no payment history"),
    ("amount_vs_usual", 3.1, {}, "montant 3,1 fois supérieur à l'habitude",
     "amount 3.1 times the usual"),
    ("terms_days", 60.0, {}, "délai demandé de 60 jours", "requested payment terms of 60 days"),
    ("issue_month", 8.0, {}, "facture émise en août", "invoice issued in August"),
    ("issue_month", 12.0, {}, "facture émise en décembre", "invoice issued in December"),
    ("po_required", 1.0, {}, "le client exige un numéro de bon de commande",
     "the customer requires a purchase order number"),
    ("dpo_days", 95.0, {}, "le client paie ses fournisseurs en 95 jours (DPO)",
     "the customer pays its suppliers in 95 days (DPO)"),
    ("revenue_growth", -0.18, {}, "chiffre d'affaires en baisse de 18 %", "revenue down 18%"),
    ("revenue_log", math.log1p(2.4e6), {}, "chiffre d'affaires de 2,4 M€", "revenue of €2.4M"),
    ("amount_log", math.log1p(18_400), {}, "facture de 18 400 €", "invoice of €18,400"),
    ("headcount", 3.0, {}, "effectif : 6 à 9 salariés", "headcount: 6 to 9 employees"),
    ("headcount", 9.0, {}, "effectif : 250 à 499 salariés", "headcount: 250 to 499 employees"),
    ("sole_trader", 1.0, {}, "entrepreneur individuel", "sole trader"),
    ("legal_form", 5710.0, {}, "forme juridique : SAS",
     "legal form: simplified joint-stock company (SAS)"),
    ("legal_form", 4110.0, {}, "forme juridique 4110", "legal form 4110"),
    ("naf_division", 43.0, {}, "secteur : construction (NAF 43)",
     "sector: construction (NAF 43)"),
    ("naf_division", 4.0, {}, "division NAF 04", "NAF division 04"),
    ("relationship_days", 1200.0, {}, "client depuis 3 ans", "customer for 3 years"),
    ("days_late_trend", 9.2, {"settled_count": 12.0},
     "retards en hausse : +9 jours sur les 5 dernières factures",
     "delays rising: +9 days over the last 5 invoices"),
    ("accounts_age_days", 608.0, {}, "derniers comptes clos il y a 20 mois",
     "last accounts closed 20 months ago"),
    ("has_company", 0.0, {}, "entreprise inconnue du registre",
     "company not found in the registry"),
]  # fmt: skip


@pytest.mark.parametrize(("feature", "value", "context", "french", "english"), EXAMPLES)
def test_examples_read_as_written(
    feature: str, value: float, context: dict[str, float], french: str, english: str
) -> None:
    assert read(feature, value, **context) == (french, english)


def test_french_groups_thousands_and_units_with_non_breaking_spaces() -> None:
    said = describe("overdue_count", TYPICAL)
    assert said == (f"2 factures échues impayées (18{NBSP}400{NBSP}€)",
                    "2 overdue invoices unpaid (€18,400)")  # fmt: skip
    said = describe("settled_late_share", TYPICAL)
    assert said is not None
    assert said[0].startswith(f"42{NBSP}% ")


def test_a_missing_accounts_figure_reads_as_no_accounts_or_confidential_ones() -> None:
    for name in ACCOUNTS_FIGURES:
        assert read(name, math.nan, has_accounts=0.0) == (
            "aucun compte annuel publié", "no published annual accounts"
        )  # fmt: skip
        if name != "accounts_confidential":
            assert read(name, math.nan, accounts_confidential=1.0) == (
                "comptes déposés en confidentialité", "accounts filed as confidential"
            )  # fmt: skip
            assert read(name, math.nan, accounts_confidential=0.0) is None


def test_a_missing_number_of_a_known_customer_makes_no_sentence() -> None:
    for name in ("days_late_mean", "overdue_days_mean", "amount_vs_usual", "settled_late_share"):
        assert read(name, math.nan) is None


def test_every_history_feature_of_a_new_customer_says_so() -> None:
    new_customer = (
        "nouveau client : aucun historique de paiement",
        "new customer: no payment history",
    )
    for name in HISTORY_FEATURES:
        said = describe(name, PROSPECT)
        assert said is not None
        assert (plain(said[0]), plain(said[1])) == new_customer


# ---- choosing reasons --------------------------------------------------------------------------


def test_reasons_come_in_order_of_absolute_contribution_with_their_direction() -> None:
    contributions = {"dpo_days": 0.1, "recent_late30_count": 0.9, "company_age_years": -0.4,
                     "issue_month": 0.05, "relationship_days": -0.6, "bias": -2.0}  # fmt: skip
    reasons = explain(TYPICAL, contributions)
    assert [r.feature for r in reasons] == [
        "recent_late30_count", "relationship_days", "company_age_years", "dpo_days"
    ]  # fmt: skip
    assert [r.direction for r in reasons] == ["raises", "lowers", "lowers", "raises"]
    assert [r.contribution for r in reasons] == [0.9, -0.6, -0.4, 0.1]
    assert reasons[0] == Reason(
        "recent_late30_count", "raises", 0.9,
        "3 des 5 dernières factures payées avec plus de 30 jours de retard",
        "3 of the last 5 invoices paid more than 30 days late",
    )  # fmt: skip


def test_at_most_count_reasons() -> None:
    contributions = {name: 0.1 + i / 100 for i, name in enumerate(FEATURES)}
    assert len(explain(TYPICAL, contributions)) == 4
    assert len(explain(TYPICAL, contributions, count=2)) == 2
    assert explain(TYPICAL, contributions, count=0) == []
    with pytest.raises(ValueError, match="count"):
        explain(TYPICAL, contributions, count=-1)


def test_tiny_contributions_the_bias_and_unknown_columns_are_ignored() -> None:
    contributions = {"bias": 3.0, "not_a_feature": 2.0, "dpo_days": 0.019, "terms_days": -0.01,
                     "naf_division": 0.03, "headcount": 0.0}  # fmt: skip
    assert [r.feature for r in explain(TYPICAL, contributions)] == ["naf_division"]
    assert explain(TYPICAL, contributions, min_contribution=0.05) == []
    everything = explain(TYPICAL, contributions, min_contribution=0.0)
    assert [r.feature for r in everything] == ["naf_division", "dpo_days", "terms_days"]


def test_a_value_that_makes_no_sentence_gives_way_to_the_next() -> None:
    features = {**TYPICAL, "days_late_mean": math.nan, "revenue_log": math.nan,
                "has_accounts": 0.0}  # fmt: skip
    contributions = {"days_late_mean": 1.0, "revenue_log": 0.8, "dso_days": 0.5, "cash_ratio": 0.4,
                     "terms_days": 0.3, "headcount": 0.2}  # fmt: skip
    reasons = explain(features, contributions)
    # revenue_log NaN means no accounts; dso_days and cash_ratio (present) still read.
    assert [r.feature for r in reasons] == ["revenue_log", "dso_days", "cash_ratio", "terms_days"]
    assert plain(reasons[0].text_fr) == "aucun compte annuel publié"


def test_one_reason_per_fact() -> None:
    contributions = {"overdue_count": 0.5, "overdue_amount": 0.45, "negative_equity": 0.4,
                     "equity_ratio": 0.35, "terms_days": 0.2, "dpo_days": 0.1}  # fmt: skip
    reasons = explain(TYPICAL, contributions)
    assert [r.feature for r in reasons] == ["overdue_count", "negative_equity", "terms_days",
                                            "dpo_days"]  # fmt: skip
    prospect = explain(PROSPECT, {"settled_count": -0.5, "overdue_count": -0.4, "headcount": 0.2})
    assert [plain(r.text_fr) for r in prospect] == [
        "nouveau client : aucun historique de paiement", "effectif : 10 à 19 salariés"
    ]  # fmt: skip


def test_values_need_not_be_floats() -> None:
    features: dict[str, object] = {**TYPICAL, "overdue_count": 2, "overdue_amount": None,
                                   "issue_month": "8"}  # fmt: skip
    reasons = explain(features, {"overdue_count": 1, "issue_month": -0.5})  # type: ignore[arg-type]
    assert [plain(r.text_fr) for r in reasons] == ["2 factures échues impayées",
                                                   "facture émise en août"]  # fmt: skip


# ---- frames ----------------------------------------------------------------------------------


def random_rows(count: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows drawn around the typical, prospect and unknown-company rows, some values missing;
    contributions of all sizes, some tied."""
    rng = np.random.default_rng(seed)
    bases = pd.DataFrame([TYPICAL, PROSPECT, NO_ACCOUNTS, UNKNOWN_COMPANY])[list(FEATURES)]
    features = bases.iloc[rng.integers(0, len(bases), count)].reset_index(drop=True)
    features = features * rng.choice([0.0, 0.5, 1.0, 2.0], size=features.shape)
    features = features.mask(rng.random(features.shape) < 0.1)
    features.index = pd.RangeIndex(100, 100 + count)
    raw = rng.normal(0, 0.3, (count, len(FEATURES) + 1)).round(rng.choice([1, 3]))
    contributions = pd.DataFrame(raw, columns=[*FEATURES, "bias"], index=features.index)
    return features, contributions


@pytest.mark.parametrize(("count", "min_contribution"), [(4, 0.02), (2, 0.2), (7, 0.0)])
def test_explain_frame_agrees_with_explain_row_by_row(count: int, min_contribution: float) -> None:
    features, contributions = random_rows(400, seed=count)
    framed = explain_frame(features, contributions, count=count, min_contribution=min_contribution)
    one_by_one = [
        explain(features.loc[i].to_dict(), contributions.loc[i].to_dict(), count=count,
                min_contribution=min_contribution)
        for i in features.index
    ]  # fmt: skip
    assert framed == one_by_one
    assert max(len(reasons) for reasons in framed) == count


def test_explain_frame_reads_columns_by_name() -> None:
    features, contributions = random_rows(50, seed=1)
    shuffled = features[features.columns[::-1]]
    assert explain_frame(shuffled, contributions) == explain_frame(features, contributions)


def test_explain_frame_needs_the_same_rows() -> None:
    features, contributions = random_rows(5, seed=2)
    with pytest.raises(ValueError, match="same index"):
        explain_frame(features, contributions.reset_index(drop=True))
    assert explain_frame(features.iloc[:0], contributions.iloc[:0]) == []


def test_explains_the_contributions_of_a_lightgbm_model() -> None:
    features, _ = random_rows(300, seed=3)
    rng = np.random.default_rng(3)
    late = (features["days_late_mean"].fillna(0) + rng.normal(0, 5, len(features))) > 5
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_in_leaf": 5},
        lgb.Dataset(features.to_numpy(), late.astype(int).to_numpy()),
        num_boost_round=20,
    )
    model = ScoringModel(boosters={"late": booster}, calibrators={}, features=FEATURES)
    contributions = model.contributions(features)
    for i, reasons in zip(features.index, explain_frame(features, contributions), strict=True):
        assert len(reasons) <= 4
        for reason in reasons:
            assert reason.contribution == contributions.loc[i, reason.feature]
            assert (reason.direction == "raises") == (reason.contribution > 0)

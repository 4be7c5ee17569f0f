"""The demo portfolio: canonical, deterministic, and payment behaviour with the right causes."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.demo import (
    SECTORS,
    InvoiceCauses,
    generate_portfolio,
    invoice_outcomes,
    portfolio_summary,
    sector_group,
    true_probabilities,
)
from features.ledger import LedgerStore
from features.schemas import ROW, TABLES, validate_table

END = date(2026, 10, 31)
SMALL = {"companies": 150, "years": 2, "end_date": END}
INSOLVENCY = ("sauvegarde", "redressement", "liquidation")


@pytest.fixture(scope="module")
def small() -> dict[str, pd.DataFrame]:
    return generate_portfolio(seed=11, **SMALL)


@pytest.fixture(scope="module")
def larger() -> dict[str, pd.DataFrame]:
    """Big enough for sampling error to be small next to the effects tested (~100k invoices)."""
    return generate_portfolio(seed=5, companies=1000, years=3, end_date=END)


# ---- code: canonical, complete, deterministic ------------------------------------------------


def test_every_frame_is_canonical_and_lands_in_the_ledger(small, tmp_path: Path) -> None:
    assert set(small) == set(TABLES)
    for name, frame in small.items():
        validated = validate_table(TABLES[name], frame, "demo", today=END)
        pd.testing.assert_frame_equal(validated.drop(columns=ROW), frame)
        assert not frame.duplicated(list(TABLES[name].key)).any(), name
    store = LedgerStore.open("sqlite:///" + str(tmp_path / "x.db"))
    try:
        report = store.write(small, "demo")
        assert store.counts() == {name: len(frame) for name, frame in small.items()}
        assert report.rows_added["invoice"] > 1000
    finally:
        store.close()


def test_references_hold_and_nothing_is_dated_after_the_end(small) -> None:
    invoice, payment = small["invoice"], small["payment"]
    assert invoice["customer_id"].isin(small["customer"]["customer_id"]).all()
    assert payment["invoice_id"].isin(invoice["invoice_id"]).all()
    assert small["customer"]["siren"].isin(small["company"]["siren"]).all()
    assert small["legal_event"]["siren"].isin(small["company"]["siren"]).all()
    paid = payment.groupby("invoice_id")["amount"].sum()
    amount = invoice.set_index("invoice_id")["amount"].loc[paid.index]
    assert (paid <= amount + 0.005).all()
    end = pd.Timestamp(END)
    assert (payment["paid_date"] <= end).all()
    assert (small["legal_event"]["event_date"] <= end).all()
    assert (small["financial_statement"]["publication_date"] <= end).all()
    assert (invoice["issue_date"] <= end).all()
    # The book ends as a real one does: with invoices not yet due, and none of them paid late.
    not_yet_due = invoice.loc[invoice["due_date"] > end, "invoice_id"]
    assert len(not_yet_due) > 0
    assert small["demo_oracle"]["invoice_id"].tolist() == invoice["invoice_id"].tolist()


def test_the_same_seed_gives_the_same_portfolio_and_another_seed_another(small) -> None:
    again = generate_portfolio(seed=11, **SMALL)
    for name, frame in small.items():
        pd.testing.assert_frame_equal(again[name], frame)
    other = generate_portfolio(seed=12, **SMALL)
    assert not other["company"]["siren"].equals(small["company"]["siren"])
    assert not other["invoice"]["amount"].equals(small["invoice"]["amount"])


def test_size_scales_with_companies_and_the_invoice_rate() -> None:
    base = len(generate_portfolio(seed=3, companies=200, years=2)["invoice"])
    doubled = len(generate_portfolio(seed=3, companies=400, years=2)["invoice"])
    halved = len(
        generate_portfolio(seed=3, companies=200, years=2, invoices_per_year=17)["invoice"]
    )
    assert 1.6 < doubled / base < 2.4
    assert 0.4 < halved / base < 0.6


def test_progress_is_reported_up_to_completion() -> None:
    calls: list[tuple[str, float]] = []
    generate_portfolio(seed=1, companies=30, years=1, progress=lambda s, f: calls.append((s, f)))
    fractions = [fraction for _, fraction in calls]
    assert fractions == sorted(fractions)
    assert calls[-1] == ("done", 1.0)


@pytest.mark.parametrize("arguments", [{"companies": 0}, {"years": 0}, {"invoices_per_year": 0.0}])
def test_impossible_sizes_are_refused(arguments) -> None:
    with pytest.raises(ValueError, match=r"must be positive|at least one"):
        generate_portfolio(**arguments)


# ---- data: a believable registry -------------------------------------------------------------


def test_prospects_are_in_the_registry_without_an_account(small) -> None:
    customers = set(small["customer"]["siren"])
    prospects = small["company"].loc[~small["company"]["siren"].isin(customers), "siren"]
    assert 0.1 < len(prospects) / len(small["company"]) < 0.3
    invoiced = small["invoice"]["customer_id"].map(
        small["customer"].set_index("customer_id")["siren"]
    )
    assert not invoiced.isin(prospects).any()
    assert small["financial_statement"]["siren"].isin(prospects).any()
    assert small["customer"]["siren"].is_unique


def test_companies_look_like_french_registry_entries(larger) -> None:
    company = larger["company"]
    assert set(sector_group(company["naf_code"])) == {s.name for s in SECTORS}
    sole = company["is_sole_trader"].astype(bool)
    assert 0.04 < sole.mean() < 0.12
    assert (company.loc[sole, "legal_form"] == "1000").all()
    assert company.loc[sole, "share_capital"].isna().all()
    ceased = company["status"] == "ceased"
    assert company.loc[ceased, "ceased_date"].notna().all()
    assert company.loc[~ceased, "ceased_date"].isna().all()


def test_accounts_are_published_late_and_confidential_ones_show_nothing(larger) -> None:
    statements = larger["financial_statement"]
    lag = (statements["publication_date"] - statements["fiscal_year_end"]).dt.days
    assert lag.between(89, 245).all()
    confidential = statements["confidential"].astype(bool)
    assert 0.05 < confidential.mean() < 0.3
    amounts = statements.columns[statements.columns.get_loc("revenue") : -1]
    assert statements.loc[confidential, amounts].isna().all().all()
    assert statements.loc[~confidential, amounts].notna().all().all()
    assert (statements.loc[~confidential, "equity"] < 0).any()


def test_liquidated_customers_are_ceased_invoiced_no_more_and_frozen(larger) -> None:
    events = larger["legal_event"]
    siren_of = larger["customer"].set_index("customer_id")["siren"]
    liquidated = events[(events["kind"] == "liquidation") & events["siren"].isin(siren_of)]
    assert len(liquidated) > 0
    company = larger["company"].set_index("siren")
    assert (company.loc[liquidated["siren"], "status"] == "ceased").all()
    invoice = larger["invoice"].assign(siren=lambda f: f["customer_id"].map(siren_of))
    last_invoice = invoice.groupby("siren")["issue_date"].max()
    liquidation_date = liquidated.set_index("siren")["event_date"]
    invoiced = liquidation_date.index.intersection(last_invoice.index)
    assert (last_invoice[invoiced] < liquidation_date[invoiced]).all()
    # Debts from before the opening judgment are frozen: none is paid after it.
    opening = events[events["kind"].isin(INSOLVENCY)].groupby("siren")["event_date"].min()
    before_opening = invoice[invoice["issue_date"] < invoice["siren"].map(opening)]
    settled = larger["payment"].merge(before_opening, on="invoice_id")
    assert len(settled) > 0
    assert (settled["paid_date"] <= settled["siren"].map(opening)).all()


def test_some_invoices_are_paid_in_parts_and_some_transfers_pay_several(larger) -> None:
    payment = larger["payment"]
    parts = payment.groupby("invoice_id").size()
    assert 0.02 < (parts == 2).mean() < 0.08
    several = payment.groupby("payment_id").filter(lambda rows: len(rows) > 1)
    assert len(several) > 0
    customer = several["invoice_id"].map(larger["invoice"].set_index("invoice_id")["customer_id"])
    assert (customer.groupby(several["payment_id"]).nunique() == 1).all()
    assert (several.groupby("payment_id")["paid_date"].nunique() == 1).all()


# ---- model: the causes and the oracle --------------------------------------------------------


def _ordinary(**changes: object) -> InvoiceCauses:
    """One ordinary invoice: a 10-person manufacturer of 12 years, its usual amount, 45 days."""
    causes = InvoiceCauses(
        habit=np.array([0.0]),
        health=np.array([0.0]),
        sector=np.array([_sector("manufacturing")]),
        headcount=np.array([10]),
        age_years=np.array([12.0]),
        amount_ratio=np.array([1.0]),
        disputed=np.array([False]),
        missing_po=np.array([False]),
        due_month=np.array([4]),
        terms_days=np.array([45]),
        days_to_opening=np.array([np.inf]),
    )
    return replace(causes, **{name: np.array([value]) for name, value in changes.items()})


def _sector(name: str) -> int:
    return next(i for i, sector in enumerate(SECTORS) if sector.name == name)


@pytest.mark.parametrize(
    ("worse", "better"),
    [
        ({"habit": 1.0}, {"habit": -1.0}),
        ({"health": -1.5}, {"health": 1.0}),
        ({"sector": _sector("construction")}, {"sector": _sector("IT")}),
        ({"age_years": 1.0}, {"age_years": 20.0}),
        ({"amount_ratio": 8.0}, {"amount_ratio": 1.0}),
        ({"disputed": True}, {"disputed": False}),
        ({"missing_po": True}, {"missing_po": False}),
        ({"due_month": 8}, {"due_month": 4}),
        ({"days_to_opening": 30.0}, {"days_to_opening": np.inf}),
    ],
)
def test_each_cause_pushes_payment_the_right_way(worse, better) -> None:
    late_worse, severe_worse = true_probabilities(_ordinary(**worse))
    late_better, severe_better = true_probabilities(_ordinary(**better))
    assert late_worse[0] > late_better[0]
    assert severe_worse[0] > severe_better[0]


def test_public_bodies_pay_slowly_but_safely() -> None:
    late_public, severe_public = true_probabilities(_ordinary(sector=_sector("public sector")))
    late_it, severe_it = true_probabilities(_ordinary(sector=_sector("IT")))
    assert late_public[0] > late_it[0]
    # Once late, a public body almost never turns severe.
    assert severe_public[0] / late_public[0] < (severe_it[0] / late_it[0]) / 5


def test_the_oracle_never_rates_severe_above_late(larger) -> None:
    oracle = larger["demo_oracle"]
    assert (oracle["p_severe"] <= oracle["p_late"]).all()
    assert oracle["p_severe"].gt(0).all()


@pytest.mark.parametrize(("probability", "label"), [("p_late", "late"), ("p_severe", "severe")])
def test_the_oracle_is_calibrated(larger, probability: str, label: str) -> None:
    outcomes = invoice_outcomes(larger, END).merge(larger["demo_oracle"], on="invoice_id")
    mature = outcomes[outcomes["mature"]]
    bins = pd.qcut(mature[probability], 10, duplicates="drop")
    per_bin = mature.groupby(bins, observed=True).agg(
        predicted=(probability, "mean"), realised=(label, "mean"), n=(label, "size")
    )
    error = np.sqrt(per_bin["predicted"] * (1 - per_bin["predicted"]) / per_bin["n"])
    assert ((per_bin["realised"] - per_bin["predicted"]).abs() <= 4 * error + 0.003).all()
    assert per_bin["realised"].is_monotonic_increasing


def test_the_oracle_knows_that_proceedings_freeze_earlier_debts(larger) -> None:
    events = larger["legal_event"]
    opening = events[events["kind"].isin(INSOLVENCY)].groupby("siren")["event_date"].min()
    sirens = larger["customer"].set_index("customer_id")["siren"]
    outcomes = invoice_outcomes(larger, END).merge(larger["demo_oracle"], on="invoice_id")
    outcomes = outcomes[outcomes["mature"]]
    opens = outcomes["customer_id"].map(sirens).map(opening)
    caught = outcomes[(opens - outcomes["issue_date"]).dt.days.between(1, 120)]
    assert len(caught) > 100
    for probability, label in (("p_late", "late"), ("p_severe", "severe")):
        expected = caught[probability].sum()
        error = np.sqrt((caught[probability] * (1 - caught[probability])).sum())
        assert abs(caught[label].sum() - expected) <= 4 * error + 1


def test_customers_history_is_informative(larger) -> None:
    """A customer late in its first year is likelier to be late in its second."""
    outcomes = invoice_outcomes(larger, END)
    outcomes = outcomes[outcomes["mature"]]
    year = outcomes["issue_date"].dt.year
    first, second = year.min() + 1, year.min() + 2
    by_customer = outcomes.groupby(["customer_id", year])["late"].mean().unstack()
    both = by_customer[[first, second]].dropna()
    assert both[first].corr(both[second]) > 0.4


def test_construction_pays_later_than_it_and_weak_accounts_later_than_strong(larger) -> None:
    summary = portfolio_summary(larger, END)
    late = summary["share_late_by_sector"]
    days = summary["mean_days_late_by_sector"]
    assert late["construction"] > late["IT"] + 0.08
    assert days["construction"] > days["IT"] + 3
    by_health = summary["share_late_by_health_quintile"]
    quintiles = [by_health[q] for q in ("Q1 weakest", "Q2", "Q3", "Q4", "Q5 strongest")]
    assert quintiles == sorted(quintiles, reverse=True)
    assert quintiles[0] > quintiles[-1] + 0.1


def test_customers_pay_later_in_the_year_before_their_insolvency(larger) -> None:
    events = larger["legal_event"]
    opening = events[events["kind"].isin(INSOLVENCY)].groupby("siren")["event_date"].min()
    sirens = larger["customer"].set_index("customer_id")["siren"]
    outcomes = invoice_outcomes(larger, END)
    outcomes = outcomes[outcomes["mature"]]
    opens = outcomes["customer_id"].map(sirens).map(opening)
    before = outcomes[(opens - outcomes["issue_date"]).dt.days.between(0, 365)]
    never_insolvent = outcomes[opens.isna()]
    assert len(before) > 200
    assert before["late"].mean() > never_insolvent["late"].mean() + 0.2
    assert before["severe"].mean() > 3 * never_insolvent["severe"].mean()


def test_the_portfolio_has_realistic_payment_figures(larger) -> None:
    summary = portfolio_summary(larger, END)
    assert 0.25 <= summary["share_late"] <= 0.40
    assert 0.01 <= summary["share_never_paid"] <= 0.04
    assert 8 <= summary["mean_days_late"] <= 15
    assert summary["p95_days_late"] > 45  # a long tail
    assert 0.01 <= summary["share_customers_with_insolvency"] <= 0.08

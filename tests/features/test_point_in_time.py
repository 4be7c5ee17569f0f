"""Point-in-time features: equal to a brute-force reference, and blind to the future."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.demo import generate_portfolio
from features.point_in_time import (
    COMPANY_FEATURES,
    FEATURES,
    HEADCOUNT_ORDER,
    PROCEEDING_SEVERITY,
    Ledger,
    PreparedLedger,
    build_features,
    day_number,
    day_numbers,
    invoice_queries,
)

END = date(2025, 12, 31)


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    frames = generate_portfolio(seed=3, companies=150, years=2, end_date=END)
    return Ledger.from_tables(frames)


def queries_for(ledger: Ledger, count: int = 300) -> pd.DataFrame:
    """Sampled invoices as of their issue date, a prospect, an unknown account, "today", and
    SIRENs the ledger does not hold (alone, and given beside a known account's)."""
    sample = invoice_queries(ledger.invoices).sample(count, random_state=1)
    customers = ledger.customers.reset_index(drop=True)
    known_customer = customers.loc[0, "customer_id"]
    prospect_siren = ledger.companies.loc[
        ~ledger.companies["siren"].isin(customers["siren"]), "siren"
    ].iloc[0]
    extra = pd.DataFrame(
        {
            "as_of": pd.to_datetime(
                ["2025-12-31", "2025-06-15", "2025-03-01", "2026-01-02", "2025-09-01", "2025-09-01"]
            ),
            "customer_id": [
                known_customer,
                None,
                "NOT-A-CUSTOMER",
                known_customer,
                None,
                known_customer,
            ],
            "siren": [None, prospect_siren, None, None, "732829320", "732829320"],
            "amount": [5000.0, 12000.0, 300.0, 800.0, 1000.0, 1000.0],
            "terms_days": [30.0, 45.0, 60.0, 30.0, 30.0, 30.0],
        },
        index=[-1, -2, -3, -4, -5, -6],
    )
    return pd.concat([sample.assign(siren=None), extra])


# ---- the reference: one plain loop per query ----------------------------------------------


def day(value: object) -> int:
    return (pd.Timestamp(value) - pd.Timestamp("1970-01-01")).days


def reference_settlement_day(invoice: pd.Series, payments: pd.DataFrame) -> float:
    issue = day(invoice["issue_date"])
    paid = sorted((max(day(p.paid_date), issue), p.amount) for p in payments.itertuples())
    total = 0.0
    for when, amount in paid:
        total += amount
        if total >= invoice["amount"] - 0.01:
            return when
    return math.inf


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def ratio(a: float, b: float) -> float:
    return a / b if b and b > 0 and not math.isnan(b) else math.nan


def reference_history(invoices: pd.DataFrame, q: pd.Series, t: int) -> dict[str, float]:
    prior = [r for r in invoices.itertuples() if r.issue < t]
    # Settled before t, in settlement-day order (ties in ledger order).
    done = sorted((r for r in invoices.itertuples() if r.settled < t),
                  key=lambda r: (r.settled, r.position))  # fmt: skip
    late = [r.settled - r.due for r in done]
    recent = late[-5:]
    overdue = [r for r in invoices.itertuples() if r.due < t <= r.settled]
    known_late_open = [r for r in invoices.itertuples() if r.due + 5 < t <= r.settled]
    known_severe_open = [r for r in invoices.itertuples() if r.due + 60 < t <= r.settled]
    prior_mean = mean([r.amount for r in prior])
    settled_late = sum(d > 5 for d in late)
    settled_severe = sum(d > 60 for d in late)
    return {
        "has_history": float(bool(prior)),
        "prior_invoices": float(len(prior)),
        "prior_amount_mean": prior_mean,
        "amount_vs_usual": ratio(q["amount"], prior_mean),
        "relationship_days": t - min(r.issue for r in prior) if prior else math.nan,
        "dispute_rate": mean([float(r.disputed) for r in prior]),
        "terms_vs_usual": q["terms_days"] - mean([float(r.due - r.issue) for r in prior]),
        "settled_count": float(len(done)),
        "settled_late_share": mean([float(d > 5) for d in late]),
        "settled_severe_share": mean([float(d > 60) for d in late]),
        "days_late_mean": mean(late),
        "days_late_max": max(late) if late else math.nan,
        "recent_days_late_mean": mean(recent),
        "recent_late30_count": float(sum(d > 30 for d in recent)) if late else math.nan,
        "days_late_trend": mean(recent) - mean(late),
        "days_since_last_settlement": t - max(r.settled for r in done) if done else math.nan,
        "open_count": float(len(prior) - len(done)),
        "open_amount": max(sum(r.amount for r in prior) - sum(r.amount for r in done), 0.0),
        "overdue_count": float(len(overdue)),
        "overdue_amount": sum(r.amount for r in overdue),
        "overdue_days_mean": mean([float(t - r.due) for r in overdue]),
        "oldest_overdue_days": max((t - r.due for r in overdue), default=math.nan),
        "known_late_share": ratio(
            settled_late + len(known_late_open), len(done) + len(known_late_open)
        ),
        "known_severe_share": ratio(
            settled_severe + len(known_severe_open), len(done) + len(known_severe_open)
        ),
    }


def reference_company(ledger: Ledger, siren: object, t: int) -> dict[str, float]:
    companies = ledger.companies.set_index("siren")
    out: dict[str, float] = {}
    if siren is None or pd.isna(siren) or siren not in companies.index:
        out.update(has_company=0.0, company_age_years=math.nan, share_capital_log=math.nan,
                   legal_form=math.nan, naf_division=math.nan, headcount=math.nan,
                   sole_trader=math.nan)  # fmt: skip
    else:
        c = companies.loc[siren]
        capital = c["share_capital"]
        out.update(
            has_company=1.0,
            company_age_years=(t - day(c["creation_date"])) / 365.25
            if pd.notna(c["creation_date"]) else math.nan,
            share_capital_log=math.log1p(max(capital, 0)) if pd.notna(capital) else math.nan,
            legal_form=float(c["legal_form"]) if pd.notna(c["legal_form"]) else math.nan,
            naf_division=float(c["naf_code"][:2]) if pd.notna(c["naf_code"]) else math.nan,
            headcount=float(HEADCOUNT_ORDER[c["headcount_band"]])
            if pd.notna(c["headcount_band"]) else math.nan,
            sole_trader=float(c["is_sole_trader"]),
        )  # fmt: skip
    out.update(reference_accounts(ledger.statements, siren, t))
    out.update(reference_legal(ledger.legal_events, siren, t))
    return out


def reference_accounts(statements: pd.DataFrame, siren: object, t: int) -> dict[str, float]:
    mine = statements[statements["siren"] == siren].sort_values("fiscal_year_end")
    rows = list(mine.itertuples())
    known = [(i, r) for i, r in enumerate(rows) if day(r.publication_date) < t]
    names = ("accounts_confidential", "accounts_age_days", "revenue_log", "revenue_growth",
             "net_margin", "equity_ratio", "negative_equity", "liquidity_ratio", "cash_ratio",
             "debt_ratio", "dso_days", "dpo_days")  # fmt: skip
    if not known:
        return {"has_accounts": 0.0, **dict.fromkeys(names, math.nan)}
    i, r = max(known, key=lambda item: (day(item[1].publication_date), item[0]))
    previous = rows[i - 1] if i > 0 else None
    published_before = previous is not None and previous.publication_date <= r.publication_date
    previous_revenue = previous.revenue if published_before else math.nan
    nan = float("nan")

    def v(x: object) -> float:
        return float(x) if pd.notna(x) else nan

    revenue, equity, assets = v(r.revenue), v(r.equity), v(r.total_assets)
    return {
        "has_accounts": 1.0,
        "accounts_confidential": float(r.confidential),
        "accounts_age_days": float(t - day(r.fiscal_year_end)),
        "revenue_log": math.log1p(max(revenue, 0)) if not math.isnan(revenue) else nan,
        "revenue_growth": ratio(revenue - v(previous_revenue), v(previous_revenue)),
        "net_margin": ratio(v(r.net_income), revenue),
        "equity_ratio": ratio(equity, assets),
        "negative_equity": float(equity < 0) if not math.isnan(equity) else nan,
        "liquidity_ratio": ratio(v(r.current_assets), v(r.current_liabilities)),
        "cash_ratio": ratio(v(r.cash), v(r.current_liabilities)),
        "debt_ratio": ratio(v(r.total_debt), assets),
        "dso_days": ratio(v(r.trade_receivables) * 365, revenue),
        "dpo_days": ratio(v(r.trade_payables) * 365, revenue),
    }


def reference_legal(events: pd.DataFrame, siren: object, t: int) -> dict[str, float]:
    mine = events[events["siren"] == siren]
    ordered = sorted(mine.itertuples(), key=lambda e: day(e.event_date))  # stable: file order
    before = [(rank, e) for rank, e in enumerate(ordered, start=1) if day(e.event_date) < t]
    if not before:
        return {"proceedings_count": 0.0, "proceeding_severity": 0.0,
                "days_since_proceeding": 3650.0}  # fmt: skip
    rank, latest = before[-1]
    return {
        "proceedings_count": float(rank),
        "proceeding_severity": float(PROCEEDING_SEVERITY[latest.kind]),
        "days_since_proceeding": float(min(t - day(latest.event_date), 3650)),
    }


def reference_features(ledger: Ledger, queries: pd.DataFrame) -> pd.DataFrame:
    invoices = ledger.invoices.reset_index(drop=True)
    by_invoice = dict(tuple(ledger.payments.groupby("invoice_id")))
    empty = ledger.payments.iloc[0:0]
    book = pd.DataFrame({
        "customer_id": invoices["customer_id"],
        "issue": [day(d) for d in invoices["issue_date"]],
        "due": [day(d) for d in invoices["due_date"]],
        "settled": [reference_settlement_day(inv, by_invoice.get(inv["invoice_id"], empty))
                    for _, inv in invoices.iterrows()],
        "amount": invoices["amount"],
        "disputed": invoices["disputed"].astype(bool),
        "position": np.arange(len(invoices)),
    })  # fmt: skip
    customers = ledger.customers.set_index("customer_id")
    rows = {}
    for index, q in queries.iterrows():
        t = day(q["as_of"])
        mine = book[book["customer_id"] == q["customer_id"]]
        known = pd.notna(q["customer_id"]) and q["customer_id"] in customers.index
        siren = q["siren"] if pd.notna(q["siren"]) else (
            customers.loc[q["customer_id"], "siren"] if known else None)  # fmt: skip
        as_of = pd.Timestamp(q["as_of"])
        next_month = (as_of + pd.offsets.MonthBegin(1)).normalize()
        po_required = float(customers.loc[q["customer_id"], "po_required"]) if known else 0.0
        po = q.get("po_number")
        po_given = math.nan if "po_number" not in q.index else float(
            po is not None and pd.notna(po) and str(po).strip() != "")  # fmt: skip
        due = as_of + pd.Timedelta(days=q["terms_days"])
        rows[index] = {
            **reference_history(mine, q, t),
            "amount_log": math.log1p(q["amount"]),
            "terms_days": q["terms_days"],
            "po_required": po_required,
            "po_missing": po_given if math.isnan(po_given) else po_required * (1 - po_given),
            "issue_month": float(as_of.month),
            "due_month": float(due.month),
            "month_end_issue": float((next_month - as_of).days <= 3),
            **reference_company(ledger, siren, t),
        }
    return pd.DataFrame.from_dict(rows, orient="index")[list(FEATURES)]


# ---- the tests ------------------------------------------------------------------------------


def test_the_ledger_has_the_hard_cases(ledger: Ledger) -> None:
    """Open, partly paid, overdue and never-paid invoices are all present in the test data."""
    paid = ledger.payments.groupby("invoice_id")["amount"].agg(["sum", "count"])
    amounts = ledger.invoices.set_index("invoice_id")["amount"]
    assert (paid["count"] > 1).any()  # partial payments
    assert (paid["sum"] < amounts.reindex(paid.index) - 0.01).any()  # partly paid, still open
    unpaid = ~ledger.invoices["invoice_id"].isin(paid.index)
    assert (ledger.invoices.loc[unpaid, "due_date"] < pd.Timestamp(END)).any()  # overdue
    assert len(ledger.legal_events) > 0


def test_features_equal_the_brute_force_reference(ledger: Ledger) -> None:
    queries = queries_for(ledger)
    fast = build_features(ledger, queries)
    slow = reference_features(ledger, queries)
    assert list(fast.index) == list(queries.index)
    for name in FEATURES:
        np.testing.assert_allclose(
            fast[name].to_numpy(float), slow[name].to_numpy(float), rtol=1e-9, atol=1e-6,
            equal_nan=True, err_msg=f"feature {name}",
        )  # fmt: skip


def test_a_prospect_has_no_history_but_its_company(ledger: Ledger) -> None:
    queries = queries_for(ledger, count=5)
    features = build_features(ledger, queries).loc[-2]
    assert features["has_history"] == 0
    assert math.isnan(features["days_late_mean"])
    assert features["has_company"] == 1
    unknown = build_features(ledger, queries).loc[-3]
    assert unknown["has_history"] == 0
    assert unknown["has_company"] == 0


def scramble_after(ledger: Ledger, cut: pd.Timestamp, seed: int) -> Ledger:
    """Everything dated on or after `cut` changed: payments moved or dropped, later invoices
    replaced, later accounts and legal events altered or added."""
    rng = np.random.default_rng(seed)
    payments = ledger.payments.copy()
    later = payments["paid_date"] >= cut
    payments.loc[later, "paid_date"] += pd.to_timedelta(rng.integers(0, 90, later.sum()), "D")
    payments = payments[~later | (rng.random(len(payments)) < 0.5)]
    invoices = ledger.invoices.copy()
    later_invoices = invoices["issue_date"] >= cut
    invoices.loc[later_invoices, "amount"] *= rng.uniform(0.2, 5, later_invoices.sum())
    invoices.loc[later_invoices, "disputed"] = True
    statements = ledger.statements.copy()
    published_later = statements["publication_date"] >= cut
    statements.loc[published_later, ["revenue", "equity"]] = -1e6
    events = pd.concat([ledger.legal_events, pd.DataFrame({
        "event_id": ["late-1"], "siren": [ledger.customers["siren"].iloc[0]],
        "event_date": [cut], "kind": ["liquidation"], "description": [None], "source": ["test"],
    })], ignore_index=True)  # fmt: skip
    return Ledger(invoices, payments, ledger.customers, ledger.companies, statements, events)


@pytest.mark.parametrize("cut", ["2024-09-10", "2025-03-01", "2025-11-15"])
def test_nothing_after_the_decision_day_changes_its_features(ledger: Ledger, cut: str) -> None:
    when = pd.Timestamp(cut)
    queries = invoice_queries(ledger.invoices)
    queries = queries[queries["as_of"] <= when]
    before = build_features(ledger, queries)
    after = build_features(scramble_after(ledger, when, seed=len(cut)), queries)
    pd.testing.assert_frame_equal(before, after)


def test_the_future_does_change_features_of_later_decisions(ledger: Ledger) -> None:
    """The scrambling above is strong enough to be seen by a later decision (the test bites)."""
    when = pd.Timestamp("2025-03-01")
    queries = invoice_queries(ledger.invoices)
    queries = queries[queries["as_of"] > when + pd.Timedelta(days=120)]
    before = build_features(ledger, queries)
    after = build_features(scramble_after(ledger, when, seed=1), queries)
    changed = (before.fillna(-999) != after.fillna(-999)).any()
    assert changed[["settled_count", "open_amount", "revenue_log"]].all()


def test_the_prospect_view_is_what_a_prospect_query_gets(ledger: Ledger) -> None:
    """Rows turned into prospects look exactly like a query for the company without account."""
    from features.point_in_time import prospect_view

    queries = invoice_queries(ledger.invoices).sample(50, random_state=2)
    customers = ledger.customers.set_index("customer_id")
    as_prospects = queries.assign(
        siren=queries["customer_id"].map(customers["siren"]).astype(object), customer_id=None
    )
    expected = build_features(ledger, as_prospects)
    pd.testing.assert_frame_equal(prospect_view(build_features(ledger, queries)), expected)


def test_a_ledger_without_invoices_scores_prospects(ledger: Ledger) -> None:
    """Registry data alone (no invoice imported yet) is enough to score a prospect."""
    empty = Ledger(ledger.invoices.iloc[0:0], ledger.payments.iloc[0:0], ledger.customers,
                   ledger.companies, ledger.statements, ledger.legal_events)  # fmt: skip
    queries = queries_for(ledger, count=5).loc[[-2, -3]]
    features = build_features(empty, queries)
    assert (features["has_history"] == 0).all()
    assert features.loc[-2, "has_company"] == 1
    pd.testing.assert_series_equal(
        features.loc[-2, list(COMPANY_FEATURES)],
        build_features(ledger, queries).loc[-2, list(COMPANY_FEATURES)],
    )


def test_scoring_the_ledgers_own_invoices_takes_a_shortcut_to_the_same_values(
    ledger: Ledger,
) -> None:
    """Training scores the ledger's own invoices, whose customer column is shared; the result
    must equal the general path (here forced with a column of another type)."""
    queries = invoice_queries(ledger.invoices)
    general = queries.assign(customer_id=queries["customer_id"].astype(object))
    pd.testing.assert_frame_equal(build_features(ledger, queries), build_features(ledger, general))


def test_a_customers_features_do_not_depend_on_the_rest_of_the_ledger(ledger: Ledger) -> None:
    """Running sums restart with each customer: its features from the whole ledger equal,
    to the last bit, those from a ledger holding only its own rows (as a request reads)."""
    queries = queries_for(ledger)
    whole = build_features(ledger, queries)
    for customer_id in queries["customer_id"].dropna().unique()[:12]:
        mine = queries[queries["customer_id"] == customer_id]
        invoices = ledger.invoices[ledger.invoices["customer_id"] == customer_id]
        customers = ledger.customers[ledger.customers["customer_id"] == customer_id]
        sirens = customers["siren"]
        own = Ledger(
            invoices=invoices,
            payments=ledger.payments[ledger.payments["invoice_id"].isin(invoices["invoice_id"])],
            customers=customers,
            companies=ledger.companies[ledger.companies["siren"].isin(sirens)],
            statements=ledger.statements[ledger.statements["siren"].isin(sirens)],
            legal_events=ledger.legal_events[ledger.legal_events["siren"].isin(sirens)],
        )
        pd.testing.assert_frame_equal(build_features(own, mine), whole.loc[mine.index],
                                      check_exact=True, obj=str(customer_id))  # fmt: skip


def test_a_prepared_ledger_answers_code_queries_as_frames_do(ledger: Ledger) -> None:
    """The service's path (keys looked up as codes, a plain matrix) gives build_features'
    values, unknown keys included."""
    queries = queries_for(ledger)
    prepared = PreparedLedger(ledger)
    given = queries["siren"].astype(object).where(queries["siren"].notna(), None)
    matrix = prepared.matrix(
        prepared.customer_codes.of(
            queries["customer_id"].astype(object).where(queries["customer_id"].notna(), None)
        ),
        prepared.siren_codes.of(given.tolist()),
        day_numbers(queries["as_of"]),
        queries["amount"].to_numpy(float),
        queries["terms_days"].to_numpy(float),
        np.full(len(queries), np.nan),
    )
    expected = build_features(ledger, queries.drop(columns=["po_number"], errors="ignore"))
    np.testing.assert_array_equal(matrix.T, expected.to_numpy())


def test_remembered_subjects_give_the_values_of_a_fresh_look_up(ledger: Ledger) -> None:
    """Small queries remember what they found of each (customer, company, day); a later order
    for the same subject, with another amount and terms, gets exactly a fresh look-up's
    values (here: those of one large query, which remembers nothing)."""
    queries = queries_for(ledger).drop(columns=["po_number"], errors="ignore")
    again = queries.assign(
        amount=queries["amount"] * 3 + 1, terms_days=(queries["terms_days"] + 15) % 90
    )
    expected = build_features(ledger, pd.concat([queries, again], ignore_index=True))
    prepared = PreparedLedger(ledger)
    found = []
    for frame in (queries, again):  # the second pass finds every subject remembered
        for start in range(0, len(frame), 7):
            found.append(prepared.features(frame.iloc[start : start + 7]))
    pd.testing.assert_frame_equal(pd.concat(found, ignore_index=True), expected, check_exact=True)
    assert prepared._subjects  # the small queries did remember


def test_subjects_remembered_ahead_are_those_a_query_finds(ledger: Ledger) -> None:
    """A service remembers every account's subject as of today when it loads the book; a
    score of any account that day (its SIREN given or not) then finds its subject ready,
    with exactly a fresh look-up's values."""
    today = date(2025, 11, 14)
    customers = ledger.customers.reset_index(drop=True)
    queries = pd.DataFrame(
        {
            "as_of": pd.Timestamp(today),
            "customer_id": customers["customer_id"],
            "siren": customers["siren"].where(customers.index % 2 == 0, None),
            "amount": 1000.0 + customers.index * 37.0,
            "terms_days": 30.0 + customers.index % 4 * 15,
        }
    )
    prepared = PreparedLedger(ledger)
    remembered = prepared.remember_subjects(day_number(today))
    assert remembered == len(customers)
    assert len(prepared._subjects) == remembered
    found = [
        prepared.features(queries.iloc[start : start + 3]) for start in range(0, len(queries), 3)
    ]
    pd.testing.assert_frame_equal(
        pd.concat(found), build_features(ledger, queries), check_exact=True
    )
    assert len(prepared._subjects) == remembered  # every query found its subject remembered
    # Another day is looked up afresh, and the limit bounds what is remembered ahead.
    prepared.features(queries.iloc[:1].assign(as_of=pd.Timestamp(today) - pd.Timedelta(days=1)))
    assert len(prepared._subjects) == remembered + 1
    assert PreparedLedger(ledger).remember_subjects(day_number(today), limit=5) == 5

"""Point-in-time features at a million invoices, beside a naive version that looks ahead.

The naive version is what one writes first with pandas group-bys: expanding statistics of each
customer's earlier invoices using their *final* outcomes (known only later) and the accounts of
the fiscal year (not of their publication). It is wrong, but it is the speed people expect; the
point-in-time version must stay within 2x of it (target: 1,000,000 invoices in at most 3 s).

    .venv/bin/python bench/bench_features.py [--invoices 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd

from features.demo import generate_portfolio
from features.point_in_time import (
    FEATURES,
    Ledger,
    build_features,
    invoice_queries,
    settlement_days,
)


def naive_features(ledger: Ledger) -> pd.DataFrame:
    """Expanding per-customer statistics over final outcomes (look-ahead), with group-bys."""
    invoices = ledger.invoices.copy()
    settled = settlement_days(invoices, ledger.payments).astype(float)
    due = (invoices["due_date"] - pd.Timestamp("1970-01-01")).dt.days.to_numpy(dtype=float)
    invoices["days_late"] = np.where(settled < 2**22 - 1, settled - due, np.nan)
    invoices["late"] = invoices["days_late"] > 5
    invoices = invoices.sort_values(["customer_id", "issue_date"])
    grouped = invoices.groupby("customer_id")
    out = pd.DataFrame(index=invoices.index)
    out["prior_invoices"] = grouped.cumcount()
    for name in ("amount", "days_late", "late"):
        shifted = grouped[name].shift(1).astype(float)
        out[f"{name}_mean"] = shifted.groupby(invoices["customer_id"]).expanding().mean().values
    out["days_late_max"] = grouped["days_late"].cummax().groupby(invoices["customer_id"]).shift(1)
    out["recent_days_late_mean"] = (
        grouped["days_late"].shift(1).groupby(invoices["customer_id"]).rolling(5, 1).mean().values
    )
    statements = ledger.statements.sort_values("fiscal_year_end")
    customers = ledger.customers[["customer_id", "siren"]]
    with_siren = invoices[["customer_id", "issue_date"]].merge(customers, on="customer_id")
    accounts = pd.merge_asof(
        with_siren.sort_values("issue_date").astype({"siren": object}),
        statements.astype({"siren": object}),
        left_on="issue_date",
        right_on="fiscal_year_end",
        by="siren",
    )
    out["equity_ratio"] = (accounts["equity"] / accounts["total_assets"]).to_numpy()
    return out


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    # About 102 invoices per registry company over four years (prospects have none).
    frames = generate_portfolio(seed=7, companies=max(50, args.invoices // 102), years=4,
                                end_date=date(2026, 10, 31))  # fmt: skip
    ledger = Ledger.from_tables(frames)
    queries = invoice_queries(ledger.invoices)
    n = len(queries)
    ours = median_seconds(lambda: build_features(ledger, queries), args.repeat)
    naive = median_seconds(lambda: naive_features(ledger), args.repeat)
    per_million = ours * 1e6 / n
    print(
        f"point-in-time features: {n:,} invoices x {len(FEATURES)} features in {ours:.2f} s "
        f"(median of {args.repeat}), {per_million:.2f} s per million invoices; target <= 3 s: "
        f"{'met' if per_million <= 3 else 'MISSED'}"
    )
    print(
        f"naive look-ahead version (fewer features): {naive:.2f} s; ratio point-in-time / naive: "
        f"{ours / naive:.2f} (target <= 2: {'met' if ours / naive <= 2 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()

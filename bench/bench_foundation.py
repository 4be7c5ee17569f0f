"""Foundation benchmark: demo generation and canonical CSV import at a million invoices.

Prints, measured side by side in one run (medians over --repeat runs):
- generating a ~1,000,000-invoice demo portfolio (target: under 60 s);
- importing a 1,000,000-row canonical invoices CSV into a fresh SQLite store, through parsing,
  validation and the atomic write (target: at least 100,000 rows/s), next to the ceiling of
  the same rows inserted with a bare sqlite3 executemany (no parsing, no checks);
- importing the same file again, which must change nothing.

    .venv/bin/python bench/bench_foundation.py [--invoices 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd

from features.demo import generate_portfolio
from features.importers.canonical import import_canonical
from features.ledger import LedgerStore

END = date(2026, 10, 31)
TODAY = date(2026, 11, 23)


def median_seconds(action: Callable[[], object], repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def portfolio_for(invoices: int) -> dict[str, pd.DataFrame]:
    # The default mix gives ~100 invoices per company over 4 years.
    return generate_portfolio(seed=7, companies=max(50, invoices // 96), years=4, end_date=END)


def raw_ceiling(database: Path, invoices: pd.DataFrame) -> None:
    """The same rows through a bare executemany into an indexed table: the floor of any import."""
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "CREATE TABLE invoice (invoice_id TEXT PRIMARY KEY, customer_id TEXT, issue_date TEXT,"
        " due_date TEXT, amount REAL, currency TEXT, disputed INTEGER, po_number TEXT)"
    )
    rows = list(
        zip(
            invoices["invoice_id"].tolist(),
            invoices["customer_id"].tolist(),
            invoices["issue_date"].dt.strftime("%Y-%m-%d").tolist(),
            invoices["due_date"].dt.strftime("%Y-%m-%d").tolist(),
            invoices["amount"].tolist(),
            invoices["currency"].tolist(),
            invoices["disputed"].astype(int).tolist(),
            invoices["po_number"].astype(object).where(invoices["po_number"].notna()).tolist(),
            strict=True,
        )
    )
    connection.executemany("INSERT INTO invoice VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    connection.execute("CREATE INDEX ix_customer ON invoice (customer_id, issue_date)")
    connection.commit()
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    generation, generation_runs = median_seconds(lambda: portfolio_for(args.invoices), args.repeat)
    frames = portfolio_for(args.invoices)
    invoices = frames["invoice"]
    n = len(invoices)
    print(f"demo generation: {n:,} invoices in {generation:.1f} s (median of {args.repeat}: "
          f"{', '.join(f'{t:.1f}' for t in generation_runs)}); target < 60 s: "
          f"{'met' if generation < 60 else 'MISSED'}")  # fmt: skip

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        invoices.to_csv(work / "invoices.csv", index=False, date_format="%Y-%m-%d")
        frames["customer"].to_csv(work / "customers.csv", index=False)
        size = (work / "invoices.csv").stat().st_size / 1e6
        imports, ceilings, reimports = [], [], []
        for attempt in range(args.repeat):
            store = LedgerStore.open(f"sqlite:///{work / f'ledger{attempt}.db'}")
            import_canonical(store, [work / "customers.csv"], today=TODAY)
            started = time.perf_counter()
            report = import_canonical(store, [work / "invoices.csv"], today=TODAY)
            imports.append(time.perf_counter() - started)
            assert report.rows_added["invoice"] == n
            started = time.perf_counter()
            again = import_canonical(store, [work / "invoices.csv"], today=TODAY)
            reimports.append(time.perf_counter() - started)
            assert not again.changed
            store.close()
            started = time.perf_counter()
            raw_ceiling(work / f"raw{attempt}.db", invoices)
            ceilings.append(time.perf_counter() - started)
    ours, ceiling = statistics.median(imports), statistics.median(ceilings)
    print(f"canonical CSV import ({size:.0f} MB, {n:,} rows) into SQLite: {n / ours:,.0f} rows/s "
          f"({ours:.1f} s, median of {args.repeat}); target >= 100,000 rows/s: "
          f"{'met' if n / ours >= 100_000 else 'MISSED'}")  # fmt: skip
    print(
        f"bare executemany ceiling (no parsing, no checks): {n / ceiling:,.0f} rows/s "
        f"({ceiling:.1f} s); import / ceiling throughput ratio: {ceiling / ours:.2f}"
    )
    print(f"re-import of the same file (changes nothing): {statistics.median(reimports):.1f} s")


if __name__ == "__main__":
    main()

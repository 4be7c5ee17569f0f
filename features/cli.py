"""`credit-risk import ...` and `credit-risk demo-data`: getting data into the ledger."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.errors import CreditRiskError, ImportRejected
from features.settings import LedgerSettings

if TYPE_CHECKING:  # the store (pandas, SQLAlchemy) is imported by the commands that use it
    from features.ledger import LedgerStore, WriteReport

console = Console(stderr=True, soft_wrap=True)
out = Console()

import_app = typer.Typer(
    help="Import a supplier's ledger or public company data into the store. Every import is "
    "atomic (all rows or none) and idempotent (importing the same file again changes nothing); "
    "rejected rows are listed with file, row, field and reason.",
    no_args_is_help=True,
)

DatabaseOption = Annotated[
    str | None,
    typer.Option("--database-url", envvar="CREDIT_RISK_DATABASE_URL",
                 help="SQLAlchemy URL of the store (default: SQLite file in the data folder)."),
]  # fmt: skip
TodayOption = Annotated[
    str | None,
    typer.Option("--today", help="Date treated as today (YYYY-MM-DD) when checking for future "
                 "dates; default: the real date."),
]  # fmt: skip
EncodingOption = Annotated[
    str | None,
    typer.Option("--encoding", help="File encoding (default: detected; UTF-8 or Windows-1252)."),
]
SeparatorOption = Annotated[
    str | None,
    typer.Option("--sep", help="Field separator (default: detected among , ; tab |)."),
]


def open_store(database_url: str | None) -> LedgerStore:
    from features.ledger import LedgerStore

    settings = LedgerSettings()
    return LedgerStore.open(database_url or settings.ledger_url)


def parse_day(value: str | None, option: str = "--today") -> date:
    """The date an option gives (today when it is not given), or a usage error naming it."""
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date YYYY-MM-DD", param_hint=option) from None


@contextmanager
def progress_bar(title: str) -> Iterator[Callable[[str, float], None]]:
    """A rich progress bar driven by (stage, fraction) callbacks."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(title, total=1.0)

        def update(stage: str, fraction: float) -> None:
            bar.update(task, description=f"{title}: {stage}", completed=min(max(fraction, 0), 1))

        yield update


def run_import(title: str, action: Callable[[Callable[[str, float], None]], WriteReport]) -> None:
    """Run an import with a progress bar, print its report, exit 2 on rejected input."""
    started = time.perf_counter()
    try:
        with progress_bar(title) as update:
            report = action(update)
    except ImportRejected as rejected:
        console.print(f"[red]{rejected}[/red]")
        console.print("Fix the rows above (or the mapping) and import again; nothing was written.")
        raise typer.Exit(2) from None
    except CreditRiskError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    elapsed = time.perf_counter() - started
    print_report(report, elapsed)


def print_report(report: WriteReport, elapsed: float) -> None:
    table = Table(title=f"Imported {report.source} in {elapsed:.1f} s")
    for column in ("table", "rows read", "added", "updated"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for name, read in report.rows_read.items():
        table.add_row(name, f"{read:,}", f"{report.rows_added.get(name, 0):,}",
                      f"{report.rows_updated.get(name, 0):,}")  # fmt: skip
    out.print(table)
    for note in report.notes:
        out.print(f"- {note}")
    if not report.changed:
        out.print("Nothing changed: everything in the input was already in the store.")


@import_app.command("canonical")
def import_canonical_command(
    paths: Annotated[list[Path], typer.Argument(help="Table files (invoices.csv, customers.parquet"
                                                ", ...) or folders holding them.")],
    table: Annotated[str | None, typer.Option(help="Table of a file whose name does not say it.")]
    = None,
    sep: SeparatorOption = None,
    encoding: EncodingOption = None,
    database_url: DatabaseOption = None,
    today: TodayOption = None,
) -> None:  # fmt: skip
    """Import files in the canonical layout (see the README for the columns)."""
    from features.importers.canonical import import_canonical

    store = open_store(database_url)
    run_import("canonical import", lambda progress: import_canonical(
        store, paths, today=parse_day(today), table=table, separator=sep, encoding=encoding,
        progress=progress))  # fmt: skip


@import_app.command("mapped")
def import_mapped_command(
    path: Annotated[Path, typer.Argument(help="The ERP's invoice export (CSV).")],
    mapping: Annotated[Path, typer.Option("--mapping", "-m", help="The column-mapping file "
                                          "(TOML): separators, date formats, which column is "
                                          "which. See the README.")],
    database_url: DatabaseOption = None,
    today: TodayOption = None,
) -> None:  # fmt: skip
    """Import any invoice CSV through a column-mapping file, without editing the export."""
    from features.importers.mapped import import_mapped_invoices

    store = open_store(database_url)
    run_import("invoice export", lambda progress: import_mapped_invoices(
        store, path, mapping, today=parse_day(today), progress=progress))  # fmt: skip


def demo_data_command(
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 7,
    companies: Annotated[int, typer.Option(min=10, help="Companies in the registry (about 80% "
                                           "are customers, the rest prospects).")] = 3000,
    years: Annotated[int, typer.Option(min=1, max=15, help="Years of invoice history.")] = 4,
    invoices_per_year: Annotated[float | None, typer.Option(
        help="Average invoices per customer and year (default: depends on customer size).")]
    = None,
    end_date: Annotated[str, typer.Option(help="Last day of the history (YYYY-MM-DD).")]
    = "2026-10-31",
    export: Annotated[Path | None, typer.Option("--export", help="Also write the portfolio as "
                                                "canonical Parquet files into this folder.")]
    = None,
    if_missing: Annotated[bool, typer.Option("--if-missing", help="Do nothing when the store "
                                             "already holds invoices.")] = False,
    database_url: DatabaseOption = None,
) -> None:  # fmt: skip
    """Build a realistic simulated French B2B portfolio into the store.

    Payment behaviour is caused by sector habits, company size and age, financial health that
    evolves and sometimes ends in insolvency, the customer's own habits, invoice size,
    seasonality, disputes and terms. Each invoice records its true probability of being paid
    more than 5 and more than 60 days late (the oracle), kept in the demo_oracle table.
    """
    from features.demo import generate_portfolio
    from features.importers.landing import land

    end = parse_day(end_date, "--end-date")  # before the store is created
    store = open_store(database_url)
    if if_missing and store.count("invoice") > 0:
        out.print(f"The store already holds {store.count('invoice'):,} invoices: kept as is.")
        return
    started = time.perf_counter()
    with progress_bar("demo portfolio") as update:
        frames = generate_portfolio(
            seed=seed,
            companies=companies,
            years=years,
            end_date=end,
            invoices_per_year=invoices_per_year,
            progress=lambda stage, done: update(stage, done * 0.5),
        )
        report = land(
            store,
            frames,
            f"demo portfolio (seed {seed})",
            kind="demo",
            sha256="",
            today=end,
            progress=lambda stage, done: update(stage, 0.5 + done * 0.5),
        )
        if export is not None:
            export.mkdir(parents=True, exist_ok=True)
            for name, frame in frames.items():
                frame.to_parquet(export / f"{name}.parquet", index=False)
    print_report(report, time.perf_counter() - started)


def status_command(database_url: DatabaseOption = None) -> None:
    """What the store holds, and the imports that filled it."""
    store = open_store(database_url)
    table = Table(title=f"Ledger store {store.engine.url.render_as_string(hide_password=True)}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in store.counts().items():
        table.add_row(name, f"{count:,}")
    out.print(table)
    imports = store.imports()
    if not imports.empty:
        out.print(imports[["imported_at", "kind", "source", "rows_added", "rows_updated"]]
                  .tail(10).to_string(index=False))  # fmt: skip


JsonPath = Annotated[Path, typer.Argument(help="A JSON or JSON Lines file.")]


def run_registry_import(
    title: str,
    importer: Callable[..., WriteReport],
    path: Path,
    database_url: str | None,
    today: str | None,
) -> None:
    """Run one of the registry importers, which all take (store, path, today, progress)."""
    store = open_store(database_url)
    run_import(title, lambda progress: importer(store, path, today=parse_day(today),
                                                progress=progress))  # fmt: skip


@import_app.command("companies")
def import_companies_command(
    path: JsonPath, database_url: DatabaseOption = None, today: TodayOption = None
) -> None:
    """Import companies from the company search API's JSON (recherche-entreprises).

    Gives company rows (legal form, NAF code, creation date, headcount band, sole trader,
    status) and revenue / net income per year; those accounts' publication dates are
    estimated (fiscal year end + the legal filing delay).
    """
    from features.importers.registry import import_company_search

    run_registry_import("company search", import_company_search, path, database_url, today)


@import_app.command("inpi")
def import_inpi_command(
    path: JsonPath, database_url: DatabaseOption = None, today: TodayOption = None
) -> None:
    """Import INPI annual accounts (tax-form line codes) as financial statements."""
    from features.importers.registry import import_inpi_accounts

    run_registry_import("INPI accounts", import_inpi_accounts, path, database_url, today)


@import_app.command("bodacc")
def import_bodacc_command(
    path: JsonPath, database_url: DatabaseOption = None, today: TodayOption = None
) -> None:
    """Import BODACC notices: insolvency proceedings become legal events."""
    from features.importers.registry import import_bodacc_notices

    run_registry_import("BODACC notices", import_bodacc_notices, path, database_url, today)


@import_app.command("fec")
def import_fec_command(
    path: Annotated[Path, typer.Argument(help="The FEC file (tab- or pipe-separated text).")],
    default_terms: Annotated[int, typer.Option(
        "--default-terms", min=0, max=365,
        help="Payment terms in days giving due dates (a FEC has no due date column).")] = 30,
    customer_accounts: Annotated[str, typer.Option(
        help="Prefixes of the customer accounts, comma-separated.")] = "411",
    encoding: EncodingOption = None,
    database_url: DatabaseOption = None,
    today: TodayOption = None,
) -> None:  # fmt: skip
    """Rebuild invoices and settlements from a French FEC (Fichier des Écritures Comptables).

    Debits on customer accounts are invoices; credits settle them through lettering
    (EcritureLet/DateLet, or the lettered bank line's date when DateLet is empty), else
    first-in-first-out. Each settlement records the rule that produced it.
    """
    from features.importers.fec import import_fec

    store = open_store(database_url)
    run_import("FEC", lambda progress: import_fec(
        store, path, today=parse_day(today), encoding=encoding,
        default_terms_days=default_terms, customer_accounts=customer_accounts,
        progress=progress))  # fmt: skip

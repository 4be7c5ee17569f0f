"""Import any invoice CSV (an ERP export) through a column-mapping file, without editing it.

The mapping (TOML) says how the file is written (separator, encoding, decimal comma, date
formats) and which of its columns hold which canonical field. One row is one invoice; when the
export carries the payment (date, amount paid) a settlement is recorded with the rule "export".
Customers are created from the customer columns of the rows.

    [file]
    separator = ";"
    encoding = "cp1252"
    decimal = ","
    date_formats = ["%d/%m/%Y"]

    [columns]
    invoice_id = "N° facture"
    customer_id = "Code client"
    customer_name = "Raison sociale"
    issue_date = "Date facture"
    due_date = "Échéance"
    amount = "Montant TTC"
    paid_date = "Date règlement"
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from features.errors import ImportRejected, RowProblem
from features.importers.files import read_delimited
from features.importers.landing import Progress, land, no_progress
from features.ledger import LedgerStore, WriteReport
from features.schemas import (
    CUSTOMER,
    INVOICE,
    ROW,
    ParseOptions,
    parse_dates,
    parse_numbers,
    parse_table,
)
from features.siren import normalized_sirens, siren_problems

DATE_FORMAT_ALIASES = {
    "DD/MM/YYYY": "%d/%m/%Y",
    "D/M/YYYY": "%d/%m/%Y",
    "MM/DD/YYYY": "%m/%d/%Y",
    "M/D/YYYY": "%m/%d/%Y",
    "YYYY-MM-DD": "%Y-%m-%d",
    "DD-MM-YYYY": "%d-%m-%Y",
    "DD.MM.YYYY": "%d.%m.%Y",
    "YYYYMMDD": "%Y%m%d",
    "DD/MM/YY": "%d/%m/%y",
}


class FileConventions(BaseModel):
    """How the export is written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    separator: Literal[",", ";", "\t", "|"] | None = None
    encoding: str | None = None
    decimal: Literal[".", ","] = "."
    thousands: Literal[" ", ".", ",", "'", ""] = ""
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    skip_rows: int = Field(0, ge=0, le=100)
    true_values: tuple[str, ...] = ("true", "1", "yes", "y", "oui", "o", "x")

    @field_validator("date_formats", mode="before")
    @classmethod
    def _known_formats(cls, value: object) -> object:
        formats = [value] if isinstance(value, str) else value
        if not isinstance(formats, list | tuple) or not formats:
            raise ValueError("must be a list of date formats such as ['DD/MM/YYYY']")
        resolved = []
        for fmt in formats:
            fmt = DATE_FORMAT_ALIASES.get(str(fmt).upper(), str(fmt))
            if "%" not in fmt:
                raise ValueError(
                    f"unknown date format {fmt!r}: use one of {', '.join(DATE_FORMAT_ALIASES)} "
                    "or a strftime pattern such as '%d/%m/%Y'"
                )
            resolved.append(fmt)
        return tuple(resolved)


class ColumnMap(BaseModel):
    """Canonical field = name of the column in the export."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    invoice_id: str
    customer_id: str
    issue_date: str
    amount: str
    due_date: str | None = None
    currency: str | None = None
    disputed: str | None = None
    po_number: str | None = None
    customer_name: str | None = None
    siren: str | None = None
    paid_date: str | None = None
    paid_amount: str | None = None


class Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = "EUR"
    terms_days: int = Field(30, ge=0, le=365, description="due date = issue date + this")


class ColumnMapping(BaseModel):
    """A whole mapping file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: FileConventions = FileConventions()
    columns: ColumnMap
    defaults: Defaults = Defaults()

    def parse_options(self) -> ParseOptions:
        return ParseOptions(
            date_formats=self.file.date_formats,
            decimal=self.file.decimal,
            thousands=self.file.thousands or None,
            true_values=self.file.true_values,
        )


def load_mapping(path: Path) -> ColumnMapping:
    """Read and validate a mapping file; errors name the key that is wrong."""
    name = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ImportRejected(name, [RowProblem(name, None, "file", "does not exist")]) from None
    except tomllib.TOMLDecodeError as error:
        raise ImportRejected(name, [RowProblem(name, None, "toml", f"is not valid TOML: {error}")]
                             ) from None  # fmt: skip
    try:
        return ColumnMapping.model_validate(raw)
    except ValidationError as error:
        problems = [
            RowProblem(name, None, ".".join(str(part) for part in issue["loc"]), issue["msg"])
            for issue in error.errors()
        ]
        raise ImportRejected(name, problems) from None


def read_mapped_invoices(
    path: Path, mapping: ColumnMapping
) -> tuple[dict[str, pd.DataFrame], str, list[str]]:
    """Typed customer, invoice and payment frames from an export, its hash, and notes."""
    text = read_delimited(
        path,
        separator=mapping.file.separator,
        encoding=mapping.file.encoding,
        skip_rows=mapping.file.skip_rows,
    )
    source = str(path)
    raw = text.frame
    columns = mapping.columns.model_dump(exclude_none=True)
    missing = [
        RowProblem(source, None, column,
                   f"is mapped to {field!r} but is not in the file; its columns are: "
                   f"{', '.join(c for c in raw.columns if c != ROW)}")
        for field, column in columns.items() if column not in raw.columns
    ]  # fmt: skip
    if missing:
        raise ImportRejected(source, missing)
    options = mapping.parse_options()
    renamed = pd.DataFrame({field: raw[column] for field, column in columns.items()})
    renamed[ROW] = raw[ROW]
    notes: list[str] = []
    invoices = _invoice_rows(renamed, mapping, source, options, notes)
    customers = _customer_rows(renamed, source, options)
    payments = _payment_rows(renamed, invoices, source, options)
    frames = {"customer": customers, "invoice": invoices}
    if payments is not None:
        frames["payment"] = payments
        notes.append(f"{len(payments)} settlements read from the export's payment columns")
    return frames, text.sha256, notes


def _invoice_rows(
    rows: pd.DataFrame, mapping: ColumnMapping, source: str, options: ParseOptions,
    notes: list[str],
) -> pd.DataFrame:  # fmt: skip
    wanted = rows[[*(c for c in INVOICE.columns if c in rows.columns), ROW]]
    if "due_date" not in rows.columns:  # computed below from the issue date
        wanted = wanted.assign(due_date=pd.Series(pd.NA, index=rows.index, dtype="string"))
    invoices = parse_table(INVOICE, wanted, source, options)
    if "currency" not in rows.columns:
        invoices["currency"] = mapping.defaults.currency
    if "due_date" not in rows.columns:
        invoices["due_date"] = invoices["issue_date"] + pd.Timedelta(
            days=mapping.defaults.terms_days
        )
        notes.append(f"no due date column: due dates set to issue date + "
                     f"{mapping.defaults.terms_days} days")  # fmt: skip
    return invoices


def _customer_rows(rows: pd.DataFrame, source: str, options: ParseOptions) -> pd.DataFrame:
    fields = {"customer_id": "customer_id", "customer_name": "name", "siren": "siren"}
    present = {k: v for k, v in fields.items() if k in rows.columns}
    customers = rows[[*present, ROW]].rename(columns=present)
    if "siren" in customers.columns:
        _check_sirens(customers, source)
    # The last row of a customer wins: exports repeat the account name on every invoice, and a
    # renamed account shows its newest name last.
    customers = customers.drop_duplicates("customer_id", keep="last")
    return parse_table(CUSTOMER, customers, source, options)


def _check_sirens(customers: pd.DataFrame, source: str) -> None:
    """Every row's SIREN is checked (not only the row kept per customer), and one customer
    account may not carry two different SIRENs."""
    sirens = normalized_sirens(customers["siren"].astype("string").str.strip().replace("", pd.NA))
    reasons = siren_problems(sirens)
    problems = [
        RowProblem(source, int(row), "siren", f"{reason} (9 digits with a Luhn checksum)", value)
        for row, reason, value in zip(customers[ROW], reasons, sirens, strict=True)
        if pd.notna(reason)
    ]
    per_customer = sirens.groupby(customers["customer_id"]).nunique()
    for customer_id in per_customer[per_customer > 1].index:
        rows = customers.loc[customers["customer_id"] == customer_id, ROW]
        problems.append(RowProblem(source, int(rows.iloc[-1]), "siren",
                                   f"customer {customer_id} has different SIRENs on rows "
                                   f"{', '.join(str(r) for r in rows)}"))  # fmt: skip
    if problems:
        raise ImportRejected(source, problems[:1000], total=len(problems))


def _payment_rows(
    rows: pd.DataFrame, invoices: pd.DataFrame, source: str, options: ParseOptions
) -> pd.DataFrame | None:
    if "paid_date" not in rows.columns:
        return None
    paid_date, bad_dates = parse_dates(
        rows["paid_date"].astype("string").str.strip().replace("", pd.NA), options.date_formats
    )
    problems = [
        RowProblem(source, int(row), "paid_date", "is not a date in the file's date formats",
                   str(value))
        for row, value in zip(rows.loc[bad_dates, ROW], rows.loc[bad_dates, "paid_date"],
                              strict=True)
    ]  # fmt: skip
    amount = invoices["amount"]
    if "paid_amount" in rows.columns:
        paid_text = rows["paid_amount"].astype("string").str.strip().replace("", pd.NA)
        paid_amount, bad_amounts = parse_numbers(paid_text, options)
        problems += [
            RowProblem(source, int(row), "paid_amount", "is not a number", str(value))
            for row, value in zip(rows.loc[bad_amounts, ROW], paid_text[bad_amounts], strict=True)
        ]
        amount = paid_amount.fillna(amount)
    if problems:
        raise ImportRejected(source, problems[:1000], total=len(problems))
    paid = paid_date.notna() & (amount > 0)
    payments = pd.DataFrame(
        {
            "payment_id": invoices["invoice_id"] + "@" + paid_date.dt.strftime("%Y-%m-%d"),
            "invoice_id": invoices["invoice_id"],
            "paid_date": paid_date,
            "amount": amount,
            "match_rule": "export",
            ROW: rows[ROW],
        }
    )[paid.to_numpy()]
    return payments.astype({"payment_id": "string", "invoice_id": "string",
                            "match_rule": "string"})  # fmt: skip


def import_mapped_invoices(
    store: LedgerStore,
    path: Path,
    mapping_path: Path,
    *,
    today: date,
    progress: Progress = no_progress,
) -> WriteReport:
    """Import an ERP invoice export through its mapping file, atomically and idempotently."""
    mapping = load_mapping(mapping_path)
    progress(f"reading {path.name}", 0.0)
    frames, sha256, notes = read_mapped_invoices(path, mapping)
    return land(store, frames, str(path), kind="mapped", sha256=sha256, today=today,
                progress=progress, notes=notes)  # fmt: skip


__all__ = [
    "ColumnMapping",
    "import_mapped_invoices",
    "load_mapping",
    "read_mapped_invoices",
]

"""The canonical ledger layout: every table, its columns, keys and rules, in one place.

Every importer (canonical files, mapped ERP exports, FEC, registry data, the demo generator)
ends by calling `validate_table`, so a rule written here holds for every source. Raw text is
turned into typed columns by `parse_table`, which reports what it could not parse instead of
guessing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa

from features.contacts import EMAIL_PATTERN
from features.errors import ConflictingRecord, ImportRejected, RowProblem
from features.siren import normalized_sirens, siren_problems

FieldKind = Literal["string", "date", "float", "int", "bool"]
ROW = "_row"  # source row number carried beside the data, for error messages
MAX_AMOUNT = 1e10  # ten billion euros: above this an amount is a typing error, not an invoice
MIN_AMOUNT = 0.01  # a cent: below this a positive amount is a unit error, and ratios to it overflow
EARLIEST_DATE = pd.Timestamp("1900-01-01")
LATEST_DATE = pd.Timestamp("2100-12-31")

LEGAL_EVENT_KINDS = ("conciliation", "sauvegarde", "redressement", "liquidation", "plan", "cloture")
REMINDER_CHANNELS = ("email", "sms", "phone", "letter")
COMPANY_STATUSES = ("active", "ceased")
MATCH_RULES = ("canonical", "export", "lettering", "lettering_bank_date", "fifo")
# INSEE headcount bands (tranche_effectif_salarie); NN = no employee or unknown.
HEADCOUNT_BANDS = ("NN", "00", "01", "02", "03", "11", "12", "21", "22", "31", "32", "41", "42",
                   "51", "52", "53")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Field:
    """One column of a canonical table."""

    name: str
    kind: FieldKind
    description: str
    required: bool = False
    default: object = None
    checks: tuple[pa.Check, ...] = ()
    may_be_future: bool = False  # a due date is in the future; an issue date never is


@dataclass(frozen=True, slots=True)
class RowRule:
    """A rule across several fields; `is_valid` returns True for the good rows."""

    field: str
    reason: str
    is_valid: Callable[[pd.DataFrame], pd.Series]


@dataclass(frozen=True)
class TableSpec:
    """A canonical table: its columns, its key, its rules and what a second copy of a key means.

    on_conflict: "reject" when a key already stored with other contents is an error (invoices,
    payments); "update" when newer non-empty values replace older ones (what a registry says
    about a company); "replace" when a newer record replaces the whole older one (restated or
    refiled accounts: a confidential refiling must clear the figures it withdraws).
    """

    name: str
    key: tuple[str, ...]
    fields: tuple[Field, ...]
    rules: tuple[RowRule, ...] = ()
    on_conflict: Literal["reject", "update", "replace"] = "reject"
    description: str = ""
    by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def required_columns(self) -> list[str]:
        return [f.name for f in self.fields if f.required and f.default is None]


def _positive_amount() -> tuple[pa.Check, ...]:
    return (
        pa.Check(lambda s: s > 0, error="must be a positive amount", ignore_na=True),
        pa.Check(
            lambda s: ~((s > 0) & (s < MIN_AMOUNT)),
            error="is less than a cent (a unit or typing error)",
            ignore_na=True,
        ),
        pa.Check(
            lambda s: s <= MAX_AMOUNT, error="is absurdly large (over 10 billion)", ignore_na=True
        ),
    )


def _finite() -> pa.Check:
    return pa.Check(
        lambda s: np.isfinite(s) & (s.abs() <= 1e13),
        error="must be a finite amount",
        ignore_na=True,
    )


def _luhn() -> pa.Check:
    return pa.Check(
        lambda s: siren_problems(s).isna(),
        error="is not a valid SIREN: 9 digits whose Luhn checksum is a multiple of 10 (double "
        "every second digit from the right, add all the digits)",
        ignore_na=True,
    )


def _one_of(values: Sequence[str]) -> pa.Check:
    return pa.Check.isin(list(values), error=f"must be one of {', '.join(values)}")


def _statement_amount(name: str, description: str) -> Field:
    return Field(name, "float", description, checks=(_finite(),))


COMPANY = TableSpec(
    name="company",
    key=("siren",),
    on_conflict="update",
    description="A legal unit from the company registry, customer or prospect.",
    fields=(
        Field("siren", "string", "9-digit SIREN with Luhn checksum", required=True,
              checks=(_luhn(),)),
        Field("name", "string", "registered name", required=True),
        Field("legal_form", "string", "INSEE legal category code (nature juridique), e.g. 5710",
              checks=(pa.Check.str_matches(r"^\d{4}$", error="must be a 4-digit INSEE code"),)),
        Field("naf_code", "string", "NAF rev. 2 activity code, e.g. 46.69B",
              checks=(pa.Check.str_matches(r"^\d{2}\.\d{2}[A-Z]$",
                                           error="must look like 46.69B (NAF rev. 2)"),)),
        Field("creation_date", "date", "registration date (company age)"),
        Field("share_capital", "float", "share capital in EUR",
              checks=(pa.Check(lambda s: s >= 0, error="must not be negative", ignore_na=True),)),
        Field("headcount_band", "string", "INSEE headcount band code (tranche d'effectif)",
              checks=(_one_of(HEADCOUNT_BANDS),)),
        Field("is_sole_trader", "bool", "entrepreneur individuel (a natural person)",
              required=True, default=False),
        Field("status", "string", "active or ceased", required=True, default="active",
              checks=(_one_of(COMPANY_STATUSES),)),
        Field("ceased_date", "date", "date the company ceased, when it did"),
    ),
)  # fmt: skip

FINANCIAL_STATEMENT = TableSpec(
    name="financial_statement",
    key=("siren", "fiscal_year_end"),
    on_conflict="replace",
    description="Annual accounts; usable for a decision only from their publication date.",
    fields=(
        Field("siren", "string", "company SIREN", required=True, checks=(_luhn(),)),
        Field("fiscal_year_end", "date", "closing date of the fiscal year", required=True),
        Field("publication_date", "date", "date the accounts became public (or an estimate)",
              required=True),
        Field("confidential", "bool", "accounts filed as confidential or not filed",
              required=True, default=False),
        Field("duration_months", "int", "length of the fiscal year in months",
              required=True, default=12,
              checks=(pa.Check.in_range(1, 36, error="must be between 1 and 36 months"),)),
        _statement_amount("revenue", "net turnover (chiffre d'affaires)"),
        _statement_amount("net_income", "net income (résultat net)"),
        _statement_amount("equity", "shareholders' equity (capitaux propres)"),
        _statement_amount("total_assets", "balance-sheet total"),
        _statement_amount("total_debt", "total debts"),
        _statement_amount("current_assets", "current assets (actif circulant)"),
        _statement_amount("current_liabilities", "current liabilities"),
        _statement_amount("cash", "cash (disponibilités)"),
        _statement_amount("trade_receivables", "trade receivables (clients)"),
        _statement_amount("trade_payables", "trade payables (fournisseurs)"),
        Field("source", "string", "where the figures come from", required=True,
              default="canonical"),
    ),
    rules=(
        RowRule("publication_date", "is before fiscal_year_end",
                lambda d: ~(d["publication_date"] < d["fiscal_year_end"])),
    ),
)  # fmt: skip

LEGAL_EVENT = TableSpec(
    name="legal_event",
    key=("event_id",),
    description="Insolvency proceedings and their outcomes (BODACC-like).",
    fields=(
        Field("event_id", "string", "unique id of the notice or event", required=True),
        Field("siren", "string", "company SIREN", required=True, checks=(_luhn(),)),
        Field("event_date", "date", "judgment date", required=True),
        Field("kind", "string", "insolvency step: " + ", ".join(LEGAL_EVENT_KINDS),
              required=True, checks=(_one_of(LEGAL_EVENT_KINDS),)),
        Field("description", "string", "the notice's own wording"),
        Field("source", "string", "where the event comes from", required=True,
              default="canonical"),
    ),
)  # fmt: skip

CUSTOMER = TableSpec(
    name="customer",
    key=("customer_id",),
    on_conflict="update",
    description="The supplier's own account for a company, and who pays there.",
    fields=(
        Field("customer_id", "string", "the supplier's customer account id", required=True),
        Field("siren", "string", "SIREN of the customer company, when known", checks=(_luhn(),)),
        Field("name", "string", "account name"),
        Field("payer_name", "string", "the person who pays the invoices"),
        Field("payer_email", "string", "the payer's email",
              checks=(pa.Check.str_matches(EMAIL_PATTERN, error="is not an email address"),)),
        Field("payer_phone", "string", "the payer's phone number"),
        Field("preferred_channel", "string", "email, sms, phone or letter",
              checks=(_one_of(REMINDER_CHANNELS),)),
        Field("po_required", "bool", "invoices need a purchase-order number to be paid",
              required=True, default=False),
    ),
)  # fmt: skip

INVOICE = TableSpec(
    name="invoice",
    key=("invoice_id",),
    description="An invoice issued to a customer.",
    fields=(
        Field("invoice_id", "string", "unique invoice number", required=True),
        Field("customer_id", "string", "customer account id", required=True),
        Field("issue_date", "date", "invoice date", required=True),
        Field("due_date", "date", "payment due date", required=True, may_be_future=True),
        Field("amount", "float", "amount including tax, in the invoice currency", required=True,
              checks=_positive_amount()),
        Field("currency", "string", "ISO 4217 code", required=True, default="EUR",
              checks=(pa.Check.str_matches(r"^[A-Z]{3}$", error="must be a 3-letter ISO code"),)),
        Field("disputed", "bool", "the customer disputes the invoice", required=True,
              default=False),
        Field("po_number", "string", "customer purchase-order number"),
    ),
    rules=(
        RowRule("due_date", "is before issue_date", lambda d: d["due_date"] >= d["issue_date"]),
    ),
)  # fmt: skip

PAYMENT = TableSpec(
    name="payment",
    key=("payment_id", "invoice_id"),
    description="A settlement: the part of a payment applied to one invoice (partial ones too).",
    fields=(
        Field("payment_id", "string", "id of the payment (bank transaction)", required=True),
        Field("invoice_id", "string", "the invoice it settles", required=True),
        Field("paid_date", "date", "date the money was received", required=True),
        Field("amount", "float", "amount applied to the invoice", required=True,
              checks=_positive_amount()),
        Field("match_rule", "string", "how the payment was matched to the invoice",
              required=True, default="canonical", checks=(_one_of(MATCH_RULES),)),
    ),
)  # fmt: skip

DEMO_ORACLE = TableSpec(
    name="demo_oracle",
    key=("invoice_id",),
    description="Demo data only: each invoice's true probabilities, the best any model can do.",
    fields=(
        Field("invoice_id", "string", "invoice number", required=True),
        Field("p_late", "float", "true P(paid more than 5 days late)", required=True,
              checks=(pa.Check.in_range(0, 1),)),
        Field("p_severe", "float", "true P(more than 60 days late or never paid)", required=True,
              checks=(pa.Check.in_range(0, 1),)),
    ),
)  # fmt: skip

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (COMPANY, FINANCIAL_STATEMENT, LEGAL_EVENT, CUSTOMER, INVOICE, PAYMENT, DEMO_ORACLE)
}
# The order in which tables are written, so that referenced rows exist first.
WRITE_ORDER = tuple(TABLES)


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """How raw text becomes typed values (one file's conventions)."""

    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    decimal: str = "."
    thousands: str | None = None
    true_values: tuple[str, ...] = ("true", "1", "yes", "y", "oui", "o", "t", "x")
    false_values: tuple[str, ...] = ("false", "0", "no", "n", "non", "f", "")


def with_row_numbers(frame: pd.DataFrame, first_row: int = 2) -> pd.DataFrame:
    """Number rows as a person sees them in the file (row 1 is the header)."""
    out = frame.reset_index(drop=True)
    out[ROW] = np.arange(first_row, first_row + len(out), dtype=np.int64)
    return out


def parse_dates(text: pd.Series, formats: Sequence[str]) -> tuple[pd.Series, pd.Series]:
    """Parse dates trying each format in turn; returns (dates, mask of unparseable non-empty)."""
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[s]")
    todo = text.notna()
    for fmt in formats:
        if not todo.any():
            break
        attempt = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        ok = attempt.notna()
        parsed.loc[ok[ok].index] = attempt[ok].astype("datetime64[s]")
        todo.loc[ok[ok].index] = False
    return parsed, todo


def parse_numbers(text: pd.Series, options: ParseOptions) -> tuple[pd.Series, pd.Series]:
    """Parse decimal numbers with the file's separators; returns (values, mask of unparseable)."""
    if options.decimal == "." and not options.thousands:
        values = pd.to_numeric(text, errors="coerce").astype("float64")
        retry = text.notna() & values.isna()
        if not retry.any():  # the common case: plain numbers, no cleaning needed
            return values, retry
    cleaned = text.str.replace(r"[\s\u00a0\u202f]", "", regex=True)
    if options.thousands:
        cleaned = cleaned.str.replace(options.thousands, "", regex=False)
    if options.decimal != ".":
        cleaned = cleaned.str.replace(options.decimal, ".", regex=False)
    values = pd.to_numeric(cleaned, errors="coerce").astype("float64")
    return values, text.notna() & values.isna()


def _is_text(column: pd.Series) -> bool:
    return bool(
        pd.api.types.is_string_dtype(column.dtype) or pd.api.types.is_object_dtype(column.dtype)
    )


def _blank_to_na(column: pd.Series) -> pd.Series:
    text = column.astype("string").str.strip()
    return text.mask(text == "")


def parse_table(
    spec: TableSpec, raw: pd.DataFrame, source: str, options: ParseOptions | None = None
) -> pd.DataFrame:
    """Turn a frame of text columns into typed canonical columns, or raise ImportRejected.

    Missing optional columns are added empty, unknown columns are refused (a wrong separator
    shows up here as a single unknown column), and every unparseable value is reported.
    """
    options = options or ParseOptions()
    if ROW not in raw.columns:
        raw = with_row_numbers(raw)
    problems = _column_problems(spec, raw, source)
    if problems:
        raise ImportRejected(source, problems)
    rows = raw[ROW].to_numpy()
    out: dict[str, pd.Series] = {}
    for spec_field in spec.fields:
        if spec_field.name not in raw.columns:
            out[spec_field.name] = pd.Series(pd.NA, index=raw.index, dtype="object")
            continue
        column = raw[spec_field.name]
        if not _is_text(column):  # typed already (Parquet): the checks come in validate_table
            out[spec_field.name] = column
            continue
        text = _blank_to_na(column)
        value, bad = _parse_column(spec_field, text, options)
        for i in np.flatnonzero(bad.to_numpy()):
            problems.append(
                RowProblem(
                    source,
                    int(rows[i]),
                    spec_field.name,
                    _parse_reason(spec_field, options),
                    str(text.iloc[i]),
                )
            )
        out[spec_field.name] = value
    if problems:
        raise ImportRejected(source, problems[:1000], total=len(problems))
    typed = pd.DataFrame(out, index=raw.index)
    typed[ROW] = rows
    return typed


def _column_problems(spec: TableSpec, raw: pd.DataFrame, source: str) -> list[RowProblem]:
    problems = []
    present = set(raw.columns) - {ROW}
    missing = [c for c in spec.required_columns if c not in present]
    unknown = sorted(present - set(spec.columns))
    hint = ""
    if len(present) == 1 and any(sep in next(iter(present)) for sep in ";,\t|"):
        hint = " (the whole header is one column: is the separator right?)"
    for name in missing:
        problems.append(RowProblem(source, None, name,
                                   f"required column is missing{hint}; the {spec.name} columns "
                                   f"are: {', '.join(spec.columns)}"))  # fmt: skip
    for name in unknown:
        problems.append(RowProblem(source, None, name,
                                   f"unknown column{hint}; the {spec.name} columns are: "
                                   f"{', '.join(spec.columns)}"))  # fmt: skip
    return problems


def _parse_column(
    spec_field: Field, text: pd.Series, options: ParseOptions
) -> tuple[pd.Series, pd.Series]:
    no_problem = pd.Series(False, index=text.index)
    match spec_field.kind:
        case "string":
            return text, no_problem
        case "date":
            return parse_dates(text, options.date_formats)
        case "float":
            return parse_numbers(text, options)
        case "int":
            values, bad = parse_numbers(text, options)
            fractional = values.notna() & (values != values.round())
            return values.astype("Float64").round().astype("Int64"), bad | fractional
        case "bool":
            lowered = text.str.lower()
            truthy = lowered.isin(options.true_values)
            falsy = lowered.isin(options.false_values)
            value = pd.Series(pd.NA, index=text.index, dtype="boolean")
            value[truthy] = True
            value[falsy] = False
            return value, text.notna() & ~truthy & ~falsy
    raise AssertionError(spec_field.kind)


def _parse_reason(spec_field: Field, options: ParseOptions) -> str:
    match spec_field.kind:
        case "date":
            shown = " or ".join(
                fmt.replace("%Y", "YYYY").replace("%m", "MM").replace("%d", "DD")
                for fmt in options.date_formats
            )
            return f"is not a date in the format {shown}"
        case "float" | "int":
            return f"is not a number (decimal separator {options.decimal!r})"
        case "bool":
            return "is not a yes/no value (true/false, 1/0, oui/non)"
    return "cannot be read"


def validate_table(spec: TableSpec, typed: pd.DataFrame, source: str, today: date) -> pd.DataFrame:
    """Check typed rows against the table's rules; return clean canonical rows or raise.

    Defaults are filled (on update tables by the store, into new rows only), SIRENs
    normalised, identical duplicate keys dropped, and duplicates with
    other contents refused (naming both rows and the fields that differ).
    """
    frame = typed.reset_index(drop=True)  # problems are located by position
    if ROW not in frame.columns:
        frame = with_row_numbers(frame)
    for spec_field in spec.fields:
        if spec_field.name not in frame.columns:
            frame[spec_field.name] = pd.NA
        if spec_field.default is not None and spec.on_conflict != "update":
            # On update tables an empty value means "keep what is stored": the store fills
            # defaults only into rows it inserts.
            frame[spec_field.name] = frame[spec_field.name].fillna(spec_field.default)
        frame[spec_field.name] = _to_dtype(spec_field, frame[spec_field.name])
        if spec_field.name == "siren" or spec_field.name.endswith("_siren"):
            frame[spec_field.name] = normalized_sirens(frame[spec_field.name])
    problems = _rule_problems(spec, frame, source, today)
    if problems:
        raise ImportRejected(source, problems[:1000], total=len(problems))
    return _deduplicate(spec, frame, source)


def _to_dtype(spec_field: Field, column: pd.Series) -> pd.Series:
    match spec_field.kind:
        case "string":
            return column.astype("string")
        case "date":
            return pd.to_datetime(column).astype("datetime64[s]")
        case "float":
            return pd.to_numeric(column).astype("float64")
        case "int":
            return pd.to_numeric(column).astype("Int64")
        case "bool":
            return column.astype("boolean")
    raise AssertionError(spec_field.kind)


def _pandera_schema(spec: TableSpec, today: date) -> pa.DataFrameSchema:
    latest = pd.Timestamp(today)
    columns = {}
    for spec_field in spec.fields:
        checks = list(spec_field.checks)
        if spec_field.kind == "date" and not spec_field.may_be_future:
            checks.append(pa.Check(lambda s, latest=latest: s <= latest,
                                   error=f"is in the future (after {today.isoformat()})",
                                   ignore_na=True))  # fmt: skip
        if spec_field.kind == "date":
            # A date after 2100 is already "in the future" unless the field may be.
            latest_allowed = LATEST_DATE if spec_field.may_be_future else pd.Timestamp.max
            checks.append(pa.Check(
                lambda s, top=latest_allowed: (s >= EARLIEST_DATE) & (s <= top),
                error="is out of range (before 1900 or after 2100)", ignore_na=True))  # fmt: skip
        defaulted_later = spec_field.default is not None and spec.on_conflict == "update"
        columns[spec_field.name] = pa.Column(
            nullable=not spec_field.required or defaulted_later, checks=checks, required=True
        )
    return pa.DataFrameSchema(columns, strict=False, coerce=False)


def _rule_problems(
    spec: TableSpec, frame: pd.DataFrame, source: str, today: date
) -> list[RowProblem]:
    rows = frame[ROW].to_numpy()
    problems: list[RowProblem] = []
    try:
        _pandera_schema(spec, today).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        for case in cases.itertuples(index=False):
            index = case.index
            row = int(rows[frame.index.get_loc(index)]) if pd.notna(index) else None
            reason = "is required but empty" if case.check == "not_nullable" else str(case.check)
            value = None if pd.isna(case.failure_case) else str(case.failure_case)
            if isinstance(value, str) and value.endswith(" 00:00:00"):
                value = value[: -len(" 00:00:00")]
            problems.append(RowProblem(source, row, str(case.column), reason, value))
    for rule in spec.rules:
        bad = ~rule.is_valid(frame).fillna(True).astype(bool)
        for i in np.flatnonzero(bad.to_numpy()):
            value = frame[rule.field].iloc[i]
            shown = value.date().isoformat() if isinstance(value, pd.Timestamp) else str(value)
            problems.append(RowProblem(source, int(rows[i]), rule.field, rule.reason, shown))
    problems.sort(key=lambda p: (p.row if p.row is not None else -1, p.field))
    return problems


def differing_fields(spec: TableSpec, left: pd.DataFrame, right: pd.DataFrame) -> pd.Series:
    """For aligned frames, the comma-separated names of the non-key fields that differ per row."""
    names = pd.Series("", index=left.index, dtype="object")
    for spec_field in spec.fields:
        if spec_field.name in spec.key:
            continue
        a, b = left[spec_field.name], right[spec_field.name]
        differ = ~((a == b).fillna(False).astype(bool) | (a.isna() & b.isna()))
        names[differ.to_numpy()] += spec_field.name + ","
    return names.str.rstrip(",")


def _deduplicate(spec: TableSpec, frame: pd.DataFrame, source: str) -> pd.DataFrame:
    key = list(spec.key)
    duplicated = frame.duplicated(key, keep=False)
    if not duplicated.any():
        return frame
    dupes = frame[duplicated]
    firsts = dupes.drop_duplicates(key, keep="first").set_index(key)
    aligned_first = (
        firsts.loc[pd.MultiIndex.from_frame(dupes[key])]
        if len(key) > 1
        else (firsts.loc[dupes[key[0]]])
    )
    aligned_first.index = dupes.index
    differ = differing_fields(spec, dupes, aligned_first)
    conflicts = differ != ""
    if conflicts.any():
        problems = [
            RowProblem(source, int(row), ",".join(key),
                       f"duplicate {'/'.join(key)} {tuple(k) if len(k) > 1 else k[0]!s} with other "
                       f"contents than row {int(first_row)} (differs in: "
                       f"{fields.replace(',', ', ')})", differing=tuple(fields.split(",")))
            for row, k, first_row, fields in zip(
                dupes.loc[conflicts, ROW], dupes.loc[conflicts, key].itertuples(index=False),
                aligned_first.loc[conflicts, ROW], differ[conflicts], strict=True)
        ]  # fmt: skip
        raise ConflictingRecord(source, problems[:1000], total=len(problems))
    return frame.drop_duplicates(key, keep="first")

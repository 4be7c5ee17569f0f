"""Import a French FEC (Fichier des Écritures Comptables) into the ledger.

The FEC is the legal export of a company's books (article A47 A-1 of the Livre des procédures
fiscales): one line per accounting line, 18 standard columns, tab- or pipe-separated. Invoices and
the payments that settled them are not in it as such; they are rebuilt from the lines booked on
customer accounts (411…):

- a debit on a customer account is an invoice, its piece reference being the invoice number;
- a credit is a payment, or a credit note when it comes from a sales journal;
- lettering (EcritureLet, DateLet) says which credits settled which debits; credits without
  lettering settle the customer's oldest open invoices first (FIFO).

Every settlement records the rule that produced it, and the notes say how many came from each.
Amounts are handled in integer cents so that thousands of lines add up exactly.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import ImportRejected, RowProblem
from features.importers.files import (
    DelimitedText,
    read_delimited,
    separator_name,
    sniff_separator,
)
from features.importers.landing import Progress, land, no_progress
from features.ledger import LedgerStore, WriteReport
from features.schemas import (
    CUSTOMER,
    INVOICE,
    PAYMENT,
    ROW,
    TableSpec,
    parse_dates,
)

__all__ = ["FEC_COLUMNS", "FecLedger", "import_fec", "read_fec"]

FEC_COLUMNS = (
    "JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib",
    "CompAuxNum", "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit",
    "EcritureLet", "DateLet", "ValidDate", "Montantdevise", "Idevise",
)  # fmt: skip
FEC_SEPARATORS = ("\t", "|")  # the only two the regulation allows
DATE_FORMATS = ("%Y%m%d", "%Y-%m-%d")
# Non-standard columns some software adds with each line's due date, compared after _folded_name.
DUE_DATE_COLUMNS = frozenset({"dateecheance", "echeancedate", "echeance", "dateech", "duedate"})
# Journals of opening entries (à-nouveaux), besides any journal or line worded "à nouveau".
OPENING_JOURNALS = frozenset({"AN", "RAN", "ANO", "ANX", "ANOUV"})
_OPENING_WORDING = r"(?i)(?:^|[^a-zà-ÿ])[aàÀ][\s-]*nouveaux?"
# Shapes checked before parsing, so that e.g. "2026015" or "1e3" are refused, not guessed.
_DATE_TEXT = r"(?:\d{8}|\d{4}-\d{2}-\d{2})"
_AMOUNT_TEXT = r"(?:\d+(?:[.,]\d*)?|[.,]\d+)"
_SPACES = r"[\s\u00a0\u202f]"
_MAX_LINE_AMOUNT = 1e12  # far above any real line; keeps cents well inside int64
_BALANCE_TOLERANCE_CENTS = 1
_MAX_LISTED = 1000
_GROUP_SEPARATOR = "\x1f"  # joins customer id and lettering code into one group key

_TEXT_FIELDS = {
    "JournalCode": "journal", "JournalLib": "journal_label", "EcritureNum": "entry",
    "CompteNum": "account", "CompteLib": "account_label", "CompAuxNum": "aux",
    "CompAuxLib": "aux_label", "PieceRef": "piece", "EcritureLib": "label",
    "EcritureLet": "letter",
}  # fmt: skip
_DATE_FIELDS = {"EcritureDate": "entry_date", "PieceDate": "piece_date", "DateLet": "letter_date"}
_AMOUNT_FIELDS = {"Debit": "debit", "Credit": "credit"}
_REQUIRED = ("JournalCode", "EcritureNum", "EcritureDate", "CompteNum")


@dataclass(frozen=True, eq=False)
class FecLedger:
    """What a FEC holds for the ledger: typed canonical frames (ROW = FEC line) and how."""

    source: str
    sha256: str
    customer: pd.DataFrame
    invoice: pd.DataFrame
    payment: pd.DataFrame
    settlements_by_rule: Mapping[str, int]
    ignored_credit_notes: int  # unlettered credit notes: nothing says which invoice they reduce
    unapplied_amount: float  # payments larger than the invoices they could settle, in EUR
    notes: tuple[str, ...]

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        return {"customer": self.customer, "invoice": self.invoice, "payment": self.payment}


def read_fec(
    path: Path,
    *,
    encoding: str | None = None,
    default_terms_days: int = 30,
    customer_accounts: str = "411",
    progress: Progress = no_progress,
) -> FecLedger:
    """Rebuild customers, invoices and settlements from a FEC file, or raise ImportRejected.

    customer_accounts: account number prefix(es) of customer accounts, comma-separated.
    default_terms_days: due date = issue date + this, when the FEC has no due-date column.
    """
    if default_terms_days < 0:
        raise ValueError(f"default_terms_days must be >= 0, not {default_terms_days}")
    prefixes = tuple(p.strip() for p in customer_accounts.split(",") if p.strip())
    if not prefixes:
        raise ValueError("customer_accounts needs at least one account prefix, e.g. '411'")
    source = str(path)
    progress("reading FEC", 0.0)
    text = _read_fec_text(path, encoding)
    raw, due_column = _standard_columns(text.frame, source)
    progress("reading FEC", 0.3)
    lines = _typed_lines(raw, source, due_column)
    _check_balanced(lines, source)
    progress("reading FEC", 0.5)
    book = _customer_book(lines, prefixes, default_terms_days)
    progress("matching settlements", 0.6)
    matching = _match_settlements(book)
    progress("matching settlements", 1.0)
    return _fec_ledger(book, matching, source, text.sha256, due_column, default_terms_days)


def import_fec(
    store: LedgerStore,
    path: Path,
    *,
    today: date,
    encoding: str | None = None,
    default_terms_days: int = 30,
    customer_accounts: str = "411",
    progress: Progress = no_progress,
) -> WriteReport:
    """Read a FEC and land its customers, invoices and settlements whole, or not at all."""
    ledger = read_fec(
        path,
        encoding=encoding,
        default_terms_days=default_terms_days,
        customer_accounts=customer_accounts,
        progress=progress,
    )
    return land(
        store,
        ledger.tables,
        ledger.source,
        kind="fec",
        sha256=ledger.sha256,
        today=today,
        progress=progress,
        notes=list(ledger.notes),
    )


# ---- reading the text --------------------------------------------------------------------------


def _read_fec_text(path: Path, encoding: str | None) -> DelimitedText:
    head = _first_lines(path, encoding)
    if not head:
        return read_delimited(path, encoding=encoding)  # it says what is wrong: missing, empty…
    separator = _fec_separator(str(path), head[0])
    return read_delimited(path, separator=separator, encoding=encoding)


def _first_lines(path: Path, encoding: str | None) -> list[str]:
    """The header and first entry line, decoded well enough to see the separators (ASCII)."""
    if not path.is_file():
        return []
    with path.open("rb") as handle:
        start = handle.read(65536)
    utf16 = start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if not start.strip() or (b"\x00" in start and not utf16 and encoding is None):
        return []  # empty, binary, or UTF-16 without a BOM: read_delimited says which
    try:
        text = start.decode(encoding or ("utf-16" if utf16 else "latin-1"), errors="replace")
    except LookupError:
        return []  # read_delimited names the unknown encoding
    return text.lstrip("\ufeff").splitlines()[:2]


def _fields(line: str, separator: str) -> list[str]:
    return next(csv.reader([line], delimiter=separator), [])


def _fec_separator(source: str, header: str) -> str:
    separator = sniff_separator(header)
    if separator in FEC_SEPARATORS:
        return separator
    found = f"{separator_name(separator)}s" if separator in header else "neither tabs nor pipes"
    raise ImportRejected(source, [RowProblem(
        source, 1, "separator",
        f"a FEC is tab- or pipe-separated (article A47 A-1 LPF) but its header line uses {found}; "
        "export the FEC again from the accounting software")])  # fmt: skip


def _folded_name(column: str) -> str:
    """A column name without case, accents or punctuation: DateÉchéance -> dateecheance."""
    plain = unicodedata.normalize("NFKD", column).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())


def _standard_columns(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, str | None]:
    """The 18 standard columns (names matched without case) and the due-date one, if any."""
    present = [c for c in frame.columns if c != ROW]
    by_folded = {_folded_name(c): c for c in present}
    missing = [c for c in FEC_COLUMNS if _folded_name(c) not in by_folded]
    if missing:
        others = [
            c for c in present if _folded_name(c) not in {_folded_name(s) for s in FEC_COLUMNS}
        ]
        raise ImportRejected(source, [_missing_column(source, c, others) for c in missing])
    renamed = {by_folded[_folded_name(c)]: c for c in FEC_COLUMNS}
    due_column = next((c for c in present if _folded_name(c) in DUE_DATE_COLUMNS), None)
    keep = [*renamed, *([due_column] if due_column else []), ROW]
    return frame[keep].rename(columns=renamed), due_column


def _missing_column(source: str, column: str, others: list[str]) -> RowProblem:
    close = difflib.get_close_matches(column, others, n=1, cutoff=0.6)
    guess = f" ({close[0]!r} is not it: names must be exact)" if close else ""
    return RowProblem(source, 1, column,
                      f"standard FEC column is missing from the header{guess}; the 18 columns "
                      f"are: {', '.join(FEC_COLUMNS)}")  # fmt: skip


# ---- typed lines ------------------------------------------------------------------------------


class _LineProblems:
    """Problems found column by column over every line, raised together with their FEC line."""

    def __init__(self, source: str, rows: np.ndarray) -> None:
        self.source = source
        self.rows = rows
        self.found: list[RowProblem] = []
        self.total = 0

    def add(self, bad: pd.Series, field: str, reason: str, values: pd.Series | None = None) -> None:
        hits = np.flatnonzero(bad.fillna(False).to_numpy(dtype=bool))
        self.total += len(hits)
        for i in hits[:_MAX_LISTED]:
            shown = None if values is None else str(values.iloc[i])
            self.found.append(RowProblem(self.source, int(self.rows[i]), field, reason, shown))

    def raise_if_any(self) -> None:
        if self.found:
            self.found.sort(key=lambda p: (p.row or 0, p.field))
            raise ImportRejected(self.source, self.found[:_MAX_LISTED], total=self.total)


def _typed_lines(raw: pd.DataFrame, source: str, due_column: str | None) -> pd.DataFrame:
    """One row per FEC line: text stripped, dates parsed, amounts in cents; or ImportRejected."""
    rows = raw[ROW].to_numpy()
    problems = _LineProblems(source, rows)
    used = [*_TEXT_FIELDS, *_DATE_FIELDS, *_AMOUNT_FIELDS, *([due_column] if due_column else [])]
    text = {c: raw[c].fillna("").str.strip() for c in used}
    for column in _REQUIRED:
        problems.add(text[column] == "", column, "is required but empty")
    lines = pd.DataFrame({name: text[column] for column, name in _TEXT_FIELDS.items()})
    lines["row"] = rows
    dated = {**_DATE_FIELDS, **({due_column: "due_date"} if due_column else {})}
    for column, name in dated.items():
        lines[name] = _parsed_dates(text[column], column, problems)
    if not due_column:
        lines["due_date"] = pd.Series(pd.NaT, index=lines.index, dtype="datetime64[s]")
    for column, name in _AMOUNT_FIELDS.items():
        lines[name] = _parsed_cents(text[column], column, problems)
    both_sides = (lines["debit"] > 0) & (lines["credit"] > 0)
    if both_sides.any():
        problems.add(both_sides, "Credit",
                     "is not zero while Debit is not zero either: a line is a debit or a credit",
                     text["Debit"] + " / " + text["Credit"])  # fmt: skip
    problems.raise_if_any()
    return lines


def _parsed_dates(text: pd.Series, column: str, problems: _LineProblems) -> pd.Series:
    given = text != ""
    well_formed = text.str.fullmatch(_DATE_TEXT)
    dates, unparsed = parse_dates(text.where(given & well_formed), DATE_FORMATS)
    problems.add(given & (~well_formed | unparsed), column,
                 "is not a date in the format YYYYMMDD (or YYYY-MM-DD)", text)  # fmt: skip
    return dates


def _parsed_cents(text: pd.Series, column: str, problems: _LineProblems) -> pd.Series:
    spaced = text.str.contains(_SPACES, regex=True)  # digit groups: "1 234,56"
    compact = text.str.replace(_SPACES, "", regex=True) if spaced.any() else text
    given = compact != ""
    signed = compact.str.fullmatch(r"[+-]?" + _AMOUNT_TEXT)
    # The shape is checked, so this cannot fail; a dot decimal passes through unchanged.
    values = compact.where(given & signed).str.replace(",", ".", regex=False).astype("float64")
    problems.add(given & ~signed, column,
                 "is not an amount (digits with a decimal comma or point)", text)  # fmt: skip
    problems.add(values < 0, column, "is negative: a FEC books a negative debit as a credit "
                 "(and the reverse)", text)  # fmt: skip
    problems.add(values > _MAX_LINE_AMOUNT, column, "is not a plausible amount (over 10^12)", text)
    euros = values.fillna(0.0).clip(0.0, _MAX_LINE_AMOUNT).to_numpy()
    return pd.Series(np.rint(euros * 100).astype(np.int64), index=text.index)


def _check_balanced(lines: pd.DataFrame, source: str) -> None:
    """Each entry (EcritureNum within its journal) must balance; one that does not is corrupt."""
    entries = lines.groupby(["journal", "entry"], sort=False).agg(
        debit=("debit", "sum"), credit=("credit", "sum"), first_row=("row", "min")
    )
    unbalanced = entries[(entries["debit"] - entries["credit"]).abs() > _BALANCE_TOLERANCE_CENTS]
    if unbalanced.empty:
        return
    unbalanced = unbalanced.sort_values("first_row")
    problems = [
        RowProblem(source, int(first_row), "EcritureNum",
                   f"entry {entry} of journal {journal}, which starts on this line, is not "
                   f"balanced: debits {_euros(debit)}, credits {_euros(credit)}", str(entry))
        for (journal, entry), debit, credit, first_row in zip(
            unbalanced.index[:_MAX_LISTED], unbalanced["debit"], unbalanced["credit"],
            unbalanced["first_row"], strict=False)
    ]  # fmt: skip
    raise ImportRejected(source, problems, total=len(unbalanced))


def _euros(cents: int | float) -> str:
    return f"{cents / 100:.2f}"


# ---- customer accounts: invoices and credits ---------------------------------------------------


@dataclass(frozen=True, eq=False)
class _CustomerBook:
    """The lines on customer accounts, sorted into invoices and credits."""

    lines: pd.DataFrame  # with customer_id, customer_name, opening, kind
    invoices: pd.DataFrame  # customer_id, invoice_id, issue_date, due_date, cents, row, …
    parts: pd.DataFrame  # an invoice's amount per lettering code: invoice_id, letter, cents, …
    credits: pd.DataFrame  # payments and credit notes: kind, letter, cents, payment_id, rule, …
    sales_journals: tuple[str, ...]
    account_prefixes: tuple[str, ...]


def _customer_book(
    lines: pd.DataFrame, prefixes: tuple[str, ...], default_terms_days: int
) -> _CustomerBook:
    mine = lines[lines["account"].str.startswith(prefixes)].copy()
    has_aux = mine["aux"] != ""
    mine["customer_id"] = mine["aux"].where(has_aux, mine["account"])
    mine["customer_name"] = mine["aux_label"].where(has_aux, mine["account_label"])
    mine["opening"] = _is_opening(mine)
    sales_journals = _sales_journals(mine)
    credit_note = mine["journal"].isin(sales_journals) & ~mine["opening"]
    mine["kind"] = np.select(
        [mine["debit"] > 0, (mine["credit"] > 0) & credit_note, mine["credit"] > 0],
        ["invoice", "credit_note", "payment"],
        default="zero",
    )
    mine["lettering_group"] = mine["customer_id"] + _GROUP_SEPARATOR + mine["letter"]
    # DateLet is the day the group was lettered; some software writes it on one line only.
    mine["group_date_let"] = mine.groupby("lettering_group")["letter_date"].transform("max")
    invoices, parts = _invoices(mine, default_terms_days)
    return _CustomerBook(mine, invoices, parts, _credits(mine), sales_journals, prefixes)


def _is_opening(lines: pd.DataFrame) -> pd.Series:
    """Opening entries (à-nouveaux) carry over last year's open invoices and payments."""
    by_code = lines["journal"].str.upper().isin(OPENING_JOURNALS)
    by_journal_name = lines["journal_label"].str.contains(_OPENING_WORDING, regex=True)
    by_line_label = lines["label"].str.contains(_OPENING_WORDING, regex=True)
    return by_code | by_journal_name | by_line_label


def _sales_journals(lines: pd.DataFrame) -> tuple[str, ...]:
    """Journals where invoices are booked: on customer accounts they debit more than they credit.

    A bank journal credits customers more (it receives their payments), so its credits stay
    payments even when it also holds a few refunds; an opening journal is never a sales journal.
    """
    totals = lines[~lines["opening"]].groupby("journal")[["debit", "credit"]].sum()
    return tuple(sorted(totals.index[totals["debit"] > totals["credit"]]))


def _invoices(mine: pd.DataFrame, default_terms_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Invoices (debits of one piece and customer added up) and their parts per lettering code."""
    debits = mine[mine["kind"] == "invoice"]
    piece = debits["piece"].where(debits["piece"] != "", debits["journal"] + "-" + debits["entry"])
    # A piece seen on several customers (an opening entry without references, a reused number)
    # would make one invoice of two customers: each gets its own id instead.
    shared = debits.groupby(piece)["customer_id"].transform("nunique") > 1
    debits = debits.assign(
        invoice_id=piece.mask(shared, piece + "/" + debits["customer_id"]),
        issue_date=debits["piece_date"].fillna(debits["entry_date"]),
    )
    invoices = debits.groupby(["customer_id", "invoice_id"], as_index=False, sort=False).agg(
        issue_date=("issue_date", "min"), due_date=("due_date", "min"), cents=("debit", "sum"),
        row=("row", "min"), opening=("opening", "any"),
    )  # fmt: skip
    # With instalments (several due dates), the first one is when the customer starts being late.
    invoices["due_from_terms"] = invoices["due_date"].isna()
    terms = invoices["issue_date"] + pd.Timedelta(days=default_terms_days)
    invoices["due_date"] = invoices["due_date"].fillna(terms)
    parts = debits.groupby(["customer_id", "invoice_id", "letter"], as_index=False, sort=False).agg(
        cents=("debit", "sum"), lettering_group=("lettering_group", "first")
    )
    parts = parts.merge(invoices[["invoice_id", "issue_date"]], on="invoice_id", how="left")
    return invoices, parts


def _credits(mine: pd.DataFrame) -> pd.DataFrame:
    """Credit lines with the payment id, date and rule of the settlements they will make."""
    credits = mine[mine["kind"].isin(["payment", "credit_note"])].copy()
    entry = credits["journal"] + "-" + credits["entry"]
    # The entry's id, numbered when it credits several customer lines (a remittance of several
    # cheques): a later export of the same entry gives the same ids, unlike file line numbers.
    lines_in_entry = entry.groupby(entry).transform("size")
    position = (entry.groupby(entry).cumcount() + 1).astype(str)
    credits["payment_id"] = entry.mask(lines_in_entry > 1, entry + "-" + position)
    lettered = credits["letter"] != ""
    dated_by_lettering = lettered & credits["group_date_let"].notna()
    credits["paid_date"] = credits["group_date_let"].where(
        dated_by_lettering, credits["entry_date"]
    )
    credits["rule"] = np.select(
        [dated_by_lettering, lettered], ["lettering", "lettering_bank_date"], default="fifo"
    )
    credits["cents"] = credits["credit"]
    return credits


# ---- matching credits to invoices --------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Allocation:
    applied: pd.DataFrame  # invoice, credit (index labels of the inputs), cents
    still_open: pd.Series  # each invoice's open cents afterwards, indexed like the invoices
    unapplied: pd.Series  # each credit's cents no invoice took, indexed like the credits


def _allocate(invoices: pd.DataFrame, credits: pd.DataFrame) -> _Allocation:
    """Each credit settles the open invoices of its group, oldest first, partly when it must.

    invoices: group, issue_date, invoice_id, open (cents); credits: group, entry_date, row, cents.
    Both are sorted by group, so one pass settles every group: O(n log n) with the sort.
    """
    n_invoices = len(invoices)
    codes, _ = pd.factorize(pd.concat([invoices["group"], credits["group"]], ignore_index=True))
    invoices = invoices.assign(code=codes[:n_invoices])
    invoices = invoices.sort_values(["code", "issue_date", "invoice_id"], kind="stable")
    credits = credits.assign(code=codes[n_invoices:])
    credits = credits.sort_values(["code", "entry_date", "row"], kind="stable")
    invoice_codes, credit_codes = invoices["code"].to_numpy(), credits["code"].to_numpy()
    starts = np.searchsorted(invoice_codes, credit_codes, side="left").tolist()
    ends = np.searchsorted(invoice_codes, credit_codes, side="right").tolist()
    open_cents = invoices["open"].to_numpy(dtype=np.int64).tolist()
    unapplied = credits["cents"].to_numpy(dtype=np.int64).tolist()
    applied: list[tuple[int, int, int]] = []
    cursor = 0
    for credit, (start, end) in enumerate(zip(starts, ends, strict=True)):
        cursor = max(cursor, start)  # a group's credits are contiguous: the cursor only moves on
        while unapplied[credit] > 0 and cursor < end:
            taken = min(unapplied[credit], open_cents[cursor])
            if taken:
                applied.append((cursor, credit, taken))
                open_cents[cursor] -= taken
                unapplied[credit] -= taken
            if open_cents[cursor] == 0:
                cursor += 1
    positions = np.array(applied, dtype=np.int64).reshape(-1, 3)
    frame = pd.DataFrame({
        "invoice": invoices.index.to_numpy()[positions[:, 0]],
        "credit": credits.index.to_numpy()[positions[:, 1]],
        "cents": positions[:, 2],
    })  # fmt: skip
    return _Allocation(
        frame,
        pd.Series(open_cents, index=invoices.index),
        pd.Series(unapplied, index=credits.index),
    )


@dataclass(frozen=True, eq=False)
class _Matching:
    settlements: pd.DataFrame  # payment_id, invoice_id, paid_date, cents, rule, row
    reductions: pd.Series  # cents taken off each invoice (by invoice_id) by lettered credit notes
    unapplied_payments: pd.DataFrame  # payment lines with cents left over: customer_id, cents
    unapplied_credit_notes: int  # lettered credit notes larger than their group's invoices
    reducing_credit_notes: int  # lettered credit notes that reduced an invoice
    ignored_credit_notes: pd.DataFrame  # unlettered credit notes: nothing says what they reduce


def _match_settlements(book: _CustomerBook) -> _Matching:
    """Lettered credit notes reduce their group's invoices, lettered payments settle the rest of
    the group, and the other payments settle each customer's unlettered invoices FIFO."""
    parts, credits = book.parts, book.credits
    is_note, has_letter = credits["kind"] == "credit_note", credits["letter"] != ""
    lettered = parts[parts["letter"] != ""].rename(columns={"lettering_group": "group"})
    lettered = lettered.assign(open=lettered["cents"])
    by_group = credits.rename(columns={"lettering_group": "group"})
    reduced = _allocate(lettered, by_group[is_note & has_letter])
    lettered = lettered.assign(open=reduced.still_open)
    by_lettering = _allocate(lettered, by_group[~is_note & has_letter])
    unlettered = parts[parts["letter"] == ""]
    unlettered = unlettered.assign(group=unlettered["customer_id"], open=unlettered["cents"])
    fifo_credits = credits[~is_note & ~has_letter]
    by_fifo = _allocate(unlettered, fifo_credits.assign(group=fifo_credits["customer_id"]))
    settlements = pd.concat(
        [_settlements(by_lettering, lettered, credits), _settlements(by_fifo, unlettered, credits)],
        ignore_index=True,
    )
    reduction_cents = reduced.applied["cents"].to_numpy()
    reduced_invoices = lettered.loc[reduced.applied["invoice"], "invoice_id"].to_numpy()
    left_over = pd.concat([by_lettering.unapplied, by_fifo.unapplied])
    left_over = left_over[left_over > 0]
    return _Matching(
        settlements=settlements,
        reductions=pd.Series(reduction_cents).groupby(reduced_invoices).sum(),
        unapplied_payments=credits.loc[left_over.index, ["customer_id"]].assign(cents=left_over),
        unapplied_credit_notes=int((reduced.unapplied > 0).sum()),
        reducing_credit_notes=int(reduced.applied["credit"].nunique()),
        ignored_credit_notes=credits[is_note & ~has_letter],
    )


def _settlements(
    allocation: _Allocation, invoices: pd.DataFrame, credits: pd.DataFrame
) -> pd.DataFrame:
    paying = credits.loc[allocation.applied["credit"]]
    return pd.DataFrame({
        "payment_id": paying["payment_id"].to_numpy(),
        "invoice_id": invoices.loc[allocation.applied["invoice"], "invoice_id"].to_numpy(),
        "paid_date": paying["paid_date"].to_numpy(),
        "cents": allocation.applied["cents"].to_numpy(),
        "rule": paying["rule"].to_numpy(),
        "row": paying["row"].to_numpy(),
    })  # fmt: skip


# ---- canonical tables and notes ---------------------------------------------------------------

_DTYPES = {"string": "string", "date": "datetime64[s]", "float": "float64", "int": "Int64",
           "bool": "boolean"}  # fmt: skip


def _canonical(spec: TableSpec, columns: Mapping[str, Any], rows: np.ndarray) -> pd.DataFrame:
    """Every column of the spec, typed; those a FEC does not know are empty or their default."""
    data: dict[str, pd.Series] = {}
    for spec_field in spec.fields:
        values = columns.get(spec_field.name)
        if values is None:
            values = [spec_field.default] * len(rows)
        data[spec_field.name] = pd.Series(np.asarray(values), dtype=_DTYPES[spec_field.kind])
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(rows)))
    frame[ROW] = np.asarray(rows, dtype=np.int64)
    return frame


def _customer_table(lines: pd.DataFrame) -> pd.DataFrame:
    first_rows = lines.groupby("customer_id")["row"].min().sort_values()
    named = lines[lines["customer_name"] != ""]
    names = named.groupby("customer_id")["customer_name"].last()  # the latest label wins
    return _canonical(
        CUSTOMER,
        {"customer_id": first_rows.index, "name": names.reindex(first_rows.index)},
        first_rows.to_numpy(),
    )


def _invoice_table(invoices: pd.DataFrame) -> pd.DataFrame:
    invoices = invoices.sort_values("row")
    return _canonical(
        INVOICE,
        {
            "invoice_id": invoices["invoice_id"], "customer_id": invoices["customer_id"],
            "issue_date": invoices["issue_date"], "due_date": invoices["due_date"],
            "amount": invoices["cents"] / 100,
        },
        invoices["row"].to_numpy(),
    )  # fmt: skip


def _payment_table(settlements: pd.DataFrame) -> pd.DataFrame:
    settlements = settlements.sort_values(["row", "paid_date", "invoice_id"])
    return _canonical(
        PAYMENT,
        {
            "payment_id": settlements["payment_id"], "invoice_id": settlements["invoice_id"],
            "paid_date": settlements["paid_date"], "amount": settlements["cents"] / 100,
            "match_rule": settlements["rule"],
        },
        settlements["row"].to_numpy(),
    )  # fmt: skip


def _fec_ledger(
    book: _CustomerBook,
    matching: _Matching,
    source: str,
    sha256: str,
    due_column: str | None,
    default_terms_days: int,
) -> FecLedger:
    invoices = book.invoices
    reduced_by = invoices["invoice_id"].map(matching.reductions).fillna(0).astype(np.int64)
    invoices = invoices.assign(cents=invoices["cents"] - reduced_by, reduced=reduced_by > 0)
    cancelled = invoices["cents"] <= 0
    kept = invoices[~cancelled]
    rules = ("lettering", "lettering_bank_date", "fifo")
    by_rule = {rule: int((matching.settlements["rule"] == rule).sum()) for rule in rules}
    notes = [
        _settlement_note(by_rule, matching),
        *_credit_note_notes(book, matching, kept, int(cancelled.sum())),
        *_invoice_notes(book, kept, due_column, default_terms_days),
    ]
    return FecLedger(
        source=source,
        sha256=sha256,
        customer=_customer_table(book.lines),
        invoice=_invoice_table(kept),
        payment=_payment_table(matching.settlements),
        settlements_by_rule=by_rule,
        ignored_credit_notes=len(matching.ignored_credit_notes),
        unapplied_amount=float(matching.unapplied_payments["cents"].sum()) / 100,
        notes=tuple(notes),
    )


def _settlement_note(by_rule: Mapping[str, int], matching: _Matching) -> str:
    lettered = by_rule["lettering"] + by_rule["lettering_bank_date"]
    note = (
        f"{lettered} settlements from lettering ({by_rule['lettering_bank_date']} of them dated "
        f"by the bank line, DateLet being empty), {by_rule['fifo']} from FIFO (unlettered "
        "payments applied to the customer's oldest unlettered invoices)"
    )
    unapplied = matching.unapplied_payments
    if len(unapplied):
        note += (
            f"; {_euros(unapplied['cents'].sum())} EUR of payments left unapplied "
            f"on {len(unapplied)} payment lines of {unapplied['customer_id'].nunique()} "
            "customers (more than the invoices they could settle; no invoice is invented)"
        )
    return note


def _credit_note_notes(
    book: _CustomerBook, matching: _Matching, invoices: pd.DataFrame, cancelled: int
) -> list[str]:
    if not book.sales_journals:
        return []
    notes = [f"customer credits in the sales journals ({', '.join(book.sales_journals)}) are "
             "credit notes"]  # fmt: skip
    if matching.reducing_credit_notes:
        notes.append(
            f"{matching.reducing_credit_notes} lettered credit notes reduced "
            f"{int(invoices['reduced'].sum()) + cancelled} invoices, {cancelled} of them fully "
            "cancelled and left out"
        )
    if matching.unapplied_credit_notes:
        notes.append(f"{matching.unapplied_credit_notes} lettered credit notes exceed the "
                     "invoices of their lettering group; the excess is ignored")  # fmt: skip
    ignored = matching.ignored_credit_notes
    if len(ignored):
        total = _euros(ignored["cents"].sum())
        notes.append(f"{len(ignored)} unlettered credit notes ignored ({total} EUR): nothing "
                     "says which invoice they reduce")  # fmt: skip
    return notes


def _invoice_notes(
    book: _CustomerBook, invoices: pd.DataFrame, due_column: str | None, default_terms_days: int
) -> list[str]:
    if book.lines.empty:
        accounts = ", ".join(f"{prefix}…" for prefix in book.account_prefixes)
        return [f"no line on customer accounts ({accounts}): is customer_accounts right?"]
    notes = []
    carried_over = int(invoices["opening"].sum())
    if carried_over:
        notes.append(f"{carried_over} invoices carried over from opening entries (à-nouveaux), "
                     "dated at their PieceDate when it is given")  # fmt: skip
    terms = f"issue date + {default_terms_days} days"
    if due_column is None:
        notes.append(f"the FEC has no due-date column: every due date is the {terms}")
    else:
        without = int(invoices["due_from_terms"].sum())
        tail = f"; {without} invoices without one are due at the {terms}" if without else ""
        notes.append(f"due dates from the column {due_column}{tail}")
    zero = int((book.lines["kind"] == "zero").sum())
    if zero:
        notes.append(f"{zero} customer-account lines with no amount ignored")
    return notes

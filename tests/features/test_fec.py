"""Importing a FEC: invoices and settlements rebuilt from customer accounts, or a precise refusal.

Every FEC here is written by the test from readable entries (a sale, a bank receipt, a credit
note), so that each expected settlement can be worked out by hand next to the data.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.errors import ImportRejected
from features.importers.fec import import_fec, read_fec
from features.ledger import LedgerStore

TODAY = date(2026, 11, 23)
# Written out rather than imported, so that a typo in the module's list cannot hide here.
STANDARD = [
    "JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib",
    "CompAuxNum", "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit",
    "EcritureLet", "DateLet", "ValidDate", "Montantdevise", "Idevise",
]  # fmt: skip
JOURNALS = {"VT": "Journal des ventes", "BQ": "Banque", "AN": "A-nouveaux"}
ACCOUNTS = {
    "411000": "Clients", "706000": "Prestations de services", "512000": "Banque",
    "890000": "Bilan d'ouverture", "411DUP": "Dupont SA", "411MAR": "Martin SARL",
}  # fmt: skip
CUSTOMERS = {
    "C001": "Dupont SA", "C002": "Martin SARL", "C010": "Bernard & Fils", "C011": "Petit SAS",
    "C012": "Roux Industrie", "C020": "Société Générale d'Équipement",
    "C021": "Crêperie Bretonne", "C030": "Lefèvre", "C031": "Morel", "C032": "Fournier",
}  # fmt: skip

Line = dict[str, str]


# ---- writing FEC files -------------------------------------------------------------------------


def line(
    journal: str,
    number: str,
    day: str,
    account: str,
    *,
    customer: str = "",
    piece: str = "",
    piece_day: str | None = None,
    label: str = "",
    debit: float = 0.0,
    credit: float = 0.0,
    letter: str = "",
    letter_day: str = "",
    due_day: str = "",
) -> Line:
    """One FEC line; days are written ISO here and YYYYMMDD in the file.

    piece_day: None for the entry's own day, "" for an empty PieceDate.
    """
    compact = {"day": day.replace("-", ""), "piece_day": (piece_day or day).replace("-", "")}
    return {
        "JournalCode": journal, "JournalLib": JOURNALS[journal], "EcritureNum": number,
        "EcritureDate": compact["day"], "CompteNum": account, "CompteLib": ACCOUNTS[account],
        "CompAuxNum": customer, "CompAuxLib": CUSTOMERS.get(customer, ""), "PieceRef": piece,
        "PieceDate": compact["piece_day"] if piece_day != "" else "", "EcritureLib": label,
        "Debit": money(debit), "Credit": money(credit), "EcritureLet": letter,
        "DateLet": letter_day.replace("-", ""), "ValidDate": compact["day"],
        "Montantdevise": "", "Idevise": "", "DateEcheance": due_day.replace("-", ""),
    }  # fmt: skip


def money(amount: float) -> str:
    return f"{amount:.2f}".replace(".", ",")


def sale(
    number: str,
    day: str,
    customer: str,
    piece: str,
    amount: float,
    *,
    letter: str = "",
    letter_day: str = "",
    due_day: str = "",
) -> list[Line]:
    """An invoice: the customer's account is debited, revenue credited."""
    return [
        line("VT", number, day, "411000", customer=customer, piece=piece, label=f"Facture {piece}",
             debit=amount, letter=letter, letter_day=letter_day, due_day=due_day),
        line("VT", number, day, "706000", piece=piece, label=f"Facture {piece}", credit=amount),
    ]  # fmt: skip


def receipt(
    number: str, day: str, customer: str, amount: float, *, letter: str = "", letter_day: str = ""
) -> list[Line]:
    """A bank transfer from the customer: the bank is debited, the customer's account credited."""
    return [
        line("BQ", number, day, "512000", piece=f"REL{number}", label="Virement", debit=amount),
        line("BQ", number, day, "411000", customer=customer, piece=f"REL{number}",
             label=f"Virement {CUSTOMERS[customer]}", credit=amount, letter=letter,
             letter_day=letter_day),
    ]  # fmt: skip


def credit_note(
    number: str, day: str, customer: str, piece: str, amount: float, *, letter: str = ""
) -> list[Line]:
    """A credit note, booked in the sales journal: revenue debited, the customer credited."""
    return [
        line("VT", number, day, "706000", piece=piece, label=f"Avoir n° {piece} – remise",
             debit=amount),
        line("VT", number, day, "411000", customer=customer, piece=piece,
             label=f"Avoir n° {piece} – remise", credit=amount, letter=letter),
    ]  # fmt: skip


def write_fec(
    path: Path,
    lines: Iterable[Line],
    *,
    separator: str = "\t",
    header: Sequence[str] = STANDARD,
    trailing: str = "",
    encoding: str = "utf-8",
    newline: str = "\n",
    decimal: str = ",",
    blank_zero: bool = False,
) -> Path:
    """trailing: what ends every line ("" or the separator), header line included or not."""
    rows = [[*header]]
    for fields in lines:
        values = [fields.get(column, "") for column in header]
        if blank_zero:
            values = ["" if v == "0,00" else v for v in values]
        rows.append([v.replace(",", decimal) if v[:1].isdigit() else v for v in values])
    text = "".join(separator.join(row) + trailing + newline for row in rows)
    path.write_bytes(text.encode(encoding))
    return path


def line_number(lines: Sequence[Line], journal: str, number: str, account: str) -> int:
    """The file line of an entry's first line on an account (the header is line 1)."""
    for position, fields in enumerate(lines, start=2):
        if (fields["JournalCode"], fields["EcritureNum"], fields["CompteNum"]) == (
            journal, number, account
        ):  # fmt: skip
            return position
    raise AssertionError(f"no line {journal} {number} {account}")


# ---- reading the store -------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterable[LedgerStore]:
    ledger = LedgerStore.open("sqlite:///" + str(tmp_path / "ledger.db"))
    yield ledger
    ledger.close()


def settlements(store: LedgerStore) -> set[tuple[str, str, date, float, str]]:
    payments = store.read("payment")
    return set(zip(payments["payment_id"], payments["invoice_id"], payments["paid_date"].dt.date,
                   payments["amount"], payments["match_rule"], strict=True))  # fmt: skip


def invoices(store: LedgerStore) -> set[tuple[str, str, date, date, float]]:
    stored = store.read("invoice")
    return set(zip(stored["invoice_id"], stored["customer_id"], stored["issue_date"].dt.date,
                   stored["due_date"].dt.date, stored["amount"], strict=True))  # fmt: skip


def assert_unchanged(before: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame]) -> None:
    assert before.keys() == after.keys()
    for table in before:
        pd.testing.assert_frame_equal(before[table], after[table], obj=table)


def d(text: str) -> date:
    return date.fromisoformat(text)


def plus_days(text: str, days: int) -> date:
    return d(text) + timedelta(days=days)


# ---- (1) lettering -----------------------------------------------------------------------------


def lettered_book() -> list[Line]:
    """Dupont (C001) and Martin (C002): every payment lettered with the invoices it settled."""
    # F001 is one invoice booked as two instalment lines on the customer account (700 + 500).
    f001 = [
        line("VT", "1", "2026-01-10", "411000", customer="C001", piece="F001", debit=700.0,
             letter="AA", letter_day="2026-02-20"),
        line("VT", "1", "2026-01-10", "411000", customer="C001", piece="F001", debit=500.0,
             letter="AA", letter_day="2026-02-20"),
        line("VT", "1", "2026-01-10", "706000", piece="F001", credit=1200.0),
    ]  # fmt: skip
    return [
        *f001,
        *sale("2", "2026-01-20", "C001", "F002", 500.0, letter="AB"),
        *sale("3", "2026-01-25", "C001", "F003", 300.0, letter="AB"),
        *sale("4", "2026-02-01", "C002", "F004", 1000.0, letter="AC", letter_day="2026-03-12"),
        *sale("5", "2026-02-05", "C002", "F005", 600.0, letter="AD", letter_day="2026-03-21"),
        # Booked after F005 but dated before it: it is the older of the two.
        *sale("6", "2026-02-03", "C002", "F006", 250.0, letter="AD", letter_day="2026-03-21"),
        *receipt("101", "2026-02-15", "C001", 1200.0, letter="AA", letter_day="2026-02-20"),
        # Group AB has no DateLet anywhere: the bank line's date is the payment date.
        *receipt("102", "2026-03-01", "C001", 800.0, letter="AB"),
        # Partial lettering: 400 of F004's 1000, the rest stays open.
        *receipt("103", "2026-03-10", "C002", 400.0, letter="AC", letter_day="2026-03-12"),
        *receipt("104", "2026-03-20", "C002", 700.0, letter="AD", letter_day="2026-03-21"),
    ]


def test_lettering_rebuilds_invoices_and_payment_dates(tmp_path: Path, store: LedgerStore) -> None:
    book = lettered_book()
    path = write_fec(tmp_path / "fec.txt", book, separator="|", trailing="|", newline="\r\n")

    report = import_fec(store, path, today=TODAY)

    assert invoices(store) == {
        # F001 = 700 + 500 (two lines of the same piece); due = issue + 30 days by default.
        ("F001", "C001", d("2026-01-10"), d("2026-02-09"), 1200.0),
        ("F002", "C001", d("2026-01-20"), d("2026-02-19"), 500.0),
        ("F003", "C001", d("2026-01-25"), d("2026-02-24"), 300.0),
        ("F004", "C002", d("2026-02-01"), d("2026-03-03"), 1000.0),
        ("F005", "C002", d("2026-02-05"), d("2026-03-07"), 600.0),
        ("F006", "C002", d("2026-02-03"), d("2026-03-05"), 250.0),
    }
    assert settlements(store) == {
        # Group AA: 1200 settles F001 (700 + 500) in full, on DateLet.
        ("BQ-101", "F001", d("2026-02-20"), 1200.0, "lettering"),
        # Group AB, no DateLet: 800 = 500 for F002 (older) + 300 for F003, on the bank date.
        ("BQ-102", "F002", d("2026-03-01"), 500.0, "lettering_bank_date"),
        ("BQ-102", "F003", d("2026-03-01"), 300.0, "lettering_bank_date"),
        # Group AC: a partial payment, 400 of 1000.
        ("BQ-103", "F004", d("2026-03-12"), 400.0, "lettering"),
        # Group AD: 700 = 250 for F006 (issued 3 Feb, older) + 450 of F005's 600 (issued 5 Feb).
        ("BQ-104", "F006", d("2026-03-21"), 250.0, "lettering"),
        ("BQ-104", "F005", d("2026-03-21"), 450.0, "lettering"),
    }
    customers = store.read("customer").set_index("customer_id")["name"].to_dict()
    assert customers == {"C001": "Dupont SA", "C002": "Martin SARL"}
    assert report.rows_added == {"customer": 2, "invoice": 6, "payment": 6}
    assert any("6 settlements from lettering (2 of them dated by the bank line" in n
               for n in report.notes)  # fmt: skip
    assert any("no due-date column" in note for note in report.notes)


def test_rows_point_to_the_fec_lines_of_the_entries(tmp_path: Path) -> None:
    book = lettered_book()
    ledger = read_fec(write_fec(tmp_path / "fec.txt", book, separator="|", trailing="|"))

    invoice_rows = ledger.invoice.set_index("invoice_id")["_row"]
    assert invoice_rows["F001"] == line_number(book, "VT", "1", "411000")
    assert invoice_rows["F006"] == line_number(book, "VT", "6", "411000")
    payment_rows = ledger.payment.set_index(["payment_id", "invoice_id"])["_row"]
    assert payment_rows["BQ-104", "F005"] == line_number(book, "BQ", "104", "411000")
    assert ledger.settlements_by_rule == {"lettering": 4, "lettering_bank_date": 2, "fifo": 0}


def test_a_trailing_separator_on_entry_lines_only_is_tolerated(tmp_path: Path) -> None:
    book = lettered_book()
    plain = read_fec(write_fec(tmp_path / "plain.txt", book, separator="|"))
    path = tmp_path / "trailing.txt"
    lines = write_fec(path, book, separator="|").read_text().splitlines()
    path.write_text("\n".join([lines[0], *[f"{entry}|" for entry in lines[1:]]]) + "\n")

    trailing = read_fec(path)

    for table in ("customer", "invoice", "payment"):
        pd.testing.assert_frame_equal(plain.tables[table], trailing.tables[table])


def test_iso_dates_and_decimal_points_read_the_same(tmp_path: Path) -> None:
    book = lettered_book()
    usual = read_fec(write_fec(tmp_path / "usual.txt", book))
    path = write_fec(tmp_path / "iso.txt", book, decimal=".")
    path.write_text(re.sub(r"\b(\d{4})(\d{2})(\d{2})\b", r"\1-\2-\3", path.read_text()))
    assert "2026-01-10" in path.read_text()

    iso = read_fec(path)

    for table in ("customer", "invoice", "payment"):
        pd.testing.assert_frame_equal(usual.tables[table], iso.tables[table])


# ---- (2) first in, first out -------------------------------------------------------------------


def unlettered_book() -> list[Line]:
    """Bernard (C010) pays without lettering; a cheque remittance pays Petit and Roux at once."""
    remittance = [
        line("BQ", "204", "2026-03-20", "512000", piece="REM204", debit=900.0),
        line("BQ", "204", "2026-03-20", "411000", customer="C011", piece="REM204", credit=600.0),
        line("BQ", "204", "2026-03-20", "411000", customer="C012", piece="REM204", credit=300.0),
    ]
    return [
        *sale("11", "2026-01-05", "C010", "F101", 300.0, due_day="2026-01-31"),
        *sale("12", "2026-01-20", "C010", "F102", 500.0, due_day="2026-02-28"),
        *sale("13", "2026-02-10", "C010", "F103", 200.0, due_day="2026-03-10"),
        *sale("14", "2026-02-10", "C010", "F100", 150.0, due_day="2026-03-10"),
        *sale("15", "2026-03-01", "C011", "F110", 600.0, due_day="2026-03-31"),
        *sale("16", "2026-03-02", "C012", "F120", 1000.0),  # no due date on its line
        # Booked out of date order: FIFO follows the payment dates, not the file.
        *receipt("202", "2026-03-01", "C010", 500.0),
        *receipt("201", "2026-02-01", "C010", 400.0),
        *receipt("203", "2026-03-15", "C010", 400.0),
        *remittance,
    ]


def test_fifo_settles_the_oldest_open_invoices_first(tmp_path: Path, store: LedgerStore) -> None:
    path = write_fec(tmp_path / "fec.txt", unlettered_book(), separator="\t", decimal=".",
                     header=[*STANDARD, "DateEcheance"], blank_zero=True)  # fmt: skip

    report = import_fec(store, path, today=TODAY, default_terms_days=45)

    assert settlements(store) == {
        # Open, oldest first: F101 300 (5 Jan), F102 500 (20 Jan), then on 10 Feb F100 150
        # before F103 200 (same day: by invoice id).
        # BQ-201, 400 on 1 Feb: F101 300 in full, 100 of F102 (400 left).
        ("BQ-201", "F101", d("2026-02-01"), 300.0, "fifo"),
        ("BQ-201", "F102", d("2026-02-01"), 100.0, "fifo"),
        # BQ-202, 500 on 1 Mar: F102's last 400, 100 of F100 (50 left).
        ("BQ-202", "F102", d("2026-03-01"), 400.0, "fifo"),
        ("BQ-202", "F100", d("2026-03-01"), 100.0, "fifo"),
        # BQ-203, 400 on 15 Mar: F100's last 50, F103's 200; 400 - 250 = 150 unapplied.
        ("BQ-203", "F100", d("2026-03-15"), 50.0, "fifo"),
        ("BQ-203", "F103", d("2026-03-15"), 200.0, "fifo"),
        # One remittance entry, two customer lines: one payment id per line.
        ("BQ-204-1", "F110", d("2026-03-20"), 600.0, "fifo"),
        ("BQ-204-2", "F120", d("2026-03-20"), 300.0, "fifo"),
    }
    due_dates = store.read("invoice").set_index("invoice_id")["due_date"].dt.date.to_dict()
    assert due_dates["F101"] == d("2026-01-31")  # from the DateEcheance column
    assert due_dates["F120"] == plus_days("2026-03-02", 45)  # none given: default terms
    assert any("150.00 EUR of payments left unapplied" in note for note in report.notes)
    assert any("DateEcheance" in note and "1 invoices without one" in note
               for note in report.notes)  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(
    invoice_cents=st.lists(st.integers(1, 100_000), min_size=1, max_size=8),
    payment_cents=st.lists(st.integers(1, 100_000), min_size=1, max_size=8),
)
def test_fifo_never_overpays_and_leaves_at_most_one_invoice_partly_paid(
    invoice_cents: list[int], payment_cents: list[int]
) -> None:
    book = []
    for i, cents in enumerate(invoice_cents):
        book += sale(str(i + 1), f"2026-01-{i + 1:02d}", "C010", f"F{i:03d}", cents / 100)
    for i, cents in enumerate(payment_cents):
        book += receipt(str(100 + i), f"2026-02-{i + 1:02d}", "C010", cents / 100)
    with tempfile.TemporaryDirectory() as folder:
        ledger = read_fec(write_fec(Path(folder) / "fec.txt", book))

    paid = ledger.payment.groupby("invoice_id")["amount"].sum()
    paid_cents = [round(paid.get(f"F{i:03d}", 0.0) * 100) for i in range(len(invoice_cents))]
    assert sum(paid_cents) == min(sum(invoice_cents), sum(payment_cents))
    # Invoices are dated in id order, so FIFO pays a prefix of them: full, then one partly.
    full = [p == c for p, c in zip(paid_cents, invoice_cents, strict=True)]
    untouched = [p == 0 for p in paid_cents]
    first_unpaid = full.index(False) if False in full else len(full)
    assert all(full[:first_unpaid])
    assert all(untouched[first_unpaid + 1 :])


# ---- (3) credit notes and opening entries -------------------------------------------------------


def test_credit_notes_reduce_or_cancel_their_lettered_invoices(
    tmp_path: Path, store: LedgerStore
) -> None:
    book = [
        *sale("21", "2026-01-10", "C020", "F301", 1000.0, letter="CA"),
        *credit_note("22", "2026-01-15", "C020", "AV301", 200.0, letter="CA"),
        *receipt("301", "2026-02-10", "C020", 800.0, letter="CA", letter_day="2026-02-12"),
        *sale("23", "2026-01-20", "C020", "F302", 500.0, letter="CB"),
        *credit_note("24", "2026-01-22", "C020", "AV302", 500.0, letter="CB"),
        *sale("25", "2026-01-25", "C021", "F303", 400.0),
        *credit_note("26", "2026-01-28", "C021", "AV303", 100.0),  # unlettered
        *receipt("302", "2026-02-27", "C021", 400.0),
    ]
    path = write_fec(tmp_path / "fec.txt", book, encoding="cp1252")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # really Windows-1252, not UTF-8 in disguise

    report = import_fec(store, path, today=TODAY)

    assert invoices(store) == {
        # F301: 1000 - 200 (AV301, lettered with it) = 800; F302 - AV302 = 0: left out.
        ("F301", "C020", d("2026-01-10"), d("2026-02-09"), 800.0),
        # F303 keeps its 400: AV303 is lettered with nothing, so it reduces nothing.
        ("F303", "C021", d("2026-01-25"), d("2026-02-24"), 400.0),
    }
    assert settlements(store) == {
        ("BQ-301", "F301", d("2026-02-12"), 800.0, "lettering"),  # settles the reduced 800
        ("BQ-302", "F303", d("2026-02-27"), 400.0, "fifo"),  # AV303 not being a payment
    }
    names = store.read("customer").set_index("customer_id")["name"].to_dict()
    assert names["C020"] == "Société Générale d'Équipement"
    assert any("1 unlettered credit notes ignored (100.00 EUR)" in n for n in report.notes)
    assert any("2 invoices, 1 of them fully cancelled" in note for note in report.notes)


def test_opening_entries_carry_invoices_over_at_their_piece_date(tmp_path: Path) -> None:
    opening = [
        line("AN", "1", "2026-01-01", "411000", customer="C030", piece="F2025-88",
             piece_day="2025-11-30", label="Report à nouveau", debit=700.0),
        line("AN", "1", "2026-01-01", "411000", customer="C031", piece_day="",
             label="Report à nouveau", debit=200.0),
        line("AN", "1", "2026-01-01", "411000", customer="C032", piece_day="",
             label="Report à nouveau", debit=100.0),
        line("AN", "1", "2026-01-01", "890000", piece_day="", credit=1000.0),
    ]  # fmt: skip
    book = [*opening, *receipt("401", "2026-01-15", "C030", 700.0)]

    ledger = read_fec(write_fec(tmp_path / "fec.txt", book))

    issued = ledger.invoice.set_index("invoice_id")[["customer_id", "issue_date", "amount"]]
    assert {(i, c, t.date(), a) for i, (c, t, a) in issued.iterrows()} == {
        ("F2025-88", "C030", d("2025-11-30"), 700.0),  # dated at its PieceDate
        # No PieceRef: the entry's id, told apart per customer since the entry holds several.
        ("AN-1/C031", "C031", d("2026-01-01"), 200.0),
        ("AN-1/C032", "C032", d("2026-01-01"), 100.0),
    }
    assert set(ledger.payment["invoice_id"]) == {"F2025-88"}
    assert any("3 invoices carried over from opening entries" in n for n in ledger.notes)


def test_without_auxiliary_accounts_the_account_is_the_customer(tmp_path: Path) -> None:
    book = [
        line("VT", "1", "2026-01-10", "411DUP", piece="F001", debit=100.0),
        line("VT", "1", "2026-01-10", "706000", piece="F001", credit=100.0),
        line("VT", "2", "2026-01-11", "411MAR", piece="F002", debit=200.0),
        line("VT", "2", "2026-01-11", "706000", piece="F002", credit=200.0),
    ]
    path = write_fec(tmp_path / "fec.txt", book)

    customers = read_fec(path).customer.set_index("customer_id")["name"].to_dict()
    only_dupont = read_fec(path, customer_accounts="411DUP")
    nobody = read_fec(path, customer_accounts="416")

    assert customers == {"411DUP": "Dupont SA", "411MAR": "Martin SARL"}  # CompteNum, CompteLib
    assert set(only_dupont.invoice["invoice_id"]) == {"F001"}
    assert nobody.invoice.empty
    assert any("no line on customer accounts (416…)" in note for note in nobody.notes)


# ---- (4) refused input -------------------------------------------------------------------------


def small_book() -> list[Line]:
    return [*sale("1", "2026-01-10", "C001", "F001", 100.0),
            *receipt("101", "2026-02-01", "C001", 100.0)]  # fmt: skip


def with_field(lines: list[Line], index: int, column: str, value: str) -> list[Line]:
    changed = [dict(fields) for fields in lines]
    changed[index][column] = value
    return changed


def truncated(path: Path) -> None:
    write_fec(path, small_book())
    path.write_bytes(path.read_bytes()[:-40])  # cut in the middle of the last line


def wrong_separator(path: Path) -> None:
    write_fec(path, small_book(), separator=";")


def value_after_trailing_separator(path: Path) -> None:
    header, first, *others = (
        write_fec(path, small_book(), separator="|", trailing="|").read_text().splitlines()
    )
    path.write_text("\n".join([header, first + "oops", *others]) + "\n")


BAD_FILES = {
    # case: (how to write it, expected row, expected field, words of the message)
    "missing column": (
        lambda p: write_fec(p, small_book(), header=[c for c in STANDARD if c != "EcritureLet"]),
        1, "EcritureLet", "standard FEC column is missing"),
    "misspelled column": (
        lambda p: p.write_text(write_fec(p, small_book()).read_text().replace(
            "EcritureDate", "EcritureDat", 1)),
        1, "EcritureDate", "'EcritureDat' is not it"),
    "unbalanced entry": (
        lambda p: write_fec(p, with_field(small_book(), 1, "Credit", "90,00")),
        2, "EcritureNum", "entry 1 of journal VT, which starts on this line, is not balanced"),
    "bad date": (
        lambda p: write_fec(p, with_field(small_book(), 2, "EcritureDate", "20261301")),
        4, "EcritureDate", "is not a date"),
    "non-numeric amount": (
        lambda p: write_fec(p, with_field(small_book(), 0, "Debit", "1OO,00")),
        2, "Debit", "is not an amount"),
    "negative amount": (
        lambda p: write_fec(p, with_field(small_book(), 3, "Credit", "-100,00")),
        5, "Credit", "is negative"),
    "debit and credit": (
        lambda p: write_fec(p, with_field(small_book(), 0, "Credit", "100,00")),
        2, "Credit", "a line is a debit or a credit"),
    "truncated file": (truncated, 5, "row", "the file may be cut off"),
    "empty file": (lambda p: p.write_bytes(b""), None, "file", "is empty"),
    "wrong separator": (wrong_separator, 1, "separator", "uses semicolons"),
    "value in the unnamed trailing column": (
        value_after_trailing_separator, 2, "column 19", "has no name in the header"),
    "date after today": (
        lambda p: write_fec(p, [*sale("1", "2027-01-10", "C001", "F009", 100.0)]),
        2, "issue_date", "is in the future"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_input_is_refused_precisely_and_changes_nothing(
    tmp_path: Path, store: LedgerStore, case: str
) -> None:
    import_fec(store, write_fec(tmp_path / "good.txt", lettered_book()), today=TODAY)
    before = store.snapshot()
    write, row, field, words = BAD_FILES[case]
    path = tmp_path / "bad.txt"
    write(path)

    with pytest.raises(ImportRejected) as rejected:
        import_fec(store, path, today=TODAY)

    assert (row, field) in {(problem.row, problem.field) for problem in rejected.value.problems}
    assert words in str(rejected.value)
    assert str(path) in str(rejected.value)
    assert_unchanged(before, store.snapshot())


# ---- (5) idempotence ---------------------------------------------------------------------------


def test_importing_the_same_fec_twice_changes_nothing(tmp_path: Path, store: LedgerStore) -> None:
    path = write_fec(tmp_path / "fec.txt", [*lettered_book(), *unlettered_book()])
    first = import_fec(store, path, today=TODAY)
    after_first = store.snapshot()

    second = import_fec(store, path, today=TODAY)

    assert sum(first.rows_added.values()) > 0
    assert sum(second.rows_added.values()) == 0
    assert sum(second.rows_updated.values()) == 0
    assert_unchanged(after_first, store.snapshot())

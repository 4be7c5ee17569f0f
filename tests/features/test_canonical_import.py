"""Canonical CSV/Parquet import: atomic, idempotent, and precise about bad input."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from features.errors import ConflictingRecord, ImportRejected
from features.importers.canonical import import_canonical
from features.ledger import LedgerStore, Touched
from tests.features.ledger_samples import INVOICES_CSV, write_canonical


def rejected(store: LedgerStore, paths: list[Path], today: date) -> ImportRejected:
    """Import expecting a rejection; check that the store did not change."""
    before = store.snapshot()
    with pytest.raises(ImportRejected) as raised:
        import_canonical(store, paths, today=today)
    after = store.snapshot()
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name])
    return raised.value


def test_a_folder_lands_whole_and_reads_back_typed(store: LedgerStore, tmp_path, today) -> None:
    report = import_canonical(store, [write_canonical(tmp_path / "in")], today=today)
    assert report.rows_added == {"customer": 2, "invoice": 3, "payment": 3}
    invoices = store.read("invoice").set_index("invoice_id")
    assert invoices.loc["F3", "amount"] == 15000.0
    assert invoices.loc["F3", "disputed"]
    assert invoices.loc["F2", "due_date"] == pd.Timestamp("2025-03-12")
    payments = store.read("payment")
    assert payments.loc[payments.invoice_id == "F2", "amount"].sum() == pytest.approx(800.50)
    customers = store.read("customer").set_index("customer_id")
    assert customers.loc["C2", "po_required"]
    assert customers.loc["C1", "name"] == "Dupont Matériaux"


def test_importing_the_same_files_twice_changes_nothing(store, tmp_path, today) -> None:
    folder = write_canonical(tmp_path / "in")
    import_canonical(store, [folder], today=today)
    first = store.snapshot()
    again = import_canonical(store, [folder], today=today)
    assert not again.changed
    for name, frame in store.snapshot().items():
        pd.testing.assert_frame_equal(first[name], frame)


def test_a_stored_invoice_with_other_contents_is_a_conflict_naming_the_field(
    store, tmp_path, today
) -> None:
    import_canonical(store, [write_canonical(tmp_path / "a")], today=today)
    changed = INVOICES_CSV.replace("800.50", "850.50")
    folder = write_canonical(tmp_path / "b", invoices=changed, payments="", customers="")
    error = rejected(store, [folder / "invoices.csv"], today)
    assert isinstance(error, ConflictingRecord)
    assert [(p.row, p.field) for p in error.problems] == [(3, "invoice_id")]
    assert "differs in: amount" in error.problems[0].reason


def test_duplicate_invoice_ids_with_other_contents_in_one_file(store, tmp_path, today) -> None:
    text = INVOICES_CSV + "F1,C1,2025-01-10,2025-02-09,1300.00,EUR,false\n"
    error = rejected(store, [write_canonical(tmp_path, invoices=text)], today)
    assert isinstance(error, ConflictingRecord)
    assert error.problems[0].row == 5
    assert "row 2" in error.problems[0].reason
    assert "amount" in error.problems[0].reason


def test_an_identical_duplicate_row_is_harmless(store, tmp_path, today) -> None:
    text = INVOICES_CSV + "F1,C1,2025-01-10,2025-02-09,1200.00,EUR,false\n"
    report = import_canonical(store, [write_canonical(tmp_path, invoices=text)], today=today)
    assert report.rows_added["invoice"] == 3


@pytest.mark.parametrize(
    ("bad_line", "field", "reason"),
    [
        ("F9,C1,2025-05-01,2025-04-01,100,EUR,false", "due_date", "before issue_date"),
        ("F9,C1,2025-05-01,2025-06-01,-100,EUR,false", "amount", "positive"),
        ("F9,C1,2025-05-01,2025-06-01,douze,EUR,false", "amount", "not a number"),
        ("F9,C1,2025-05-01,2025-06-01,1e15,EUR,false", "amount", "absurdly large"),
        ("F9,C1,2025-05-01,2025-06-01,5e-324,EUR,false", "amount", "less than a cent"),
        ("F9,C1,2025-05-01,2025-06-01,NaN,EUR,false", "amount", "not a number"),
        ("F9,C1,2025-05-01,2025-06-01,inf,EUR,false", "amount", "absurdly large"),
        ("F9,C1,2027-05-01,2027-06-01,100,EUR,false", "issue_date", "future"),
        ("F9,C1,01/05/2025,2025-06-01,100,EUR,false", "issue_date", "YYYY-MM-DD"),
        ("F9,C1,1850-05-01,2025-06-01,100,EUR,false", "issue_date", "out of range"),
        ("F9,C1,2025-05-01,2025-06-01,100,euro,false", "currency", "3-letter"),
        ("F9,C1,2025-05-01,2025-06-01,100,EUR,peut-être", "disputed", "yes/no"),
        (",C1,2025-05-01,2025-06-01,100,EUR,false", "invoice_id", "required"),
        ("F9,C404,2025-05-01,2025-06-01,100,EUR,false", "customer_id", "not in the store"),
    ],
)
def test_a_bad_invoice_row_is_named_and_nothing_lands(
    store, tmp_path, today, bad_line, field, reason
) -> None:
    error = rejected(store, [write_canonical(tmp_path, invoices=INVOICES_CSV + bad_line + "\n")],
                     today)  # fmt: skip
    assert error.problems, error
    problem = error.problems[0]
    assert (problem.row, problem.field) == (5, field)
    assert reason in problem.reason
    assert store.count("customer") == 0  # the good files of the same import did not land either


def test_wrong_siren_checksum_is_refused(store, tmp_path, today) -> None:
    customers = "customer_id,siren,name\nC1,552032535,Dupont\nC2,732829320,Martin\n"
    error = rejected(store, [write_canonical(tmp_path, customers=customers)], today)
    assert (error.problems[0].row, error.problems[0].field) == (2, "siren")
    assert "Luhn" in error.problems[0].reason


def test_payments_above_the_invoice_amount_are_refused(store, tmp_path, today) -> None:
    payments = "payment_id,invoice_id,paid_date,amount\nP1,F1,2025-02-20,1200\nP2,F1,2025-03-01,5\n"
    error = rejected(store, [write_canonical(tmp_path, payments=payments)], today)
    assert "F1" in error.problems[0].reason
    assert "1205.00" in error.problems[0].reason


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"invoice_id,customer_id,issue_date,due_date,amount\n", "no rows"),
        (INVOICES_CSV.encode() + b"F4,C1,2025-03-0", "cut off"),
        # one row written with another separator than the header
        (INVOICES_CSV.encode() + b"F4;C1;2025-03-01;2025-04-01;10;EUR;false\n", "has 1 fields"),
        (INVOICES_CSV.encode("utf-16-le"), "NUL bytes"),
        (b"\x00\x01\x02PK\x03\x04" * 50, "NUL bytes"),
        (b"invoice_id,invoice_id\nF1,F1\n", "twice"),
    ],
)
def test_broken_files_are_refused_with_a_clear_message(
    store, tmp_path, today, content, expected
) -> None:
    write_canonical(tmp_path)
    (tmp_path / "invoices.csv").write_bytes(content)
    error = rejected(store, [tmp_path], today)
    assert expected in str(error)
    assert "invoices.csv" in str(error)


def test_explicit_wrong_separator_names_the_missing_columns(store, tmp_path, today) -> None:
    path = write_canonical(tmp_path) / "invoices.csv"
    with pytest.raises(ImportRejected) as raised:
        import_canonical(store, [path], today=today, separator=";")
    assert "is the separator right?" in str(raised.value)


def test_unknown_encoding_is_refused(store, tmp_path, today) -> None:
    path = write_canonical(tmp_path) / "customers.csv"
    with pytest.raises(ImportRejected, match="unknown encoding 'klingon'"):
        import_canonical(store, [path], today=today, encoding="klingon")


def test_a_semicolon_file_is_detected_as_such(store, tmp_path, today) -> None:
    folder = write_canonical(tmp_path, invoices=INVOICES_CSV.replace(",", ";"))
    assert import_canonical(store, [folder], today=today).rows_added["invoice"] == 3


def test_windows_1252_and_semicolons_are_detected(store, tmp_path, today) -> None:
    text = "customer_id;name\nC1;Société Générale d'Équipement\n"
    (tmp_path / "customers.csv").write_bytes(text.encode("cp1252"))
    import_canonical(store, [tmp_path / "customers.csv"], today=today)
    assert store.read("customer").name.tolist() == ["Société Générale d'Équipement"]


def test_parquet_files_import_like_csv(store, tmp_path, today) -> None:
    folder = write_canonical(tmp_path / "csv")
    import_canonical(store, [folder], today=today)
    expected = store.snapshot()
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    for name in ("customer", "invoice", "payment"):
        store.read(name).to_parquet(parquet / f"{name}s.parquet")
    other = LedgerStore.open(f"sqlite:///{tmp_path / 'other.db'}")
    import_canonical(other, [parquet], today=today)
    for name, frame in other.snapshot().items():
        pd.testing.assert_frame_equal(expected[name], frame)


def test_a_file_whose_name_says_no_table_is_refused(sqlite_store, tmp_path, today) -> None:
    path = tmp_path / "export_2024.csv"
    path.write_text(INVOICES_CSV)
    with pytest.raises(ImportRejected, match="does not name a table"):
        import_canonical(sqlite_store, [path], today=today)


def test_an_update_without_a_field_keeps_the_stored_value(store, tmp_path, today) -> None:
    import_canonical(store, [write_canonical(tmp_path / "a")], today=today)
    renamed = "customer_id,name\nC2,Martin Transports et Fils\n"
    folder = write_canonical(tmp_path / "b", customers=renamed, invoices="", payments="")
    report = import_canonical(store, [folder], today=today)
    assert report.rows_updated["customer"] == 1
    customer = store.read("customer").set_index("customer_id").loc["C2"]
    assert customer["name"] == "Martin Transports et Fils"
    assert customer["po_required"]  # not reset to the default by a file that does not say
    assert customer["preferred_channel"] == "letter"


def test_refiled_accounts_replace_the_stored_ones_whole(store, tmp_path, today) -> None:
    first = "siren,fiscal_year_end,publication_date,revenue,net_income\n" \
        "552032534,2024-12-31,2025-07-15,1000000,50000\n"  # fmt: skip
    refiled = "siren,fiscal_year_end,publication_date,confidential\n" \
        "552032534,2024-12-31,2025-09-01,true\n"  # fmt: skip
    (tmp_path / "financial_statements.csv").write_text(first)
    import_canonical(store, [tmp_path / "financial_statements.csv"], today=today)
    (tmp_path / "financial_statements.csv").write_text(refiled)
    report = import_canonical(store, [tmp_path / "financial_statements.csv"], today=today)
    assert report.rows_updated["financial_statement"] == 1
    statement = store.read("financial_statement").iloc[0]
    assert statement["confidential"]
    assert pd.isna(statement["revenue"])  # the confidential refiling withdrew the figures


def test_every_write_raises_the_ledger_version_and_a_refused_one_does_not(
    store: LedgerStore, tmp_path: Path, today: date
) -> None:
    """Readers that hold the ledger in memory tell from this number whether it changed."""
    start = store.version()
    import_canonical(store, [write_canonical(tmp_path / "first")], today=today)
    written = store.version()
    assert written > start
    rejected(store, [write_canonical(tmp_path / "bad", invoices=INVOICES_CSV + "F9,C1,x\n")],
             today)  # fmt: skip
    assert store.version() == written


@pytest.mark.parametrize("lookup_limit", [1, 20_000], ids=["as-a-large-file", "by-key"])
def test_stored_rows_and_references_are_found_either_way(
    store: LedgerStore,
    tmp_path: Path,
    today: date,
    lookup_limit: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A few rows are looked up by key; a large file is compared with every stored key. Both
    find the same stored rows and the same missing references (the limit between them is
    lowered here so that small files take the large files' way)."""
    import features.ledger

    monkeypatch.setattr(features.ledger, "_LOOKUP_LIMIT", lookup_limit)
    import_canonical(store, [write_canonical(tmp_path / "a")], today=today)
    stored = store.snapshot()
    assert not import_canonical(store, [write_canonical(tmp_path / "again")], today=today).changed
    changed = INVOICES_CSV.replace("800.50", "850.50")
    folder = write_canonical(tmp_path / "b", invoices=changed, payments="", customers="")
    error = rejected(store, [folder / "invoices.csv"], today)
    assert [(p.row, p.field) for p in error.problems] == [(3, "invoice_id")]
    orphan = INVOICES_CSV + "F9,C404,2025-05-01,2025-06-01,100,EUR,false\n"
    folder = write_canonical(tmp_path / "c", invoices=orphan, payments="", customers="")
    error = rejected(store, [folder / "invoices.csv"], today)
    assert [(p.field, p.value) for p in error.problems] == [("customer_id", "C404")]
    for name, frame in store.snapshot().items():
        pd.testing.assert_frame_equal(stored[name], frame)


def test_each_write_keeps_the_subjects_it_touched(
    store: LedgerStore, tmp_path: Path, today: date, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A book held in memory keeps serving the customers and companies no later write
    touched: each write lists them under the version it raised (payments by their invoices'
    customers, a customer by its SIREN before and after), or touches everything when it names
    too many."""
    import features.ledger

    def touched_by(folder: Path) -> Touched:
        before = store.version()
        import_canonical(store, [folder], today=today)
        return store.touched(before, store.version())

    start = store.version()
    assert touched_by(write_canonical(tmp_path / "first")) == Touched(
        frozenset({"C1", "C2"}), frozenset({"552032534", "732829320"})
    )
    payments = "payment_id,invoice_id,paid_date,amount\n"
    paid = write_canonical(tmp_path / "paid", customers="", invoices="",
                           payments=payments + "P4,F3,2025-05-10,100\n")  # fmt: skip
    assert touched_by(paid) == Touched(frozenset({"C2"}))
    moved = write_canonical(tmp_path / "moved", invoices="", payments="", customers=(
        "customer_id,siren,name\nC2,552100554,Martin Transports\n"))  # fmt: skip
    assert touched_by(moved) == Touched(frozenset({"C2"}), frozenset({"732829320", "552100554"}))
    (tmp_path / "accounts").mkdir()
    (tmp_path / "accounts" / "financial_statements.csv").write_text(
        "siren,fiscal_year_end,publication_date,revenue\n552032534,2024-12-31,2025-07-15,1000000\n"
    )
    assert touched_by(tmp_path / "accounts") == Touched(sirens=frozenset({"552032534"}))
    together = write_canonical(tmp_path / "together", customers="",
        invoices="invoice_id,customer_id,issue_date,due_date,amount\nF4,C1,2025-06-01,2025-07-01,50\n",
        payments=payments + "P5,F4,2025-06-20,50\n")  # fmt: skip
    assert touched_by(together) == Touched(frozenset({"C1"}))  # F4 paid as it lands
    assert store.touched(start, store.version()).customers == {"C1", "C2"}

    monkeypatch.setattr(features.ledger, "TOUCH_LIMIT", 1)
    assert touched_by(write_canonical(tmp_path / "again")).everything
    assert store.touched(start, store.version()).everything
    written = store.version()
    rejected(store, [write_canonical(tmp_path / "bad", invoices=INVOICES_CSV + "F9,C1,x\n")],
             today)  # fmt: skip
    assert store.version() == written
    assert store.touched(written, written + 1) == Touched()

"""Any invoice CSV through a column mapping: French exports, US dates, broken mappings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.errors import ImportRejected
from features.importers.mapped import import_mapped_invoices, load_mapping, read_mapped_invoices

FRENCH_EXPORT = (
    "Export ventes du 31/12/2025\n"
    "N° facture;Code client;Raison sociale;SIREN;Date facture;Échéance;Montant TTC;"
    "Date règlement;Litige\n"
    "FA-1;C01;Dupont SAS;552 032 534;05/01/2025;04/02/2025;1 234,50;10/02/2025;non\n"
    "FA-2;C01;Dupont SAS;552 032 534;15/01/2025;14/02/2025;99,90;;oui\n"
    "FA-3;C02;Martin SARL;;20/01/2025;19/02/2025;10,00;01/03/2025;non\n"
)
FRENCH_MAPPING = """
[file]
separator = ";"
decimal = ","
thousands = " "
date_formats = ["DD/MM/YYYY"]
skip_rows = 1

[columns]
invoice_id = "N° facture"
customer_id = "Code client"
customer_name = "Raison sociale"
siren = "SIREN"
issue_date = "Date facture"
due_date = "Échéance"
amount = "Montant TTC"
paid_date = "Date règlement"
disputed = "Litige"
"""
US_EXPORT = (
    "Invoice,Account,Date,Total,Paid on,Paid amount\n"
    'INV-10,ACME,1/5/2025,"1,200.00",2/20/2025,700\n'
    "INV-11,ACME,12/28/2024,300.5,,\n"
)
US_MAPPING = """
[file]
thousands = ","
date_formats = ["M/D/YYYY"]
[columns]
invoice_id = "Invoice"
customer_id = "Account"
issue_date = "Date"
amount = "Total"
paid_date = "Paid on"
paid_amount = "Paid amount"
[defaults]
terms_days = 45
"""


def write(tmp_path: Path, export: str, mapping: str, encoding: str = "utf-8") -> tuple[Path, Path]:
    export_path, mapping_path = tmp_path / "export.csv", tmp_path / "mapping.toml"
    export_path.write_bytes(export.encode(encoding))
    mapping_path.write_text(mapping, encoding="utf-8")
    return export_path, mapping_path


def test_a_french_erp_export_in_windows_1252(store, tmp_path, today) -> None:
    export, mapping = write(tmp_path, FRENCH_EXPORT, FRENCH_MAPPING, encoding="cp1252")
    report = import_mapped_invoices(store, export, mapping, today=today)
    assert report.rows_added == {"customer": 2, "invoice": 3, "payment": 2}
    invoices = store.read("invoice").set_index("invoice_id")
    assert invoices.loc["FA-1", "amount"] == 1234.50
    assert invoices.loc["FA-2", "disputed"]
    assert invoices.loc["FA-3", "issue_date"] == pd.Timestamp("2025-01-20")
    payments = store.read("payment").set_index("invoice_id")
    assert payments.loc["FA-1", "paid_date"] == pd.Timestamp("2025-02-10")
    assert payments.loc["FA-1", "match_rule"] == "export"
    assert "FA-2" not in payments.index  # unpaid
    customers = store.read("customer").set_index("customer_id")
    assert customers.loc["C01", "siren"] == "552032534"
    assert customers.loc["C02", "name"] == "Martin SARL"
    assert not import_mapped_invoices(store, export, mapping, today=today).changed


def test_us_dates_thousands_commas_and_default_terms(store, tmp_path, today) -> None:
    export, mapping = write(tmp_path, US_EXPORT, US_MAPPING)
    report = import_mapped_invoices(store, export, mapping, today=today)
    invoices = store.read("invoice").set_index("invoice_id")
    assert invoices.loc["INV-10", "issue_date"] == pd.Timestamp("2025-01-05")
    assert invoices.loc["INV-10", "due_date"] == pd.Timestamp("2025-02-19")  # + 45 days
    assert invoices.loc["INV-10", "amount"] == 1200.0
    assert store.read("payment").amount.tolist() == [700.0]  # a partial payment
    assert any("issue date + 45 days" in note for note in report.notes)


@pytest.mark.parametrize(
    ("mapping_change", "field", "message"),
    [
        (("skip_rows = 1", "skip_rows = 1\nquote = true"), "file.quote", "Extra inputs"),
        (('invoice_id = "N° facture"\n', ""), "columns.invoice_id", "required"),
        (('["DD/MM/YYYY"]', '["JJ/MM/AAAA"]'), "file.date_formats", "unknown date format"),
        (('decimal = ","', 'decimal = "#"'), "file.decimal", "Input should be"),
        (("[columns]", "[columns"), "toml", "not valid TOML"),
    ],
)
def test_a_broken_mapping_names_the_key(tmp_path, mapping_change, field, message) -> None:
    old, new = mapping_change
    _, mapping = write(tmp_path, FRENCH_EXPORT, FRENCH_MAPPING.replace(old, new))
    with pytest.raises(ImportRejected) as raised:
        load_mapping(mapping)
    assert raised.value.problems[0].field == field
    assert message in raised.value.problems[0].reason


def test_a_mapped_column_missing_from_the_export_lists_its_columns(tmp_path) -> None:
    mapping_text = FRENCH_MAPPING.replace('amount = "Montant TTC"', 'amount = "Total"')
    export, mapping = write(tmp_path, FRENCH_EXPORT, mapping_text)
    with pytest.raises(ImportRejected) as raised:
        read_mapped_invoices(export, load_mapping(mapping))
    problem = raised.value.problems[0]
    assert problem.field == "Total"
    assert "is not in the file" in problem.reason
    assert "Montant TTC" in problem.reason


@pytest.mark.parametrize(
    ("old", "new", "row", "field", "reason"),
    [
        ("05/01/2025;04/02/2025", "2025-01-05;04/02/2025", 3, "issue_date", "DD/MM/YYYY"),
        ("05/01/2025;04/02/2025", "05/01/2025;04/12/2024", 3, "due_date", "before issue_date"),
        ("1 234,50", "-1 234,50", 3, "amount", "positive"),
        ("1 234,50", "12.34.5", 3, "amount", "not a number"),
        ("552 032 534", "552 032 535", 3, "siren", "Luhn"),
        ("10/02/2025;non", "10/02/2027;non", 3, "paid_date", "future"),
        ("15/01/2025;14/02/2025", "15/01/2029;14/02/2029", 4, "issue_date", "future"),
    ],
)
def test_bad_rows_are_named_and_nothing_lands(
    store, tmp_path, today, old, new, row, field, reason
) -> None:
    export, mapping = write(tmp_path, FRENCH_EXPORT.replace(old, new, 1), FRENCH_MAPPING)
    with pytest.raises(ImportRejected) as raised:
        import_mapped_invoices(store, export, mapping, today=today)
    problem = raised.value.problems[0]
    assert (problem.row, problem.field) == (row, field)
    assert reason in problem.reason
    assert store.counts()["invoice"] == 0
    assert store.counts()["customer"] == 0


def test_wrong_separator_in_the_mapping_says_so(store, tmp_path, today) -> None:
    export, mapping = write(tmp_path, FRENCH_EXPORT, FRENCH_MAPPING.replace('";"', '","'))
    with pytest.raises(ImportRejected, match="read as one column with the separator ','"):
        import_mapped_invoices(store, export, mapping, today=today)


def test_the_same_invoice_exported_again_with_another_amount_is_a_conflict(
    store, tmp_path, today
) -> None:
    export, mapping = write(tmp_path, FRENCH_EXPORT, FRENCH_MAPPING)
    import_mapped_invoices(store, export, mapping, today=today)
    export.write_text(FRENCH_EXPORT.replace("99,90", "109,90"), encoding="utf-8")
    with pytest.raises(ImportRejected, match=r"FA-2 is already stored.*differs in: amount"):
        import_mapped_invoices(store, export, mapping, today=today)

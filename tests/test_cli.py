"""The `credit-risk` command as a user runs it: help, imports, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from features.ledger import LedgerStore
from tests.features.ledger_samples import INVOICES_CSV, write_canonical

runner = CliRunner()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_help_explains_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("import", "demo-data", "status"):
        assert command in result.output
    imports = runner.invoke(app, ["import", "--help"])
    for command in ("canonical", "mapped", "fec", "companies", "inpi", "bodacc"):
        assert command in imports.output


def test_canonical_import_reports_what_it_added(tmp_path: Path, database_url: str) -> None:
    folder = write_canonical(tmp_path / "in")
    args = ["import", "canonical", str(folder), "--database-url", database_url]
    first = runner.invoke(app, [*args, "--today", "2026-11-23"])
    assert first.exit_code == 0, first.output
    assert "invoice" in first.output
    again = runner.invoke(app, [*args, "--today", "2026-11-23"])
    assert again.exit_code == 0
    assert "Nothing changed" in again.output
    assert LedgerStore.open(database_url).count("invoice") == 3


def test_a_rejected_import_exits_2_with_the_row_and_no_traceback(
    tmp_path: Path, database_url: str
) -> None:
    bad = INVOICES_CSV + "F9,C1,2025-05-01,2025-04-01,100,EUR,false\n"
    folder = write_canonical(tmp_path / "in", invoices=bad)
    result = runner.invoke(app, ["import", "canonical", str(folder), "--database-url",
                                 database_url, "--today", "2026-11-23"])  # fmt: skip
    assert result.exit_code == 2
    assert "row 5, field 'due_date': is before issue_date" in result.output
    assert "Traceback" not in result.output
    assert LedgerStore.open(database_url).count("invoice") == 0


def test_a_bad_today_option_is_a_usage_error(tmp_path: Path, database_url: str) -> None:
    folder = write_canonical(tmp_path / "in")
    result = runner.invoke(app, ["import", "canonical", str(folder), "--database-url",
                                 database_url, "--today", "yesterday"])  # fmt: skip
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


def test_a_bad_end_date_is_named_and_creates_no_store(tmp_path: Path) -> None:
    database = tmp_path / "never.db"
    result = runner.invoke(app, ["demo-data", "--database-url", f"sqlite:///{database}",
                                 "--end-date", "2026-02-30"])  # fmt: skip
    assert result.exit_code == 2
    assert "--end-date" in result.output
    assert "'2026-02-30' is not a date YYYY-MM-DD" in result.output
    assert not database.exists()


REGISTRY_DATA = Path(__file__).resolve().parent / "features" / "data" / "registry"


@pytest.mark.parametrize(
    ("command", "fixture", "table"),
    [
        ("companies", "company_search_response.json", "company"),
        ("inpi", "inpi_accounts.json", "financial_statement"),
        ("bodacc", "bodacc_notices.json", "legal_event"),
    ],
)
def test_registry_imports_from_the_command_line(
    command: str, fixture: str, table: str, database_url: str
) -> None:
    args = ["import", command, str(REGISTRY_DATA / fixture), "--database-url", database_url,
            "--today", "2026-11-23"]  # fmt: skip
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert LedgerStore.open(database_url).count(table) > 0
    assert "Nothing changed" in runner.invoke(app, args).output

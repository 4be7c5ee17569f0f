"""The analyst's model lifecycle through the command line, on a real MLflow store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from features.demo import generate_portfolio
from features.ledger import LedgerStore
from features.point_in_time import settlement_days

pytestmark = [
    # MLflow's own store and input-example code trigger these deprecations in its internals.
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated"),
    pytest.mark.filterwarnings("ignore:Operation with range is deprecated"),
]
runner = CliRunner()
SHORT = ["--holdout-months", "3", "--validation-months", "3"]


def run(data_dir: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"CREDIT_RISK_DATA_DIR": str(data_dir),
                                                 "COLUMNS": "200"})  # fmt: skip
    return result.exit_code, result.output


def test_train_promote_retrain_and_roll_back(tmp_path: Path) -> None:
    code, _ = run(tmp_path, "demo-data", "--companies", "300", "--years", "3",
                  "--end-date", "2025-12-31")  # fmt: skip
    assert code == 0
    code, output = run(tmp_path, "train", *SHORT)
    assert code == 0, output
    assert "Trained version 1" in output
    assert "oracle" in output  # the demo's true probabilities are a baseline
    assert "as prospects" in output

    code, output = run(tmp_path, "promote")
    assert code == 0, output
    assert "no champion yet" in output
    assert "Version 1 is now the champion" in output

    code, output = run(tmp_path, "train", *SHORT)
    assert code == 0, output
    promoted, output = run(tmp_path, "promote")
    # Version 2 learnt from the same data: promoted, or refused with the failing rule named.
    assert promoted in (0, 1), output
    assert "late_roc_auc: challenger" in output
    if promoted == 1:
        assert "Promotion refused" in output

    code, output = run(tmp_path, "models")
    assert code == 0
    assert "champion" in output

    if promoted == 0:
        code, output = run(tmp_path, "rollback")
        assert code == 0, output
        assert "version 1 is the champion again" in output
    code, output = run(tmp_path, "rollback")
    assert code == 2
    assert "no previous champion" in output


def test_promote_without_a_challenger_says_what_to_do(tmp_path: Path) -> None:
    run(tmp_path, "demo-data", "--companies", "300", "--years", "3", "--end-date", "2025-12-31")
    code, output = run(tmp_path, "promote")
    assert code == 2
    assert "credit-risk train" in output


def test_training_on_a_plain_invoice_export_without_company_data(tmp_path: Path) -> None:
    """A ledger imported from an ERP export alone (no registry data) trains and reports."""
    frames = generate_portfolio(seed=4, companies=300, years=3)
    invoices = frames["invoice"]
    settled = settlement_days(invoices, frames["payment"])
    paid = pd.to_datetime(pd.Series(settled, index=invoices.index).where(settled < 2**22 - 1),
                          unit="D")  # fmt: skip
    export = pd.DataFrame({
        "Invoice": invoices["invoice_id"], "Account": invoices["customer_id"],
        "Date": invoices["issue_date"].dt.strftime("%d/%m/%Y"),
        "Due": invoices["due_date"].dt.strftime("%d/%m/%Y"),
        "Total": invoices["amount"].map(lambda a: f"{a:.2f}".replace(".", ",")),
        "Paid on": paid.dt.strftime("%d/%m/%Y"),
    })  # fmt: skip
    export.to_csv(tmp_path / "export.csv", sep=";", index=False)
    (tmp_path / "mapping.toml").write_text(
        '[file]\nseparator = ";"\ndecimal = ","\ndate_formats = ["DD/MM/YYYY"]\n'
        '[columns]\ninvoice_id = "Invoice"\ncustomer_id = "Account"\nissue_date = "Date"\n'
        'due_date = "Due"\namount = "Total"\npaid_date = "Paid on"\n'
    )
    code, output = run(tmp_path, "import", "mapped", str(tmp_path / "export.csv"),
                       "--mapping", str(tmp_path / "mapping.toml"))  # fmt: skip
    assert code == 0, output
    store = LedgerStore.open(f"sqlite:///{tmp_path / 'credit_risk.db'}")
    assert store.count("company") == 0
    code, output = run(tmp_path, "train", *SHORT)
    assert code == 0, output
    assert "known customers · all · late: ROC-AUC" in output
    assert "oracle" not in output  # no true probabilities outside demo data

"""The analysts' notebooks run from top to bottom on a small demo portfolio."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from typer.testing import CliRunner

from cli import app

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def run_notebook(name: str) -> tuple[str, list[dict[str, object]]]:
    """Execute a notebook in a fresh kernel; return its printed text and all its outputs."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()  # fmt: skip
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"], name
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    return text, outputs


def test_the_notebooks_run_top_to_bottom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """01 trains and promotes a first champion; 02 validates that champion."""
    result = CliRunner().invoke(
        app, ["demo-data", "--companies", "300", "--years", "3", "--end-date", "2025-12-31"],
        env={"CREDIT_RISK_DATA_DIR": str(tmp_path)},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("CREDIT_RISK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOLDOUT_MONTHS", "3")
    monkeypatch.setenv("VALIDATION_MONTHS", "3")
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")  # the kernel's own warnings are not ours
    text, _ = run_notebook("01-retrain.ipynb")
    assert "champion is now version 1" in text
    text, outputs = run_notebook("02-model-validation.ipynb")
    assert "late rate rises with the grade: True" in text
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) >= 5

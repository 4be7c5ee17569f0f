"""The dependency direction of the packages: features <- training, features <- service."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold() -> None:
    linter = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_features_does_not_load_the_heavy_layers() -> None:
    """Importing the data layer must not drag in the web framework or the model registry."""
    code = (
        "import sys, features.ledger, features.importers.canonical, features.cli; "
        "print(sorted(m for m in ('fastapi', 'mlflow', 'training', 'service', 'lightgbm') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


def test_the_terms_policy_and_the_settings_load_without_pandas() -> None:
    """`credit-risk policy check` and notebooks load the policy; pandas alone costs them a
    second of start-up."""
    code = (
        "import sys, service.terms, service.settings, service.cli; "
        "print(sorted(m for m in ('pandas', 'pandera', 'lightgbm', 'fastapi') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"

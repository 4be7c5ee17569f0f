"""`credit-risk policy`: an analyst starts from the shipped policy, edits it and checks it
before the service loads it."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app

SHIPPED = resources.files("service.terms").joinpath("default_policy.toml").read_text("utf-8")


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.delenv("CREDIT_RISK_POLICY_PATH", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    return CliRunner()


def test_the_shipped_policy_is_valid_and_shown_by_grade(runner: CliRunner) -> None:
    result = runner.invoke(app, ["policy", "check", "--on", "2026-03-01"])
    assert result.exit_code == 0, result.output
    assert "default_policy.toml: valid" in result.output
    assert "version 2026.1" in result.output
    assert re.search(
        r"2026-H1 \*\s*│ 2\.15 %\s*│ 2\.62 %\s*│ 7\.86 %\s*│ 12\.15 %\s*│ ECB \+ 10 points",
        result.output,
    )
    assert re.search(r"2024-H1\s*│.*│ 15\.21 %\s*│ the floor", result.output)  # 3 x 5.07
    assert re.search(r"│ E\s*│ 0\s*│ 0 days\s*│ 100 %\s*│ yes", result.output)
    assert "E from 0 EUR: -15 email, -7 email, -2 sms, +1 phone" in result.output
    assert "warning" not in result.output


def test_missing_rates_are_warned_and_fail_a_strict_check(runner: CliRunner) -> None:
    result = runner.invoke(app, ["policy", "check", "--on", "2026-12-07"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert "no late-payment rates for 2026-H2 (since 1 July 2026)" in warnings[0]
    assert "add [interest_rates.2026-H2]" in warnings[0]
    assert "2027-H1, which starts on 1 January 2027 (in 25 days)" in warnings[1]
    strict = runner.invoke(app, ["policy", "check", "--on", "2026-12-07", "--strict"])
    assert strict.exit_code == 2
    assert runner.invoke(app, ["policy", "check", "--on", "2026-03-01", "--strict"]).exit_code == 0


def test_init_then_edit_then_check(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "ours.toml"
    created = runner.invoke(app, ["policy", "init", str(path)])
    assert created.exit_code == 0, created.output
    assert path.read_text(encoding="utf-8") == SHIPPED
    assert f"credit-risk policy check {path}" in created.output
    # The analyst adds the coming half-years' rates: no more warnings.
    path.write_text(
        SHIPPED.replace('version = "2026.1"', 'version = "2026.2"')
        + "\n[interest_rates.2026-H2]\necb_rate = 2.15\nlegal_rate_professionals = 2.48\n"
        + "\n[interest_rates.2027-H1]\necb_rate = 2.00\nlegal_rate_professionals = 2.40\n",
        encoding="utf-8",
    )
    checked = runner.invoke(app, ["policy", "check", str(path), "--on", "2026-12-07", "--strict"])
    assert checked.exit_code == 0, checked.output
    assert "version 2026.2" in checked.output
    assert re.search(r"2026-H2 \*\s*│ 2\.15 %\s*│ 2\.48 %\s*│ 7\.44 %\s*│ 12\.15 %", checked.output)


def test_init_never_overwrites_unasked(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "ours.toml"
    path.write_text("# my edits\n", encoding="utf-8")
    refused = runner.invoke(app, ["policy", "init", str(path)])
    assert refused.exit_code == 2
    assert "exists; pass --force" in refused.output
    assert path.read_text(encoding="utf-8") == "# my edits\n"
    assert runner.invoke(app, ["policy", "init", str(path), "--force"]).exit_code == 0
    assert path.read_text(encoding="utf-8") == SHIPPED


def test_the_configured_policy_is_checked_by_default(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "configured.toml"
    path.write_text(SHIPPED.replace('version = "2026.1"', 'version = "ours-7"'), encoding="utf-8")
    monkeypatch.setenv("CREDIT_RISK_POLICY_PATH", str(path))
    result = runner.invoke(app, ["policy", "check", "--on", "2026-03-01"])
    assert result.exit_code == 0, result.output
    assert f"{path}: valid" in result.output
    assert "version ours-7" in result.output


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        # A deadline beyond the law; a riskier grade's softer deposit; a truncated file; a
        # penalty rate below the floor; a key that is no half-year.
        (
            lambda text: text.replace(
                'days = 45, basis = "end_of_month"', 'days = 75, basis = "end_of_month"', 1
            ),
            "grades.A.deadline",
        ),
        (
            lambda text: text.replace("deposit_percent = 40", "deposit_percent = 5", 1),
            "grades.D",
        ),
        (lambda text: text[: len(text) // 2] + "\n[grades.C", "not valid TOML"),
        (
            lambda text: text.replace("ecb_rate = 2.50", "ecb_rate = 2.50\npenalty_rate = 3", 1),
            "interest_rates.2023-H1.penalty_rate: 3.0 % is below the legal floor",
        ),
        (
            lambda text: text.replace("[interest_rates.2023-H1]", "[interest_rates.2023-S1]"),
            "interest_rates.2023-S1: not a half-year",
        ),
    ],
)
def test_a_policy_the_service_would_refuse_is_listed_by_key(
    runner: CliRunner, tmp_path: Path, edit: object, expected: str
) -> None:
    path = tmp_path / "broken.toml"
    assert callable(edit)
    path.write_text(edit(SHIPPED), encoding="utf-8")
    result = runner.invoke(app, ["policy", "check", str(path)])
    assert result.exit_code == 1, result.output
    assert f"refused: {path}" in result.output
    assert expected in result.output
    assert ": valid" not in result.output


def test_unreadable_files_and_bad_dates_say_what_to_do(runner: CliRunner, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["policy", "check", str(tmp_path / "none.toml")])
    assert missing.exit_code == 1
    assert "cannot be read" in missing.output
    bad_day = runner.invoke(app, ["policy", "check", "--on", "2026-13-01"])
    assert bad_day.exit_code == 2
    assert "--on" in bad_day.output
    assert "'2026-13-01' is not a date YYYY-MM-DD" in bad_day.output
    unwritable = runner.invoke(app, ["policy", "init", str(tmp_path / "no" / "such" / "p.toml")])
    assert unwritable.exit_code == 2
    assert "cannot write" in unwritable.output

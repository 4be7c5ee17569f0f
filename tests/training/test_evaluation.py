"""Evaluation metrics and tables against hand computations, the report and its plots."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.grades import GradeBands
from training.evaluation import (
    METRIC_NAMES,
    EvaluationReport,
    binary_metrics,
    calibration_table,
    evaluate,
    expected_calibration_error,
    grade_table,
    lift_table,
    metric_key,
    rates_rise_with_grade,
    regression_metrics,
)
from training.plots import save_plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- binary metrics ---------------------------------------------------------------------------


def test_ks_matches_the_hand_computation() -> None:
    # Scores rising with the index; outcomes 0 0 1 0 1 1. Cutting at 0.5 catches 2 of the 3
    # positives and no negative; cutting at 0.3 catches all positives and 1 negative of 3.
    y = [0, 0, 1, 0, 1, 1]
    p = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    metrics = binary_metrics(y, p)
    assert metrics["ks"] == pytest.approx(2 / 3)
    # 8 of the 9 (positive, negative) pairs are ordered right: only (0.3, 0.4) is not.
    assert metrics["roc_auc"] == pytest.approx(8 / 9)
    assert metrics["gini"] == pytest.approx(2 * 8 / 9 - 1)
    assert metrics["base_rate"] == pytest.approx(0.5)
    assert metrics["n"] == 6
    assert metrics["brier"] == pytest.approx(np.mean((np.array(p) - np.array(y)) ** 2))
    by_hand = -np.mean([math.log(1 - 0.1), math.log(1 - 0.2), math.log(0.3), math.log(1 - 0.4),
                        math.log(0.5), math.log(0.6)])  # fmt: skip
    assert metrics["log_loss"] == pytest.approx(by_hand)
    # Precision at each positive, by descending score: 1/1, 2/2, 3/4; averaged over positives.
    assert metrics["pr_auc"] == pytest.approx((1 + 1 + 3 / 4) / 3)


def test_ece_matches_the_hand_computation() -> None:
    # Three bins of two tied scores each: 0.1 (one late of two), 0.4 (none), 0.8 (both).
    y = [0, 1, 0, 0, 1, 1]
    p = [0.1, 0.1, 0.4, 0.4, 0.8, 0.8]
    by_hand = (abs(0.1 - 0.5) + abs(0.4 - 0.0) + abs(0.8 - 1.0)) / 3
    assert expected_calibration_error(y, p, bins=3) == pytest.approx(by_hand)
    assert expected_calibration_error(y, p, bins=10) == pytest.approx(by_hand)  # ties merged


def test_perfect_scores_have_an_auc_of_one() -> None:
    y = np.array([0, 0, 0, 1, 1])
    metrics = binary_metrics(y, y.astype(float))
    assert metrics["roc_auc"] == 1.0
    assert metrics["gini"] == 1.0
    assert metrics["ks"] == 1.0
    assert metrics["pr_auc"] == 1.0
    assert metrics["brier"] == 0.0
    assert metrics["ece"] == 0.0


def test_random_scores_have_an_auc_near_one_half() -> None:
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, size=20_000)
    metrics = binary_metrics(y, rng.uniform(size=y.size))
    assert metrics["roc_auc"] == pytest.approx(0.5, abs=0.02)
    assert metrics["gini"] == pytest.approx(0.0, abs=0.04)
    assert metrics["pr_auc"] == pytest.approx(y.mean(), abs=0.02)


def test_calibrated_scores_have_a_small_ece() -> None:
    rng = np.random.default_rng(5)
    p = rng.uniform(size=50_000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    assert binary_metrics(y, p)["ece"] < 0.01
    assert binary_metrics(y, np.clip(p + 0.1, 0, 1))["ece"] > 0.05


@pytest.mark.parametrize("outcome", [0, 1])
def test_one_class_gives_nan_ranking_metrics_without_warning(outcome: int) -> None:
    metrics = binary_metrics([outcome] * 4, [0.1, 0.2, 0.3, 0.4])
    for name in ("roc_auc", "gini", "ks", "pr_auc"):
        assert math.isnan(metrics[name]), name
    assert metrics["base_rate"] == outcome
    assert metrics["brier"] == pytest.approx(
        np.mean((np.array([0.1, 0.2, 0.3, 0.4]) - outcome) ** 2)
    )
    assert math.isfinite(metrics["ece"])
    assert math.isfinite(metrics["log_loss"])


def test_no_rows_gives_nan_everywhere_but_n() -> None:
    metrics = binary_metrics([], [])
    assert list(metrics) == list(METRIC_NAMES)
    assert metrics["n"] == 0
    assert all(math.isnan(v) for k, v in metrics.items() if k != "n")


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1], [0.5], "y_true has 2 values but p has 1"),
        ([0, np.nan], [0.5, 0.5], "y_true must be 0 or 1.*not known yet"),
        ([0, 2], [0.5, 0.5], "y_true must be 0 or 1"),
        ([0, 1], [0.5, np.nan], "p must hold probabilities"),
        ([0, 1], [0.5, 1.2],
         r"p must hold probabilities in \[0, 1\], got 1 other value\(s\) such as 1\.2"),
    ],
)  # fmt: skip
def test_invalid_inputs_are_refused(y: list[float], p: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        binary_metrics(y, p)


# --- tables -----------------------------------------------------------------------------------


def test_calibration_table_by_decile() -> None:
    y = [0, 1, 0, 0, 1, 1]
    p = [0.1, 0.1, 0.4, 0.4, 0.8, 0.8]
    table = calibration_table(y, p, bins=3)
    assert table["bin"].tolist() == [1, 2, 3]
    assert table["count"].tolist() == [2, 2, 2]
    assert table["mean_predicted"].tolist() == pytest.approx([0.1, 0.4, 0.8])
    assert table["observed_rate"].tolist() == pytest.approx([0.5, 0.0, 1.0])


def test_calibration_deciles_hold_a_tenth_of_the_rows_each() -> None:
    p = np.linspace(0.001, 0.999, 1_000)
    y = (np.arange(1_000) % 3 == 0).astype(int)
    table = calibration_table(y, p)
    assert table["count"].tolist() == [100] * 10
    assert table["p_max"].is_monotonic_increasing


def test_lift_table_matches_the_hand_computation() -> None:
    # Ten distinct scores in five bins of two; four positives, so the base rate is 0.4.
    p = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    y = [0, 0, 0, 1, 0, 0, 1, 0, 1, 1]
    table = lift_table(y, p, bins=5)
    assert table["decile"].tolist() == [1, 2, 3, 4, 5]  # 1 is the riskiest
    assert table["p_min"].tolist() == pytest.approx([0.9, 0.7, 0.5, 0.3, 0.1])
    assert table["observed_rate"].tolist() == pytest.approx([1.0, 0.5, 0.0, 0.5, 0.0])
    assert table["lift"].tolist() == pytest.approx([2.5, 1.25, 0.0, 1.25, 0.0])
    assert table["cumulative_capture"].tolist() == pytest.approx([0.5, 0.75, 0.75, 1.0, 1.0])
    assert table["cumulative_share"].tolist() == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])


def test_lift_without_positives_is_nan() -> None:
    table = lift_table([0, 0, 0], [0.1, 0.2, 0.3], bins=3)
    assert table["lift"].isna().all()
    assert table["cumulative_capture"].isna().all()


def test_grade_table_counts_and_rates() -> None:
    p_late = [0.05, 0.05, 0.15, 0.3, 0.3, 0.5, 0.9, 0.9]
    late = [0, 0, 1, 0, 1, np.nan, 1, 1]
    severe = [0, np.nan, 0, 0, 0, 0, 1, np.nan]
    table = grade_table(p_late, late, severe, GradeBands())
    assert table["grade"].tolist() == ["A", "B", "C", "D", "E"]
    assert table["count"].tolist() == [2, 1, 2, 1, 2]
    assert table["share"].tolist() == pytest.approx([0.25, 0.125, 0.25, 0.125, 0.25])
    assert table["mean_p_late"].tolist() == pytest.approx([0.05, 0.15, 0.3, 0.5, 0.9])
    assert table["late_known"].tolist() == [2, 1, 2, 0, 2]
    assert table["late_rate"].tolist() == pytest.approx([0.0, 1.0, 0.5, np.nan, 1.0], nan_ok=True)
    assert table["severe_known"].tolist() == [1, 1, 2, 1, 1]  # unknown severe rows left out
    assert table["severe_rate"].tolist() == pytest.approx([0.0, 0.0, 0.0, 0.0, 1.0])


def test_an_empty_grade_has_a_row_with_a_count_of_zero() -> None:
    table = grade_table([0.05, 0.9], [0, 1], None)
    assert table["count"].tolist() == [1, 0, 0, 0, 1]
    assert table["late_rate"].isna().tolist() == [False, True, True, True, False]
    assert table["severe_rate"].isna().all()


def test_realised_rates_rise_with_the_grade_on_calibrated_data() -> None:
    rng = np.random.default_rng(2)
    p_late = rng.beta(1.5, 4, size=20_000)
    late = rng.uniform(size=p_late.size) < p_late
    severe = rng.uniform(size=p_late.size) < p_late / 3
    table = grade_table(p_late, late, severe)
    assert rates_rise_with_grade(table)
    assert rates_rise_with_grade(table, "severe_rate")
    # A score that ignores risk cannot order the grades.
    shuffled = grade_table(rng.permutation(p_late), late, severe)
    assert not rates_rise_with_grade(shuffled)


@pytest.mark.parametrize(
    ("rates", "known", "rises"),
    [
        ([0.01, 0.05, 0.1, 0.2, 0.4], [9, 9, 9, 9, 9], True),
        ([0.01, 0.05, 0.05, 0.2, 0.4], [9, 9, 9, 9, 9], False),  # equal is not rising
        ([0.01, 0.5, 0.1, 0.2, 0.4], [9, 0, 9, 9, 9], True),  # an empty grade says nothing
        ([0.01, 0.5, 0.1, 0.2, 0.4], [9, 1, 9, 9, 9], False),
        ([np.nan, np.nan, 0.1, np.nan, np.nan], [0, 0, 9, 0, 0], True),
    ],
)
def test_rates_rise_with_grade(rates: list[float], known: list[int], rises: bool) -> None:
    table = pd.DataFrame({"grade": list("ABCDE"), "late_rate": rates, "late_known": known})
    assert rates_rise_with_grade(table) is rises


def test_regression_metrics_leave_out_open_invoices() -> None:
    metrics = regression_metrics([3.0, 10.0, np.nan, -2.0], [5.0, 4.0, 7.0, -2.0])
    assert metrics == {"mae": pytest.approx(8 / 3), "median_ae": 2.0, "n": 3}
    with pytest.raises(ValueError, match="days_pred has 1 NaN"):
        regression_metrics([1.0], [np.nan])


# --- the report -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def holdout() -> pd.DataFrame:
    """Calibrated demo-like scores: an oracle, a noisy model and a constant baseline."""
    rng = np.random.default_rng(42)
    n = 4_000
    oracle_late = rng.beta(2, 5, size=n)
    oracle_severe = oracle_late / 4
    severe = (rng.uniform(size=n) < oracle_severe).astype(float)
    severe[rng.uniform(size=n) < 0.1] = np.nan  # open invoices not yet 60 days past due
    return pd.DataFrame(
        {
            "late": (rng.uniform(size=n) < oracle_late).astype(float),
            "severe": severe,
            "p_late": np.clip(oracle_late + rng.normal(0, 0.05, n), 0, 1),
            "p_severe": np.clip(oracle_severe + rng.normal(0, 0.02, n), 0, 1),
            "oracle_late": oracle_late,
            "oracle_severe": oracle_severe,
            "customer_mean": np.full(n, 0.3),
            "is_prospect": rng.uniform(size=n) < 0.25,
            "days_late": rng.normal(8, 10, n),
            "expected_days_late": 8.0,
        }
    )


@pytest.fixture(scope="module")
def report(holdout: pd.DataFrame) -> EvaluationReport:
    """Segments known customers / prospects, one with a single class, baselines and oracle."""
    return evaluate(
        holdout,
        segments={
            "known customers": ~holdout["is_prospect"],
            "prospects": holdout["is_prospect"],
            "no late invoice": holdout["late"] == 0,  # one class only for "late"
        },
        baselines={
            "late": {"customer mean": "customer_mean", "oracle": "oracle_late"},
            "severe": {"oracle": "oracle_severe"},
        },
        delay=("days_late", "expected_days_late"),
    )


def test_the_report_gathers_every_segment_target_and_scorer(
    report: EvaluationReport, holdout: pd.DataFrame
) -> None:
    assert report.segments == ["all", "known customers", "prospects", "no late invoice"]
    metrics = report.metrics
    assert set(metrics["all"]) == {"late", "severe"}
    assert list(metrics["all"]["late"]) == ["model", "customer mean", "oracle"]
    assert list(metrics["all"]["severe"]) == ["model", "oracle"]
    assert metrics["all"]["late"]["model"]["n"] == len(holdout)
    assert metrics["all"]["severe"]["model"]["n"] == holdout["severe"].notna().sum()
    prospects = int(holdout["is_prospect"].sum())
    assert metrics["prospects"]["late"]["oracle"]["n"] == prospects
    assert metrics["all"]["late"]["oracle"]["roc_auc"] > metrics["all"]["late"]["model"]["roc_auc"]
    assert metrics["all"]["late"]["customer mean"]["roc_auc"] == 0.5
    assert math.isnan(metrics["no late invoice"]["late"]["model"]["roc_auc"])
    assert report.grades_rise("all")
    assert report.delay["all"]["n"] == len(holdout)


def test_the_report_is_json_able_without_nan(
    report: EvaluationReport, holdout: pd.DataFrame
) -> None:
    as_json = json.dumps(report.to_dict(), allow_nan=False)
    data = json.loads(as_json)
    one_class = data["segments"]["no late invoice"]["targets"]["late"]["metrics"]["model"]
    assert one_class["roc_auc"] is None
    assert data["bands"] == GradeBands().to_dict()
    assert [row["grade"] for row in data["segments"]["all"]["grades"]] == list("ABCDE")
    assert len(data["segments"]["all"]["targets"]["late"]["lift"]) == 10


def test_flat_metrics_use_the_keys_promotion_reads(
    report: EvaluationReport, holdout: pd.DataFrame
) -> None:
    flat = report.flat_metrics()
    for key in ("late_roc_auc", "severe_roc_auc", "late_brier", "severe_ece", "delay_mae"):
        assert key in flat
    assert "prospects.late_roc_auc" in flat
    assert "all.customer_mean.late_roc_auc" in flat
    assert "no_late_invoice.late_roc_auc" not in flat  # NaN is left out
    assert all(math.isfinite(v) for v in flat.values())
    assert (
        metric_key("late", "gini", "known customers", "oracle")
        == "known_customers.oracle.late_gini"
    )


def test_markdown_and_summary_are_readable(report: EvaluationReport) -> None:
    markdown = report.to_markdown()
    assert "## prospects (" in markdown
    assert (
        "| scorer | roc_auc | gini | ks | pr_auc | brier | ece | log_loss | base_rate | n |"
        in markdown
    )
    assert "| customer mean | 0.5000 |" in markdown
    lines = report.summary_lines()
    assert lines[0].startswith("all · late: ROC-AUC 0.")
    assert "oracle 0." in lines[0]
    assert any(line.startswith("no late invoice · late: ROC-AUC n/a") for line in lines)
    assert any(line.startswith("all · late rate by grade rise: A ") for line in lines)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"targets": {"late": "p_missing"}}, "lacks the column.*p_missing"),
        ({"baselines": {"late": {"logistic": "nope"}}}, "lacks the column.*nope"),
        ({"baselines": {"paid": {"x": "p_late"}}}, "baselines for unknown target.*paid"),
        ({"segments": {"half": [True, False]}}, "segment 'half' must be a boolean mask of 4000"),
        ({"segments": {"odd": pd.Series(True, index=range(1, 4001))}}, "index is not the frame"),
        ({"targets": {"severe": "p_severe"}}, "grade_target 'late' is not one of the targets"),
    ],
)
def test_evaluate_refuses_inconsistent_inputs(
    holdout: pd.DataFrame, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate(holdout, **kwargs)  # type: ignore[arg-type]


def test_a_baseline_with_missing_scores_is_refused_with_its_name(holdout: pd.DataFrame) -> None:
    frame = holdout.assign(customer_mean=holdout["customer_mean"].where(~holdout["is_prospect"]))
    with pytest.raises(ValueError, match="segment 'all', target 'late', customer mean: p must"):
        evaluate(frame, baselines={"late": {"customer mean": "customer_mean"}})


# --- plots ------------------------------------------------------------------------------------


def test_plots_are_written_as_png_files(report: EvaluationReport, tmp_path: Path) -> None:
    written = save_plots(report, tmp_path / "plots", feature_importance={"a": 3.0, "b": 1.0})
    names = sorted(path.name for path in written)
    assert names == sorted(
        [
            "roc_late.png",
            "roc_severe.png",
            "calibration_late.png",
            "calibration_severe.png",
            "score_distribution_late.png",
            "score_distribution_severe.png",
            "grade_rates.png",
            "feature_importance.png",
        ]
    )
    for path in written:
        assert path.read_bytes()[:8] == PNG_MAGIC


def test_a_segment_with_one_class_gets_no_roc_curve(
    report: EvaluationReport, tmp_path: Path
) -> None:
    written = save_plots(report, tmp_path, segment="no late invoice")
    names = {path.name for path in written}
    assert "roc_late_no_late_invoice.png" not in names
    assert "roc_severe_no_late_invoice.png" in names
    assert "feature_importance_no_late_invoice.png" not in names
    assert all(path.read_bytes()[:8] == PNG_MAGIC for path in written)

"""The evaluation report of a model on a holdout: discrimination, calibration, lift and grades.

Everything here is a pure function of outcomes and scores, so the same code evaluates the model,
its baselines (the customer's mean delay, a logistic regression) and, on demo data, the oracle,
on exactly the same rows. Metrics that need both classes (ROC-AUC, Gini, KS, PR-AUC) are NaN for
a segment with one class only, so that a small segment never stops a training run.

Calibration and ECE use bins at the deciles of the predicted probability: tied probabilities
stay in one bin (a calibrator with few steps gives fewer, larger bins), and the expected
calibration error is the count-weighted mean of |mean predicted − observed rate| over the bins.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
    roc_curve,
)

from features.grades import GRADES, GradeBands

__all__ = [
    "ALL",
    "DEFAULT_TARGETS",
    "METRIC_NAMES",
    "MODEL",
    "EvaluationReport",
    "binary_metrics",
    "calibration_table",
    "evaluate",
    "expected_calibration_error",
    "grade_table",
    "lift_table",
    "metric_key",
    "rates_rise_with_grade",
    "regression_metrics",
]

METRIC_NAMES = ("roc_auc", "gini", "ks", "pr_auc", "brier", "ece", "log_loss", "base_rate", "n")
MODEL = "model"  # the scorer name of the model itself, beside its baselines
ALL = "all"  # the segment of every row, always evaluated
# Outcome column -> score column. The outcome column holds 1, 0 or NaN where not yet known.
DEFAULT_TARGETS: Mapping[str, str] = MappingProxyType({"late": "p_late", "severe": "p_severe"})

Mask: TypeAlias = npt.ArrayLike | pd.Series
FloatArray: TypeAlias = npt.NDArray[np.float64]


# --- metrics over one score -------------------------------------------------------------------


def binary_metrics(y_true: npt.ArrayLike, p: npt.ArrayLike) -> dict[str, float]:
    """ROC-AUC, Gini, KS, PR-AUC, Brier, ECE, log loss, base rate and n of one score.

    Outcomes must be known (0 or 1) and scores probabilities: NaN in either is refused, since
    dropping rows silently would compare scorers on different rows.
    """
    y, s = _outcomes_and_scores(y_true, p)
    metrics = dict.fromkeys(METRIC_NAMES, math.nan)
    metrics["n"] = y.size
    if y.size == 0:
        return metrics
    metrics["base_rate"] = float(y.mean())
    metrics["brier"] = float(brier_score_loss(y, s, labels=[0, 1]))
    metrics["log_loss"] = float(log_loss(y, s, labels=[0, 1]))
    metrics["ece"] = expected_calibration_error(y, s)
    if 0 < y.sum() < y.size:  # ranking metrics need both classes
        auc = float(roc_auc_score(y, s))
        false_positive_rate, true_positive_rate, _ = roc_curve(y, s)
        metrics["roc_auc"] = auc
        metrics["gini"] = 2 * auc - 1
        metrics["ks"] = float(np.max(true_positive_rate - false_positive_rate))
        metrics["pr_auc"] = float(average_precision_score(y, s))
    return metrics


def calibration_table(y_true: npt.ArrayLike, p: npt.ArrayLike, bins: int = 10) -> pd.DataFrame:
    """By decile of p, lowest first: count, p range, mean predicted and observed rate."""
    y, s = _outcomes_and_scores(y_true, p)
    frame = pd.DataFrame({"bin": _quantile_bins(s, bins), "p": s, "y": y})
    table = frame.groupby("bin").agg(
        count=("y", "size"),
        p_min=("p", "min"),
        p_max=("p", "max"),
        mean_predicted=("p", "mean"),
        observed_rate=("y", "mean"),
    )
    table.index = pd.RangeIndex(1, len(table) + 1, name="bin")
    return table.reset_index()


def expected_calibration_error(y_true: npt.ArrayLike, p: npt.ArrayLike, bins: int = 10) -> float:
    """Count-weighted mean of |mean predicted − observed rate| over the decile bins of p."""
    table = calibration_table(y_true, p, bins)
    if table.empty:
        return math.nan
    gap = (table["mean_predicted"] - table["observed_rate"]).abs()
    return float((gap * table["count"]).sum() / table["count"].sum())


def lift_table(y_true: npt.ArrayLike, p: npt.ArrayLike, bins: int = 10) -> pd.DataFrame:
    """By decile of p from the riskiest (decile 1): observed rate, lift and cumulative capture.

    lift = observed rate / base rate; cumulative_capture = share of all positives found in the
    deciles so far; cumulative_share = share of all rows so far. NaN when there is no positive.
    """
    table = calibration_table(y_true, p, bins).iloc[::-1].reset_index(drop=True)
    table = table.drop(columns="bin")
    table.insert(0, "decile", range(1, len(table) + 1))
    positives = table["observed_rate"] * table["count"]
    total = table["count"].sum()
    base_rate = positives.sum() / total if total else math.nan
    has_positives = total > 0 and positives.sum() > 0
    table["lift"] = table["observed_rate"] / base_rate if has_positives else math.nan
    table["cumulative_share"] = table["count"].cumsum() / total if total else math.nan
    table["cumulative_capture"] = (
        positives.cumsum() / positives.sum() if has_positives else math.nan
    )
    return table


def regression_metrics(days_true: npt.ArrayLike, days_pred: npt.ArrayLike) -> dict[str, float]:
    """MAE and median absolute error of a delay in days.

    A NaN true delay (an invoice still open) is left out; a NaN prediction is refused.
    """
    truth, predicted = _floats(days_true), _floats(days_pred)
    _same_length(truth, predicted, "days_true", "days_pred")
    if np.isnan(predicted).any():
        raise ValueError(f"days_pred has {int(np.isnan(predicted).sum())} NaN value(s)")
    error = np.abs(truth - predicted)[~np.isnan(truth)]
    if error.size == 0:
        return {"mae": math.nan, "median_ae": math.nan, "n": 0}
    return {"mae": float(error.mean()), "median_ae": float(np.median(error)), "n": error.size}


# --- grades -----------------------------------------------------------------------------------


def grade_table(
    p_late: npt.ArrayLike,
    late: npt.ArrayLike,
    severe: npt.ArrayLike | None = None,
    bands: GradeBands | None = None,
) -> pd.DataFrame:
    """Per grade A–E: count, share, mean p_late and the realised late and severe rates.

    An outcome that is NaN (not yet known, e.g. an open invoice not yet 60 days past due) is
    left out of that outcome's rate only; `late_known`/`severe_known` count the rows behind it.
    """
    bands = bands or GradeBands()
    s = _floats(p_late)
    late_values = _floats(late)
    severe_values = np.full(s.size, np.nan) if severe is None else _floats(severe)
    _same_length(s, late_values, "p_late", "late")
    _same_length(s, severe_values, "p_late", "severe")
    frame = pd.DataFrame(
        {"grade": bands.grade_of(s), "p": s, "late": late_values, "severe": severe_values}
    )
    table = (
        frame.groupby("grade")
        .agg(
            count=("p", "size"),
            mean_p_late=("p", "mean"),
            late_known=("late", "count"),
            late_rate=("late", "mean"),
            severe_known=("severe", "count"),
            severe_rate=("severe", "mean"),
        )
        .reindex(list(GRADES))
    )
    table["count"] = table["count"].fillna(0).astype(int)
    table["late_known"] = table["late_known"].fillna(0).astype(int)
    table["severe_known"] = table["severe_known"].fillna(0).astype(int)
    table.insert(1, "share", table["count"] / s.size if s.size else math.nan)
    return table.reset_index()


def rates_rise_with_grade(table: pd.DataFrame, rate: str = "late_rate", min_known: int = 1) -> bool:
    """True when the realised rate rises strictly from grade to grade.

    Grades with fewer than `min_known` known outcomes are skipped (an empty grade says nothing);
    with fewer than two grades left there is nothing to contradict, so the answer is True.
    """
    known = table[f"{rate.removesuffix('_rate')}_known"] >= min_known
    rates = table.loc[known, rate].to_numpy(dtype=np.float64)
    return bool(np.all(np.diff(rates) > 0))


# --- the report -------------------------------------------------------------------------------


@dataclass
class EvaluationReport:
    """Metrics and tables of a model and its baselines, per segment and target.

    metrics[segment][target][scorer] is a `binary_metrics` dict; the scorer of the model itself
    is MODEL. calibration and lift are the model's, grades use its P(late). `frame` keeps the
    evaluated rows so that plots can draw curves; it is not part of `to_dict`.
    """

    targets: dict[str, str]
    segment_sizes: dict[str, int]
    metrics: dict[str, dict[str, dict[str, dict[str, float]]]]
    calibration: dict[str, dict[str, pd.DataFrame]]
    lift: dict[str, dict[str, pd.DataFrame]]
    grades: dict[str, pd.DataFrame]
    delay: dict[str, dict[str, float]]
    bands: GradeBands
    baselines: dict[str, dict[str, str]] = field(default_factory=dict)
    segment_masks: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict, repr=False)
    frame: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def segments(self) -> list[str]:
        return list(self.segment_sizes)

    def grades_rise(self, segment: str = ALL, rate: str = "late_rate") -> bool:
        return rates_rise_with_grade(self.grades[segment], rate)

    def flat_metrics(self) -> dict[str, float]:
        """Finite metrics under MLflow-friendly keys (see `metric_key`), NaN ones left out."""
        flat: dict[str, float] = {}
        for segment, by_target in self.metrics.items():
            for target, by_scorer in by_target.items():
                for scorer, values in by_scorer.items():
                    for metric, value in values.items():
                        flat[metric_key(target, metric, segment, scorer)] = float(value)
            flat[metric_key("late", "rates_rise_with_grade", segment)] = float(
                self.grades_rise(segment)
            )
            for metric, value in self.delay.get(segment, {}).items():
                flat[metric_key("delay", metric, segment)] = float(value)
        return {key: value for key, value in flat.items() if math.isfinite(value)}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (NaN as None), tables as lists of records."""
        segments = {}
        for segment in self.segments:
            segments[segment] = {
                "n": self.segment_sizes[segment],
                "targets": {
                    target: {
                        "metrics": self.metrics[segment][target],
                        "calibration": self.calibration[segment][target].to_dict("records"),
                        "lift": self.lift[segment][target].to_dict("records"),
                    }
                    for target in self.targets
                },
                "grades": self.grades[segment].to_dict("records"),
                "late_rates_rise_with_grade": self.grades_rise(segment),
                "delay": self.delay.get(segment),
            }
        return _jsonable(
            {
                "targets": self.targets,
                "baselines": self.baselines,
                "bands": self.bands.to_dict(),
                "segments": segments,
            }
        )

    def to_markdown(self) -> str:
        """Readable tables, one section per segment."""
        lines = ["# Evaluation", ""]
        for segment in self.segments:
            lines += [f"## {segment} ({self.segment_sizes[segment]:,} rows)", ""]
            for target in self.targets:
                scorers = pd.DataFrame(self.metrics[segment][target]).T
                lines += [f"### {target}: metrics", "", _markdown(scorers, index="scorer"), ""]
                lines += [f"### {target}: calibration by decile of the score", ""]
                lines += [_markdown(self.calibration[segment][target]), ""]
                lines += [f"### {target}: lift by decile, riskiest first", ""]
                lines += [_markdown(self.lift[segment][target]), ""]
            rises = "yes" if self.grades_rise(segment) else "NO"
            lines += [f"### grades (late rates rise with the grade: {rises})", ""]
            lines += [_markdown(self.grades[segment]), ""]
            if segment in self.delay:
                lines += ["### delay in days", "", _markdown(pd.DataFrame([self.delay[segment]]))]
                lines += [""]
        return "\n".join(lines)

    def summary_lines(self) -> list[str]:
        """One line per segment and target, and one on grades: what a log should show."""
        lines = []
        for segment in self.segments:
            for target in self.targets:
                lines.append(self._summary_line(segment, target))
            grades = self.grades[segment]
            shown = ", ".join(
                f"{g} {_percent(r)}"
                for g, r in zip(grades["grade"], grades["late_rate"], strict=True)
            )
            rises = "rise" if self.grades_rise(segment) else "do NOT rise"
            lines.append(f"{segment} · late rate by grade {rises}: {shown}")
        return lines

    def _summary_line(self, segment: str, target: str) -> str:
        by_scorer = self.metrics[segment][target]
        model = by_scorer[MODEL]
        others = ", ".join(
            f"{scorer} {_number(values['roc_auc'])}"
            for scorer, values in by_scorer.items()
            if scorer != MODEL
        )
        return (
            f"{segment} · {target}: ROC-AUC {_number(model['roc_auc'])}, "
            f"Brier {_number(model['brier'])}, ECE {_number(model['ece'])}, "
            f"base rate {_percent(model['base_rate'])}, n={int(model['n']):,}"
            + (f" | baselines ROC-AUC: {others}" if others else "")
        )


def evaluate(
    frame: pd.DataFrame,
    *,
    targets: Mapping[str, str] = DEFAULT_TARGETS,
    segments: Mapping[str, Mask] | None = None,
    baselines: Mapping[str, Mapping[str, str]] | None = None,
    bands: GradeBands | None = None,
    delay: tuple[str, str] | None = None,
    grade_target: str = "late",
) -> EvaluationReport:
    """Evaluate the model and its baselines on the rows of `frame`, per segment and target.

    targets: outcome column -> the model's score column (outcomes 1, 0 or NaN while unknown;
    rows with an unknown outcome are left out of that target only). segments: name -> boolean
    mask over the rows; "all" is always added first. baselines: target -> scorer name -> score
    column, e.g. {"late": {"logistic": "p_late_logistic", "oracle": "p_late_oracle"}}; every
    scorer is evaluated on the same rows as the model. delay: (true days column, predicted days
    column). Grades come from the score of `grade_target` and its outcome, plus "severe" when
    it is a target.
    """
    bands = bands or GradeBands()
    scorers = {target: dict(by_name) for target, by_name in (baselines or {}).items()}
    _check_columns(frame, targets, scorers, delay, grade_target)
    masks = _segment_masks(frame, segments or {})
    report = EvaluationReport(
        targets=dict(targets),
        segment_sizes={name: int(mask.sum()) for name, mask in masks.items()},
        metrics={},
        calibration={},
        lift={},
        grades={},
        delay={},
        bands=bands,
        baselines=scorers,
        segment_masks=masks,
        frame=frame,
    )
    for segment, mask in masks.items():
        rows = frame.loc[mask]
        _evaluate_segment(report, segment, rows)
        severe = rows["severe"] if "severe" in targets else None
        report.grades[segment] = grade_table(
            rows[targets[grade_target]], rows[grade_target], severe, bands
        )
        if delay is not None:
            report.delay[segment] = regression_metrics(rows[delay[0]], rows[delay[1]])
    return report


def metric_key(target: str, metric: str, segment: str = ALL, scorer: str = MODEL) -> str:
    """The flat name of a metric: "late_roc_auc" for the model on all rows, else prefixed.

    "prospects.late_roc_auc" for the model on a segment, "all.logistic.late_roc_auc" for a
    baseline. Promotion rules read the model's keys on all rows.
    """
    name = f"{target}_{metric}"
    if scorer != MODEL:
        return f"{_slug(segment)}.{_slug(scorer)}.{name}"
    if segment != ALL:
        return f"{_slug(segment)}.{name}"
    return name


def _evaluate_segment(report: EvaluationReport, segment: str, rows: pd.DataFrame) -> None:
    report.metrics[segment] = {}
    report.calibration[segment] = {}
    report.lift[segment] = {}
    for target, score in report.targets.items():
        known = rows.loc[rows[target].notna()]
        scorers = {MODEL: score, **report.baselines.get(target, {})}
        report.metrics[segment][target] = {
            scorer: _metrics_in_context(known[target], known[column], segment, target, scorer)
            for scorer, column in scorers.items()
        }
        report.calibration[segment][target] = calibration_table(known[target], known[score])
        report.lift[segment][target] = lift_table(known[target], known[score])


def _metrics_in_context(
    y: pd.Series, p: pd.Series, segment: str, target: str, scorer: str
) -> dict[str, float]:
    try:
        return binary_metrics(y, p)
    except ValueError as error:
        raise ValueError(f"segment {segment!r}, target {target!r}, {scorer}: {error}") from None


def _check_columns(
    frame: pd.DataFrame,
    targets: Mapping[str, str],
    baselines: Mapping[str, Mapping[str, str]],
    delay: tuple[str, str] | None,
    grade_target: str,
) -> None:
    if grade_target not in targets:
        raise ValueError(f"grade_target {grade_target!r} is not one of the targets")
    unknown_targets = [t for t in baselines if t not in targets]
    if unknown_targets:
        raise ValueError(f"baselines for unknown target(s): {', '.join(unknown_targets)}")
    needed = [*targets, *targets.values(), *(delay or ())]
    needed += [column for scorers in baselines.values() for column in scorers.values()]
    missing = sorted({c for c in needed if c not in frame.columns})
    if missing:
        raise ValueError(f"the evaluation frame lacks the column(s): {', '.join(missing)}")


def _segment_masks(
    frame: pd.DataFrame, segments: Mapping[str, Mask]
) -> dict[str, npt.NDArray[np.bool_]]:
    masks = {ALL: np.ones(len(frame), dtype=bool)}
    for name, mask in segments.items():
        if isinstance(mask, pd.Series) and not mask.index.equals(frame.index):
            # Masks are applied by position: a Series from another frame would pick wrong rows.
            raise ValueError(f"segment {name!r}: the mask's index is not the frame's index")
        values = mask.to_numpy() if isinstance(mask, pd.Series) else np.asarray(mask)
        if values.shape != (len(frame),) or values.dtype != np.bool_:
            raise ValueError(
                f"segment {name!r} must be a boolean mask of {len(frame)} rows, "
                f"got dtype {values.dtype} and shape {values.shape}"
            )
        masks[name] = values
    return masks


# --- small helpers ----------------------------------------------------------------------------


def _floats(values: npt.ArrayLike | pd.Series) -> FloatArray:
    if isinstance(values, pd.Series | pd.Index):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(values, dtype=np.float64).ravel()


def _same_length(a: FloatArray, b: FloatArray, a_name: str, b_name: str) -> None:
    if a.size != b.size:
        raise ValueError(f"{a_name} has {a.size} values but {b_name} has {b.size}")


def _outcomes_and_scores(
    y_true: npt.ArrayLike, p: npt.ArrayLike
) -> tuple[npt.NDArray[np.int64], FloatArray]:
    y, s = _floats(y_true), _floats(p)
    _same_length(y, s, "y_true", "p")
    not_binary = ~np.isin(y, (0.0, 1.0))
    if not_binary.any():
        raise ValueError(
            f"y_true must be 0 or 1, got {int(not_binary.sum())} other value(s) such as "
            f"{y[not_binary][0]} (leave out rows whose outcome is not known yet)"
        )
    not_probability = ~((s >= 0.0) & (s <= 1.0))
    if not_probability.any():
        raise ValueError(
            f"p must hold probabilities in [0, 1], got {int(not_probability.sum())} other "
            f"value(s) such as {s[not_probability][0]}"
        )
    return y.astype(np.int64), s


def _quantile_bins(p: FloatArray, bins: int) -> npt.NDArray[np.intp]:
    """Bin index of each score by its deciles (for bins=10), right-closed, ties kept together."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    if p.size == 0:
        return np.zeros(0, dtype=np.intp)
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.searchsorted(edges, p, side="left")


def _slug(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _number(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.3f}"


def _percent(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{100 * value:.1f} %"


def _markdown(table: pd.DataFrame, index: str | None = None) -> str:
    if index is not None:
        table = table.rename_axis(index).reset_index()
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = [
        "| " + " | ".join(_cell(v) for v in row) + " |"
        for row in table.itertuples(index=False, name=None)
    ]
    return "\n".join([header, rule, *rows])


def _cell(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            return "n/a"
        # Counts come out of pandas as floats: show them as counts, and rates with 4 decimals.
        return f"{int(number):,}" if number.is_integer() and abs(number) >= 10 else f"{number:.4f}"
    return str(value)

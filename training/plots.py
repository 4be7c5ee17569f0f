"""The evaluation plots, saved as PNG files to be logged with a training run.

Figures are built with matplotlib's object API on the Agg canvas, never through pyplot: nothing
is displayed, no global backend is switched and no figure is left open in a long process.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from training.evaluation import ALL, MODEL, EvaluationReport

__all__ = ["save_plots"]

ORACLE = "oracle"  # drawn dashed: the best any model can do, on demo data only
TOP_FEATURES = 20


def save_plots(
    report: EvaluationReport,
    out_dir: Path,
    *,
    feature_importance: Mapping[str, float] | None = None,
    segment: str = ALL,
) -> list[Path]:
    """Write the plots of one segment of the report to `out_dir`; return the files written.

    Per target: roc_<target>.png (model, baselines and oracle), calibration_<target>.png and
    score_distribution_<target>.png; then grade_rates.png and, when given a name -> gain
    mapping, feature_importance.png. A segment other than "all" suffixes each name with it.
    A ROC curve needs both outcomes: for a target with one class only it is not drawn.
    """
    if segment not in report.segment_sizes:
        raise ValueError(f"unknown segment {segment!r}; the report has {report.segments}")
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "" if segment == ALL else "_" + "".join(c if c.isalnum() else "_" for c in segment)
    rows = report.frame.loc[report.segment_masks[segment]]
    written = []
    for target, score in report.targets.items():
        known = rows.loc[rows[target].notna()]
        if known[target].nunique() == 2:
            scorers = {MODEL: score, **report.baselines.get(target, {})}
            written.append(_save(_roc(known, target, scorers), out_dir / f"roc_{target}{suffix}"))
        calibration = report.calibration[segment][target]
        written.append(
            _save(_calibration(calibration, target), out_dir / f"calibration_{target}{suffix}")
        )
        written.append(
            _save(
                _distribution(known, target, score),
                out_dir / f"score_distribution_{target}{suffix}",
            )
        )
    written.append(_save(_grade_rates(report.grades[segment]), out_dir / f"grade_rates{suffix}"))
    if feature_importance:
        written.append(
            _save(_importance(feature_importance), out_dir / f"feature_importance{suffix}")
        )
    return written


def _figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=(6.4, 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _save(figure: Figure, stem: Path) -> Path:
    path = stem.with_suffix(".png")
    figure.savefig(path, format="png", dpi=100)
    return path


def _roc(known: pd.DataFrame, target: str, scorers: Mapping[str, str]) -> Figure:
    figure, axes = _figure()
    y = known[target].to_numpy(dtype=np.float64)
    for scorer, column in scorers.items():
        false_positive_rate, true_positive_rate, _ = roc_curve(y, known[column].to_numpy())
        area = float(np.trapezoid(true_positive_rate, false_positive_rate))
        axes.plot(
            false_positive_rate,
            true_positive_rate,
            linestyle="--" if scorer == ORACLE else "-",
            linewidth=2.0 if scorer == MODEL else 1.2,
            label=f"{scorer} (AUC {area:.3f})",
        )
    axes.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":", label="random")
    axes.set(
        title=f"ROC curve: {target} (n={len(known):,})",
        xlabel="false positive rate",
        ylabel="true positive rate",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    axes.legend(loc="lower right")
    return figure


def _calibration(table: pd.DataFrame, target: str) -> Figure:
    figure, axes = _figure()
    axes.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":", label="perfect")
    if not table.empty:
        sizes = 20 + 180 * table["count"] / table["count"].max()
        axes.plot(table["mean_predicted"], table["observed_rate"], color="C0", linewidth=1)
        axes.scatter(
            table["mean_predicted"], table["observed_rate"], s=sizes, color="C0", label="deciles"
        )
    axes.set(
        title=f"Calibration: {target} (reliability by decile of the score)",
        xlabel=f"mean predicted P({target})",
        ylabel=f"observed {target} rate",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    axes.legend(loc="upper left")
    return figure


def _distribution(known: pd.DataFrame, target: str, score: str) -> Figure:
    figure, axes = _figure()
    bins = np.linspace(0, 1, 41).tolist()
    for outcome, label in ((0, f"not {target}"), (1, target)):
        values = known.loc[known[target] == outcome, score].to_numpy(dtype=np.float64)
        if values.size:
            axes.hist(values, bins=bins, density=True, histtype="step", linewidth=1.5,
                      label=f"{label} (n={values.size:,})")  # fmt: skip
    axes.set(
        title=f"Score distribution by outcome: {target}",
        xlabel=f"predicted P({target}) ({score})",
        ylabel="density",
        xlim=(0, 1),
    )
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper right")
    return figure


def _grade_rates(grades: pd.DataFrame) -> Figure:
    figure, axes = _figure()
    positions = np.arange(len(grades))
    width = 0.38
    axes.bar(positions - width / 2, grades["late_rate"].fillna(0), width, label="late rate")
    axes.bar(positions + width / 2, grades["severe_rate"].fillna(0), width, label="severe rate")
    axes.plot(positions, grades["mean_p_late"], color="black", marker="o", linestyle="none",
              label="mean predicted P(late)")  # fmt: skip
    axes.set_xticks(
        positions, [f"{g}\nn={n:,}" for g, n in zip(grades["grade"], grades["count"], strict=True)]
    )
    axes.set(title="Realised rates by grade", xlabel="grade", ylabel="rate", ylim=(0, 1))
    axes.legend(loc="upper left")
    return figure


def _importance(feature_importance: Mapping[str, float]) -> Figure:
    if not all(math.isfinite(gain) for gain in feature_importance.values()):
        raise ValueError("feature importance gains must be finite numbers")
    top = sorted(feature_importance.items(), key=lambda item: item[1], reverse=True)
    top = top[:TOP_FEATURES][::-1]  # barh draws from the bottom: largest on top
    figure = Figure(figsize=(6.4, max(3.0, 0.3 * len(top) + 1.2)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.barh([name for name, _ in top], [gain for _, gain in top])
    shown = f"top {len(top)} of {len(feature_importance)}"
    axes.set(title=f"Feature importance (gain, {shown})", xlabel="total gain", ylabel="feature")
    return figure

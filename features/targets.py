"""What happened to each invoice, as known on a cut-off day (labels for training and monitoring).

days late = settlement day - due day. `late`: more than `late_days` (default 5) past due;
`severe`: more than `severe_days` (60) past due or never paid. An invoice still open on the
cut-off is labelled only when its outcome is already certain: open and already more than the
threshold past due is late (or severe); open and not yet past it is unknown (NaN) — it is not a
negative, since it may still be paid late.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.point_in_time import LATE_DAYS, NEVER, SEVERE_DAYS, day_numbers, settlement_days


@dataclass(frozen=True)
class Thresholds:
    """Days past due beyond which a payment is late, and severe."""

    late_days: int = LATE_DAYS
    severe_days: int = SEVERE_DAYS

    def __post_init__(self) -> None:
        if not 0 <= self.late_days < self.severe_days:
            raise ValueError(
                f"late_days ({self.late_days}) must be >= 0 and below severe_days "
                f"({self.severe_days})"
            )


def invoice_outcomes(
    invoices: pd.DataFrame,
    payments: pd.DataFrame,
    cutoff: pd.Timestamp,
    thresholds: Thresholds | None = None,
) -> pd.DataFrame:
    """Per invoice (same index): settled_day, days_late (NaN if not settled by the cut-off),
    late and severe (1.0, 0.0, or NaN when not known yet), open_at_cutoff."""
    thresholds = thresholds or Thresholds()
    cut = int(day_numbers(pd.Series([cutoff]))[0])
    issued = day_numbers(invoices["issue_date"]) <= cut
    visible = payments[pd.to_datetime(payments["paid_date"]) <= cutoff]
    settled = settlement_days(invoices, visible)
    due = day_numbers(invoices["due_date"])
    done = settled != NEVER
    days_late = np.where(done, settled - due, np.nan)
    overdue_now = np.where(done, np.nan, cut - due)  # how late an open invoice already is
    return pd.DataFrame(
        {
            "settled_day": np.where(done, settled, np.nan),
            "days_late": days_late,
            "late": _label(days_late, overdue_now, thresholds.late_days, issued),
            "severe": _label(days_late, overdue_now, thresholds.severe_days, issued),
            "open_at_cutoff": (~done & issued).astype(float),
        },
        index=invoices.index,
    )


def _label(
    days_late: np.ndarray, overdue_now: np.ndarray, threshold: int, issued: np.ndarray
) -> np.ndarray:
    label = np.where(np.isnan(days_late), np.nan, (days_late > threshold).astype(float))
    certain_late = np.isnan(days_late) & (overdue_now > threshold)
    label[certain_late] = 1.0
    label[~issued] = np.nan
    return label


def censoring_summary(outcomes: pd.DataFrame) -> dict[str, int]:
    """How many invoices each target leaves out because their outcome is not known yet."""
    return {
        "invoices": len(outcomes),
        "open_at_cutoff": int(outcomes["open_at_cutoff"].sum()),
        "late_unknown": int(outcomes["late"].isna().sum()),
        "severe_unknown": int(outcomes["severe"].isna().sum()),
    }

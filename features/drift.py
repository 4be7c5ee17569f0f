"""Population stability index (PSI) between training data and recent scoring traffic.

PSI = Σ (actual − expected) · ln(actual / expected) over the bins of a reference distribution.
A reference is fitted on the training values of one column (a feature or the score) and stored
beside the model as JSON, so that the service can compare live traffic without the training data.

- Numeric columns: bins between the training deciles (right-closed, like `pandas.qcut`), with
  repeated quantiles merged so that a column with few distinct values gets fewer bins, plus a bin
  for missing values.
- Categorical columns: one bin per training category (the most frequent ones when there are
  many), an "other" bin for categories never seen in training, plus a bin for missing values.

Levels follow the usual credit-risk convention: below 0.10 stable, up to 0.25 watch, above act.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "ACT_THRESHOLD",
    "EMPTY_BIN_PROPORTION",
    "MAX_CATEGORIES",
    "SCORE_REFERENCE",
    "WATCH_THRESHOLD",
    "ColumnDrift",
    "DriftLevel",
    "DriftReport",
    "PsiReference",
    "drift_level",
    "drift_report",
    "fit_references",
    "psi",
]

# The model's own score is monitored too: its reference is keyed by this name (beside features).
SCORE_REFERENCE = "p_late"

WATCH_THRESHOLD = 0.10
ACT_THRESHOLD = 0.25
# An empty bin would make ln(actual / expected) infinite; this proportion stands in for zero.
EMPTY_BIN_PROPORTION = 1e-4
MAX_CATEGORIES = 30  # by default, rarer training categories share the "other" bin

DriftLevel = Literal["stable", "watch", "act"]
ReferenceKind = Literal["numeric", "categorical"]
_LEVEL_ORDER: tuple[DriftLevel, ...] = ("stable", "watch", "act")


@dataclass(frozen=True)
class PsiReference:
    """The binned training distribution of one column.

    `expected` holds one proportion per bin, in this order: numeric — the len(edges) + 1
    intervals then missing; categorical — each of `categories`, then other, then missing.
    """

    name: str
    kind: ReferenceKind
    expected: tuple[float, ...]
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("numeric", "categorical"):
            raise ValueError(f"PsiReference {self.name!r}: unknown kind {self.kind!r}")
        if len(self.expected) != self.n_bins:
            raise ValueError(
                f"PsiReference {self.name!r}: {len(self.expected)} expected proportions for "
                f"{self.n_bins} bins"
            )
        if any(not b > a for a, b in itertools.pairwise(self.edges)):
            raise ValueError(f"PsiReference {self.name!r}: edges must be strictly increasing")
        if not np.isclose(sum(self.expected), 1.0) or min(self.expected) < 0:
            raise ValueError(f"PsiReference {self.name!r}: expected proportions must sum to 1")

    @property
    def n_bins(self) -> int:
        if self.kind == "numeric":
            return len(self.edges) + 2
        return len(self.categories) + 2

    @classmethod
    def fit(
        cls,
        name: str,
        values: npt.ArrayLike | pd.Series,
        bins: int = 10,
        max_categories: int = MAX_CATEGORIES,
    ) -> PsiReference:
        """Fit on training values: numeric dtypes get quantile bins, others category bins."""
        if bins < 2:
            raise ValueError(f"PsiReference {name!r}: bins must be at least 2, got {bins}")
        series = _as_series(values)
        if series.empty:
            raise ValueError(f"PsiReference {name!r}: no training values to fit on")
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            # Dates of new traffic all lie after the training ones: compare ages, not dates.
            raise ValueError(f"PsiReference {name!r}: turn dates into ages or durations first")
        if _is_numeric(series):
            numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
            edges = _quantile_edges(numbers[np.isfinite(numbers)], bins)
            layout = cls(name, "numeric", _uniform(len(edges) + 2), edges=edges)
        else:
            counts = series.dropna().astype(str).value_counts()
            by_frequency = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            kept = tuple(category for category, _ in by_frequency[:max_categories])
            layout = cls(name, "categorical", _uniform(len(kept) + 2), categories=kept)
        return cls(name, layout.kind, layout.proportions(series), layout.edges, layout.categories)

    def bin_of(self, values: npt.ArrayLike | pd.Series) -> npt.NDArray[np.intp]:
        """The bin index of each value (see the class docstring for the order of bins)."""
        series = _as_series(values)
        missing = series.isna().to_numpy()
        if self.kind == "numeric":
            numbers = pd.to_numeric(series, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            # side="left": edges[i-1] < v <= edges[i], the same right-closed bins as the fit.
            index = np.searchsorted(np.asarray(self.edges), numbers, side="left")
            # A non-numeric value in a numeric column is counted as missing, not as a crash.
            missing = missing | np.isnan(numbers)
        else:
            position = {category: i for i, category in enumerate(self.categories)}
            other = len(self.categories)
            index = np.array(
                [position.get(str(v), other) for v in series.to_numpy(dtype=object)],
                dtype=np.intp,
            )
        return np.where(missing, self.n_bins - 1, index).astype(np.intp)

    def proportions(self, values: npt.ArrayLike | pd.Series) -> tuple[float, ...]:
        """The share of values in each bin."""
        index = self.bin_of(values)
        if index.size == 0:
            raise ValueError(f"column {self.name!r}: no values to compare with the reference")
        counts = np.bincount(index, minlength=self.n_bins)
        return tuple(float(c) for c in counts / counts.sum())

    def labels(self) -> list[str]:
        """Readable names of the bins, in order."""
        if self.kind == "categorical":
            return [*self.categories, "other", "missing"]
        if not self.edges:
            return ["all values", "missing"]
        shown = [f"{e:.4g}" for e in self.edges]
        inner = [f"({a}, {b}]" for a, b in itertools.pairwise(shown)]
        return [f"≤ {shown[0]}", *inner, f"> {shown[-1]}", "missing"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "edges": list(self.edges),
            "categories": list(self.categories),
            "expected": list(self.expected),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PsiReference:
        try:
            return cls(
                name=str(data["name"]),
                kind=data["kind"],
                expected=tuple(float(x) for x in data["expected"]),
                edges=tuple(float(x) for x in data.get("edges", ())),
                categories=tuple(str(x) for x in data.get("categories", ())),
            )
        except KeyError as missing:
            raise ValueError(f"a PSI reference needs the field {missing}") from None


def psi(reference: PsiReference, values: npt.ArrayLike | pd.Series) -> float:
    """The population stability index of `values` against the reference distribution.

    Empty bins count as EMPTY_BIN_PROPORTION so that the index stays finite; a bin empty on both
    sides adds nothing.
    """
    expected = np.maximum(np.asarray(reference.expected), EMPTY_BIN_PROPORTION)
    actual = np.maximum(np.asarray(reference.proportions(values)), EMPTY_BIN_PROPORTION)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift_level(value: float) -> DriftLevel:
    """stable below WATCH_THRESHOLD, watch up to ACT_THRESHOLD, act above it."""
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"a PSI is a finite non-negative number, got {value}")
    if value < WATCH_THRESHOLD:
        return "stable"
    if value < ACT_THRESHOLD:
        return "watch"
    return "act"


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """The PSI of one column over a window of scoring traffic."""

    name: str
    psi: float
    level: DriftLevel
    n: int


@dataclass(frozen=True)
class DriftReport:
    """The drift of many columns at once, the worst first."""

    columns: tuple[ColumnDrift, ...]

    @property
    def level(self) -> DriftLevel:
        """The worst level over all columns ("stable" when there are none)."""
        return max((c.level for c in self.columns), key=_LEVEL_ORDER.index, default="stable")

    def at_level(self, level: DriftLevel) -> list[str]:
        return [c.name for c in self.columns if c.level == level]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [(c.name, c.psi, c.level, c.n) for c in self.columns],
            columns=["column", "psi", "level", "n"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "columns": [
                {"name": c.name, "psi": c.psi, "level": c.level, "n": c.n} for c in self.columns
            ],
        }


def drift_report(references: Mapping[str, PsiReference], frame: pd.DataFrame) -> DriftReport:
    """The PSI of every referenced column of `frame`; a referenced column missing is an error."""
    missing = [name for name in references if name not in frame.columns]
    if missing:
        raise ValueError(
            f"columns with a PSI reference are missing from the scoring data: {', '.join(missing)}"
        )
    drifts = []
    for name, reference in references.items():
        value = psi(reference, frame[name])
        drifts.append(ColumnDrift(name, value, drift_level(value), len(frame)))
    drifts.sort(key=lambda d: d.psi, reverse=True)
    return DriftReport(tuple(drifts))


def fit_references(
    frame: pd.DataFrame, columns: Iterable[str] | None = None, bins: int = 10
) -> dict[str, PsiReference]:
    """A reference for each column (all of them by default), keyed by column name."""
    names = list(frame.columns if columns is None else columns)
    return {name: PsiReference.fit(name, frame[name], bins) for name in names}


def _as_series(values: npt.ArrayLike | pd.Series) -> pd.Series:
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    return pd.Series(np.asarray(values).ravel())


def _is_numeric(series: pd.Series) -> bool:
    dtype = series.dtype
    return bool(pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))


def _quantile_edges(finite: npt.NDArray[np.float64], bins: int) -> tuple[float, ...]:
    """The inner decile edges (for bins=10) of the finite values, repeated edges merged."""
    if finite.size == 0:
        return ()
    inner = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.unique(inner)
    # An edge at the maximum would leave the top bin empty by construction.
    return tuple(float(e) for e in edges if e < finite.max())


def _uniform(n: int) -> tuple[float, ...]:
    return (1.0 / n,) * n

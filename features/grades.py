"""Risk grades A (lowest risk) to E (highest) from calibrated probability bands.

A grade is what a credit controller reads, so the bands are part of a model's stored state: the
same bands grade the holdout at training time and live invoices in the service. Bands apply to
the *calibrated* P(late); on raw scores they would mean nothing.

Each grade is a half-open interval: with the default bands, A is p < 0.10, B is 0.10 ≤ p < 0.20,
C is 0.20 ≤ p < 0.35, D is 0.35 ≤ p < 0.55 and E is p ≥ 0.55.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any, overload

import numpy as np
import numpy.typing as npt

__all__ = ["GRADES", "GradeBands"]

GRADES = ("A", "B", "C", "D", "E")
_BOUNDED = GRADES[:-1]  # the grades that have an upper bound; E is everything above D's


@dataclass(frozen=True, slots=True)
class GradeBands:
    """Upper bounds of calibrated P(late) for grades A to D; E lies above the last bound."""

    upper_bounds: tuple[float, float, float, float] = (0.10, 0.20, 0.35, 0.55)

    def __post_init__(self) -> None:
        bounds = tuple(self.upper_bounds)
        if len(bounds) != len(_BOUNDED):
            raise ValueError(
                f"GradeBands needs {len(_BOUNDED)} upper bounds (for grades "
                f"{', '.join(_BOUNDED)}; E lies above the last), got {len(bounds)}: {bounds}"
            )
        for grade, bound in zip(_BOUNDED, bounds, strict=True):
            if not isinstance(bound, Real) or not 0.0 < float(bound) < 1.0:
                raise ValueError(
                    f"GradeBands: the upper bound of grade {grade} must be a probability "
                    f"strictly between 0 and 1, got {bound!r}"
                )
        for i in range(1, len(bounds)):
            if not bounds[i - 1] < bounds[i]:
                raise ValueError(
                    f"GradeBands: bounds must be strictly increasing, but grade {_BOUNDED[i]}'s "
                    f"upper bound {bounds[i]} is not above grade {_BOUNDED[i - 1]}'s "
                    f"{bounds[i - 1]}"
                )
        object.__setattr__(self, "upper_bounds", tuple(float(b) for b in bounds))

    @overload
    def grade_of(self, p_late: float) -> str: ...

    @overload
    def grade_of(self, p_late: npt.ArrayLike) -> npt.NDArray[np.str_]: ...

    def grade_of(self, p_late: float | npt.ArrayLike) -> str | npt.NDArray[np.str_]:
        """The grade of each probability: a str for a scalar, an array of "A".."E" otherwise.

        A probability outside [0, 1] or NaN is a bug upstream, so it raises instead of being
        graded at one end.
        """
        p = np.asarray(p_late, dtype=np.float64)
        bad = ~((p >= 0.0) & (p <= 1.0))  # NaN fails both comparisons
        if bad.any():
            first = p[bad].flat[0]
            raise ValueError(
                f"cannot grade {int(bad.sum())} value(s) that are not probabilities in [0, 1] "
                f"(first: {first})"
            )
        # side="right": a probability equal to a bound belongs to the grade above it.
        index = np.searchsorted(np.asarray(self.upper_bounds), p, side="right")
        grades = np.asarray(GRADES)[index]
        if p.ndim == 0:
            return str(grades)
        return grades

    def interval(self, grade: str) -> tuple[float, float]:
        """The [low, high) probability range of a grade (E's range ends at 1, inclusive)."""
        if grade not in GRADES:
            raise ValueError(f"unknown grade {grade!r}; grades are {', '.join(GRADES)}")
        edges = (0.0, *self.upper_bounds, 1.0)
        i = GRADES.index(grade)
        return edges[i], edges[i + 1]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form, stored beside a model: {"upper_bounds": {"A": 0.1, ...}}."""
        return {
            "upper_bounds": dict(zip(_BOUNDED, self.upper_bounds, strict=True)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GradeBands:
        """Read the form written by `to_dict`; the bounds are validated again."""
        bounds = data.get("upper_bounds") if isinstance(data, Mapping) else None
        if not isinstance(bounds, Mapping):
            raise ValueError(
                "grade bands must be a mapping {'upper_bounds': {'A': ..., 'B': ..., 'C': ..., "
                f"'D': ...}}, got {data!r}"
            )
        if set(bounds) != set(_BOUNDED):
            raise ValueError(
                f"grade bands must give the upper bounds of exactly {', '.join(_BOUNDED)}, "
                f"got {', '.join(map(str, bounds)) or 'none'}"
            )
        return cls((bounds["A"], bounds["B"], bounds["C"], bounds["D"]))

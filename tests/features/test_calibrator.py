"""The isotonic calibrator maps raw scores through its thresholds, within [0, 1]."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from features.scoring_model import IsotonicCalibrator

_UNIT = st.floats(0.0, 1.0)
_ANY = st.floats(-2.0, 3.0)


def _reference(calibrator: IsotonicCalibrator, raw: np.ndarray) -> np.ndarray:
    """Linear interpolation between the thresholds, flat beyond them, clipped to [0, 1]."""
    return np.array(
        [min(max(_interpolated(calibrator.x, calibrator.y, float(r)), 0.0), 1.0) for r in raw]
    )


def _interpolated(x: tuple[float, ...], y: tuple[float, ...], r: float) -> float:
    if r <= x[0]:
        return y[0]
    if r >= x[-1]:
        return y[-1]
    # The last threshold at or below r (np.interp's side for repeated thresholds).
    i = max(k for k in range(len(x) - 1) if x[k] <= r)
    if x[i + 1] == x[i]:
        return y[i + 1]
    return y[i] + (y[i + 1] - y[i]) * (r - x[i]) / (x[i + 1] - x[i])


@given(
    st.lists(st.tuples(_UNIT, _ANY), min_size=2, max_size=30),
    arrays(float, st.integers(1, 40), elements=st.floats(-0.5, 1.5)),
)
def test_calibrated_values_follow_the_thresholds_within_zero_and_one(
    points: list[tuple[float, float]], raw: np.ndarray
) -> None:
    """Thresholds inside [0, 1] (as training makes them) and outside it (a hand-edited bundle)."""
    points = sorted(set(points))
    assume(len(points) >= 2 and len({x for x, _ in points}) == len(points))  # one y per x
    calibrator = IsotonicCalibrator(tuple(x for x, _ in points), tuple(y for _, y in points))
    calibrated = calibrator(raw)
    assert np.all((calibrated >= 0.0) & (calibrated <= 1.0))
    np.testing.assert_allclose(calibrated, _reference(calibrator, raw), rtol=1e-12, atol=1e-12)
    assert np.array_equal(calibrator(raw[:1]), calibrated[:1])  # one row as in a batch


def test_unsorted_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="sorted"):
        IsotonicCalibrator((0.5, 0.2), (0.1, 0.3))


def test_calibrators_with_the_same_thresholds_are_equal_once_used() -> None:
    """The arrays kept after a first call are no part of what a calibrator is."""
    used = IsotonicCalibrator((0.0, 1.0), (0.1, 0.9))
    fresh = IsotonicCalibrator((0.0, 1.0), (0.1, 0.9))
    used(np.array([0.5]))
    assert used == fresh
    assert hash(used) == hash(fresh)

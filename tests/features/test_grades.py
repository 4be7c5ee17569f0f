"""Grade bands: validation, the mapping from P(late) to a grade, and storage as JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from features.grades import GRADES, GradeBands


@pytest.mark.parametrize(
    ("p_late", "grade"),
    [
        (0.0, "A"),
        (0.0999, "A"),
        (0.10, "B"),  # a bound belongs to the grade above it
        (0.1999, "B"),
        (0.20, "C"),
        (0.3499, "C"),
        (0.35, "D"),
        (0.5499, "D"),
        (0.55, "E"),
        (1.0, "E"),
    ],
)
def test_default_bands_grade_a_probability(p_late: float, grade: str) -> None:
    assert GradeBands().grade_of(p_late) == grade


def test_a_scalar_gives_a_str_and_an_array_gives_an_array() -> None:
    bands = GradeBands()
    assert isinstance(bands.grade_of(0.3), str)
    grades = bands.grade_of(np.array([0.05, 0.15, 0.25, 0.45, 0.9]))
    assert isinstance(grades, np.ndarray)
    assert grades.tolist() == list(GRADES)
    assert bands.grade_of([[0.05], [0.9]]).tolist() == [["A"], ["E"]]
    assert bands.grade_of(np.array([])).tolist() == []


def test_custom_bands_move_the_boundaries() -> None:
    bands = GradeBands((0.02, 0.05, 0.1, 0.3))
    assert bands.grade_of([0.01, 0.03, 0.07, 0.2, 0.31]).tolist() == list(GRADES)


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ((0.1, 0.2, 0.3), "needs 4 upper bounds .* got 3"),
        ((0.1, 0.2, 0.3, 0.4, 0.5), "needs 4 upper bounds .* got 5"),
        ((0.0, 0.2, 0.3, 0.4), "upper bound of grade A must be a probability strictly between"),
        ((0.1, 0.2, 0.3, 1.0), "upper bound of grade D must be a probability strictly between"),
        ((-0.1, 0.2, 0.3, 0.4), "grade A"),
        ((0.1, float("nan"), 0.3, 0.4), "grade B must be a probability"),
        ((0.1, "0.2", 0.3, 0.4), "grade B must be a probability"),
        ((0.1, 0.1, 0.3, 0.4), "strictly increasing, but grade B's upper bound 0.1 is not above"),
        ((0.1, 0.3, 0.2, 0.4), "grade C's upper bound 0.2 is not above grade B's 0.3"),
    ],
)
def test_invalid_bands_are_refused_with_a_precise_message(
    bounds: tuple[float, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        GradeBands(bounds)  # type: ignore[arg-type]


@pytest.mark.parametrize("p_late", [-0.01, 1.01, float("nan"), [0.2, float("nan")]])
def test_values_that_are_not_probabilities_are_refused(p_late: object) -> None:
    with pytest.raises(ValueError, match="not probabilities in"):
        GradeBands().grade_of(p_late)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("grade", "interval"),
    [("A", (0.0, 0.10)), ("C", (0.20, 0.35)), ("E", (0.55, 1.0))],
)
def test_interval_of_a_grade(grade: str, interval: tuple[float, float]) -> None:
    assert GradeBands().interval(grade) == interval


def test_interval_of_an_unknown_grade_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown grade 'F'"):
        GradeBands().interval("F")


def test_bands_round_trip_through_json() -> None:
    bands = GradeBands((0.05, 0.15, 0.3, 0.6))
    stored = json.dumps(bands.to_dict())
    assert json.loads(stored) == {"upper_bounds": {"A": 0.05, "B": 0.15, "C": 0.3, "D": 0.6}}
    assert GradeBands.from_dict(json.loads(stored)) == bands


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "must be a mapping"),
        ({"upper_bounds": [0.1, 0.2, 0.3, 0.4]}, "must be a mapping"),
        ({"upper_bounds": {"A": 0.1, "B": 0.2, "C": 0.3}}, "exactly A, B, C, D, got A, B, C"),
        ({"upper_bounds": {"A": 0.1, "B": 0.2, "C": 0.3, "D": 0.2}}, "strictly increasing"),
    ],
)
def test_invalid_stored_bands_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GradeBands.from_dict(data)


def test_bands_are_frozen() -> None:
    with pytest.raises(AttributeError):
        GradeBands().upper_bounds = (0.1, 0.2, 0.3, 0.4)  # type: ignore[misc]

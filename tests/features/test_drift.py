"""Population stability index: references, hand-computed values, levels and reports."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from features.drift import (
    ACT_THRESHOLD,
    EMPTY_BIN_PROPORTION,
    WATCH_THRESHOLD,
    PsiReference,
    drift_level,
    drift_report,
    fit_references,
    psi,
)


def test_a_tiny_numeric_example_matches_the_hand_computation() -> None:
    # Median of 1..4 is 2.5: two bins of one half each, and an empty missing bin.
    reference = PsiReference.fit("x", [1.0, 2.0, 3.0, 4.0], bins=2)
    assert reference.edges == (2.5,)
    assert reference.expected == (0.5, 0.5, 0.0)
    # Actual: one value of four at or below 2.5, three above.
    by_hand = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    value = psi(reference, [1.0, 3.0, 4.0, 4.0])
    assert value == pytest.approx(by_hand)
    assert value == pytest.approx(0.25 * math.log(3))
    assert drift_level(value) == "act"


def test_bins_are_right_closed_like_qcut() -> None:
    reference = PsiReference.fit("x", [1.0, 2.0, 3.0, 4.0], bins=2)
    assert reference.bin_of([2.5, 2.5000001, -np.inf, np.inf, np.nan]).tolist() == [0, 1, 0, 1, 2]


def test_an_identical_distribution_has_a_psi_of_zero() -> None:
    values = np.random.default_rng(1).normal(size=5_000)
    reference = PsiReference.fit("score", values)
    assert len(reference.expected) == 11  # ten deciles and the missing bin
    assert psi(reference, values) == pytest.approx(0.0, abs=1e-12)
    assert psi(reference, pd.Series(values[::-1], index=range(7, 5_007))) == pytest.approx(0.0)


def test_a_shifted_normal_drifts_more_as_the_shift_grows() -> None:
    rng = np.random.default_rng(7)
    reference = PsiReference.fit("score", rng.normal(size=50_000))
    # For a mean shift d of a unit normal the PSI tends to d² with fine bins; deciles lose a
    # little: about 0.04 at d=0.2, 0.15 at 0.4, 0.34 at 0.6.
    shifts = [0.0, 0.2, 0.4, 0.6]
    values = [psi(reference, rng.normal(shift, 1.0, 50_000)) for shift in shifts]
    assert values == sorted(values)
    assert [drift_level(v) for v in values] == ["stable", "stable", "watch", "act"]
    for shift, value in zip(shifts[1:], values[1:], strict=True):
        assert 0.8 * shift**2 < value < 1.05 * shift**2


def test_missing_values_have_their_own_bin() -> None:
    reference = PsiReference.fit("equity", [1.0, 2.0, np.nan, np.nan], bins=2)
    assert reference.labels() == ["≤ 1.5", "> 1.5", "missing"]
    assert reference.expected == (0.25, 0.25, 0.5)
    assert psi(reference, [1.0, 2.0, np.nan, None]) == pytest.approx(0.0)
    # All missing now: the two numeric bins empty out.
    by_hand = 2 * (EMPTY_BIN_PROPORTION - 0.25) * math.log(EMPTY_BIN_PROPORTION / 0.25) + (
        0.5 * math.log(2)
    )
    assert psi(reference, [np.nan] * 3) == pytest.approx(by_hand)


def test_repeated_quantiles_are_merged() -> None:
    # 95 % zeros: every decile edge up to the 90th is 0, so there is one edge only.
    reference = PsiReference.fit("legal_events", [0] * 95 + [1] * 5)
    assert reference.edges == (0.0,)
    assert reference.expected == (0.95, 0.05, 0.0)


def test_categories_unseen_in_training_go_to_other() -> None:
    reference = PsiReference.fit("naf_section", ["b", "a", "b", None])
    assert reference.categories == ("b", "a")  # most frequent first
    assert reference.labels() == ["b", "a", "other", "missing"]
    assert reference.expected == (0.5, 0.25, 0.0, 0.25)
    actual = ["a", "z", None, "b"]  # b .25, a .25, other .25, missing .25
    by_hand = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.25 - EMPTY_BIN_PROPORTION) * math.log(
        0.25 / EMPTY_BIN_PROPORTION
    )
    assert psi(reference, actual) == pytest.approx(by_hand)


def test_rare_categories_share_the_other_bin() -> None:
    values = ["x"] * 5 + ["y"] * 3 + ["z"] * 2 + ["w"]
    reference = PsiReference.fit("sector", values, max_categories=2)
    assert reference.categories == ("x", "y")
    assert reference.expected == pytest.approx((5 / 11, 3 / 11, 3 / 11, 0.0))


def test_booleans_are_categories() -> None:
    reference = PsiReference.fit("disputed", pd.Series([True, False, None], dtype="boolean"))
    assert reference.kind == "categorical"
    assert reference.categories == ("False", "True")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([], "no training values"),
        (pd.Series(pd.to_datetime(["2024-01-01"])), "turn dates into ages"),
    ],
)
def test_unusable_training_values_are_refused(values: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PsiReference.fit("x", values)


def test_psi_of_no_values_is_refused() -> None:
    reference = PsiReference.fit("x", [1.0, 2.0])
    with pytest.raises(ValueError, match="column 'x': no values to compare"):
        psi(reference, [])


@pytest.mark.parametrize(
    ("value", "level"),
    [
        (0.0, "stable"),
        (WATCH_THRESHOLD - 1e-9, "stable"),
        (WATCH_THRESHOLD, "watch"),
        (ACT_THRESHOLD - 1e-9, "watch"),
        (ACT_THRESHOLD, "act"),
        (3.0, "act"),
    ],
)
def test_drift_levels(value: float, level: str) -> None:
    assert drift_level(value) == level


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf")])
def test_a_psi_that_is_not_a_psi_has_no_level(value: float) -> None:
    with pytest.raises(ValueError, match="finite non-negative"):
        drift_level(value)


@pytest.mark.parametrize(
    "values",
    [
        [1.5, np.nan, 3.25, 7.0, 7.0, 11.0],
        ["b", "a", None, "b"],
    ],
)
def test_references_round_trip_through_json(values: list[object]) -> None:
    reference = PsiReference.fit("column", values, bins=3)
    restored = PsiReference.from_dict(json.loads(json.dumps(reference.to_dict())))
    assert restored == reference
    assert psi(restored, values) == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "kind": "numeric"}, "needs the field 'expected'"),
        ({"name": "x", "kind": "ordinal", "expected": [1.0]}, "unknown kind"),
        ({"name": "x", "kind": "numeric", "edges": [1.0], "expected": [1.0]}, "for 3 bins"),
        ({"name": "x", "kind": "numeric", "edges": [2, 1], "expected": [0.5, 0.5, 0, 0]},
         "strictly increasing"),
        ({"name": "x", "kind": "numeric", "expected": [0.5, 0.6]}, "sum to 1"),
    ],
)  # fmt: skip
def test_invalid_stored_references_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PsiReference.from_dict(data)


def test_a_report_covers_many_columns_worst_first() -> None:
    rng = np.random.default_rng(3)
    training = pd.DataFrame(
        {
            "score": rng.uniform(size=10_000),
            "amount": rng.lognormal(8, 1, size=10_000),
            "sector": rng.choice(["C", "F", "G"], size=10_000),
        }
    )
    references = fit_references(training)
    assert set(references) == {"score", "amount", "sector"}
    recent = pd.DataFrame(
        {
            "score": rng.uniform(size=5_000),  # unchanged
            "amount": rng.lognormal(8.5, 1, size=5_000),  # half a log-unit shift: watch
            "sector": rng.choice(["C", "F", "Q"], size=5_000),  # a third unseen: act
            "unreferenced": 1,
        }
    )
    report = drift_report(references, recent)
    assert [c.name for c in report.columns] == ["sector", "amount", "score"]
    assert [c.level for c in report.columns] == ["act", "watch", "stable"]
    assert report.level == "act"
    assert report.at_level("watch") == ["amount"]
    assert report.to_frame().columns.tolist() == ["column", "psi", "level", "n"]
    assert json.loads(json.dumps(report.to_dict()))["columns"][0]["n"] == 5_000


def test_a_report_needs_every_referenced_column() -> None:
    references = fit_references(pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}), ["a", "b"])
    with pytest.raises(ValueError, match="missing from the scoring data: b"):
        drift_report(references, pd.DataFrame({"a": [1.0]}))


def test_an_empty_report_is_stable() -> None:
    assert drift_report({}, pd.DataFrame()).level == "stable"

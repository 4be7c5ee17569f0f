"""Training on a small demo portfolio: windows, calibration, behaviour, the bundle on disk."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.demo import generate_portfolio
from features.drift import ACT_THRESHOLD, SCORE_REFERENCE, psi
from features.point_in_time import Ledger
from features.scoring_model import InvalidModelBundle, ScoringModel
from training.pipeline import (
    MONITORED_FEATURES,
    TrainedModel,
    TrainingConfig,
    TrainingData,
    evaluate_model,
    fit,
)
from training.pipeline import prepare as prepare_data

END = date(2025, 12, 31)
CONFIG = TrainingConfig(holdout_months=3, validation_months=3, max_rounds=300, min_data_in_leaf=50)


@pytest.fixture(scope="module")
def portfolio() -> dict[str, pd.DataFrame]:
    # Large enough for a few hundred invoices of customers under insolvency proceedings.
    return generate_portfolio(seed=11, companies=800, years=3, end_date=END)


@pytest.fixture(scope="module")
def data(portfolio: dict[str, pd.DataFrame]) -> TrainingData:
    return prepare_data(Ledger.from_tables(portfolio), CONFIG, oracle=portfolio["demo_oracle"])


@pytest.fixture(scope="module")
def trained(data: TrainingData) -> TrainedModel:
    return fit(data, CONFIG)


def test_windows_follow_time_and_leave_out_uncertain_outcomes(data: TrainingData) -> None:
    issue = data.issue_date
    last = {name: issue[data.window == name] for name in ("train", "validation", "holdout")}
    assert last["train"].max() < last["validation"].min()
    assert last["validation"].max() < last["holdout"].min()
    in_split = data.window != "censored"
    # Every invoice in the split has both outcomes known on the cut-off.
    assert data.outcomes.loc[in_split, ["late", "severe"]].notna().all().all()
    # The invoices left out are the recent ones whose outcome may still change.
    assert (issue[~in_split].min() > last["train"].max()) or (~in_split).sum() == 0
    assert data.summary()["late_unknown"] > 0


def test_calibrated_probabilities_and_grades(data: TrainingData, trained: TrainedModel) -> None:
    evaluation = evaluate_model(trained.model, data, CONFIG)
    metrics = evaluation.metrics()
    assert metrics["late_ece"] < 0.05
    assert metrics["severe_ece"] < 0.05
    assert 0.6 < metrics["late_roc_auc"] <= metrics["all.oracle.late_roc_auc"] + 0.02
    assert evaluation.customers.grades_rise()
    scores = trained.model.predict(data.features.loc[data.rows("holdout")])
    assert (scores["p_severe"] <= scores["p_late"]).all()
    assert set(scores["grade"]) <= set("ABCDE")


def record(features: pd.DataFrame, *, late: bool) -> pd.DataFrame:
    """The same rows with a record of late payment, or of payment on time."""
    view = features.copy()
    view["settled_late_share"] = view["known_late_share"] = 0.8 if late else 0.0
    view["settled_severe_share"] = view["known_severe_share"] = 0.3 if late else 0.0
    view["days_late_mean"] = view["recent_days_late_mean"] = 45.0 if late else -2.0
    view["days_late_max"] = 120.0 if late else 3.0
    view["recent_late30_count"] = 4.0 if late else 0.0
    return view


def test_a_late_payer_never_scores_better_than_a_punctual_one(
    data: TrainingData, trained: TrainedModel
) -> None:
    rows = data.features.loc[data.rows("holdout")]
    rows = rows[rows["settled_count"] >= 5]
    late = trained.model.predict(record(rows, late=True))
    on_time = trained.model.predict(record(rows, late=False))
    assert (late["p_late"] >= on_time["p_late"]).all()
    assert (late["p_severe"] >= on_time["p_severe"]).all()
    assert late["p_late"].mean() > on_time["p_late"].mean() + 0.1


def test_insolvency_proceedings_make_a_company_riskier(
    data: TrainingData, trained: TrainedModel
) -> None:
    rows = data.features.loc[data.rows("holdout")]
    rows = rows[rows["proceedings_count"] == 0]
    under = rows.assign(proceedings_count=1.0, proceeding_severity=3.0, days_since_proceeding=30.0)
    before, after = trained.model.predict(rows), trained.model.predict(under)
    assert (after["p_severe"] >= before["p_severe"] - 1e-9).all()
    assert (after["p_late"] >= before["p_late"] - 1e-9).all()
    assert after["p_severe"].mean() > before["p_severe"].mean()


def test_scores_of_an_array_are_those_of_the_frame(
    data: TrainingData, trained: TrainedModel
) -> None:
    """Rows given as an array, in any column order, score and explain exactly as the same
    frame does, the proceedings floor included, whether given together or one at a time; a
    missing feature is named."""
    model = trained.model
    rows = data.features.loc[data.rows("holdout"), list(model.features)].head(300).copy()
    rows.iloc[:40, rows.columns.get_loc("proceeding_severity")] = 3.0  # under the floor
    rows.iloc[:40, rows.columns.get_loc("days_since_proceeding")] = 30.0
    expected = model.scores(rows)
    unfloored = dataclasses.replace(model, proceedings_floor={}).scores(rows)
    assert not np.array_equal(unfloored.p_severe, expected.p_severe)  # the floor matters here
    shuffled = list(reversed(model.features))
    for columns in (list(model.features), shuffled):
        got = model.scores_of(rows[columns].to_numpy(dtype=float), columns)
        for name in ("p_late", "p_severe", "expected_days_late", "grade"):
            np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))
        array = rows[columns].to_numpy(dtype=float)
        one_by_one = [model.scores_of(array[i : i + 1], columns) for i in range(40)]
        for name in ("p_late", "p_severe", "expected_days_late", "grade"):
            alone = np.concatenate([getattr(scored, name) for scored in one_by_one])
            np.testing.assert_array_equal(alone, getattr(expected, name)[:40])
        contributions = model.contributions(rows)
        assert model.contribution_names == tuple(contributions.columns)
        np.testing.assert_array_equal(model.contributions_of(array, columns), contributions)
        alone = np.vstack([model.contributions_of(array[i : i + 1], columns) for i in range(40)])
        np.testing.assert_array_equal(alone, contributions.to_numpy()[:40])
    kept = [name for name in shuffled if name != "sole_trader"]
    with pytest.raises(ValueError, match="features missing for the model: sole_trader"):
        model.scores_of(rows[kept].to_numpy(dtype=float), kept)


def test_a_bundle_round_trips_and_a_damaged_one_is_refused(
    data: TrainingData, trained: TrainedModel, tmp_path: Path
) -> None:
    rows = data.features.loc[data.rows("holdout")].head(50)
    saved = trained.model.save(tmp_path / "bundle")
    loaded = ScoringModel.load(saved)
    pd.testing.assert_frame_equal(loaded.predict(rows), trained.model.predict(rows))
    booster = saved / "late.lgb.txt"
    booster.write_bytes(booster.read_bytes()[: len(booster.read_bytes()) // 2])
    with pytest.raises(InvalidModelBundle, match=r"late\.lgb\.txt does not match its checksum"):
        ScoringModel.load(saved)
    (saved / "manifest.json").unlink()
    with pytest.raises(InvalidModelBundle, match=r"no readable manifest\.json"):
        ScoringModel.load(saved)


def test_contributions_add_up_to_the_raw_score(data: TrainingData, trained: TrainedModel) -> None:
    rows = data.features.loc[data.rows("holdout")].head(20)
    contributions = trained.model.contributions(rows)
    raw = trained.model.boosters["late"].predict(rows.to_numpy(), raw_score=True)
    np.testing.assert_allclose(contributions.sum(axis=1), raw, rtol=1e-6, atol=1e-6)


def test_a_too_short_ledger_is_refused_with_advice(portfolio: dict[str, pd.DataFrame]) -> None:
    config = dataclasses.replace(CONFIG, holdout_months=30, validation_months=12)
    with pytest.raises(ValueError, match="lower them or import more history"):
        prepare_data(Ledger.from_tables(portfolio), config)


def test_the_score_has_a_drift_reference_beside_the_features(
    data: TrainingData, trained: TrainedModel
) -> None:
    references = trained.model.psi_references
    assert SCORE_REFERENCE in references
    assert set(MONITORED_FEATURES) <= set(references)
    validation = trained.model.predict(data.features.loc[data.rows("validation")])
    holdout = trained.model.predict(data.features.loc[data.rows("holdout")])
    # Its own window is stable by construction; a shifted score is not.
    assert psi(references[SCORE_REFERENCE], validation[SCORE_REFERENCE]) < 0.01
    assert psi(references[SCORE_REFERENCE], holdout[SCORE_REFERENCE]) < ACT_THRESHOLD
    assert psi(references[SCORE_REFERENCE], np.minimum(validation[SCORE_REFERENCE] * 2, 1)) > (
        ACT_THRESHOLD
    )


def test_a_drift_report_covers_the_features_and_the_score(
    data: TrainingData, trained: TrainedModel
) -> None:
    validation = data.features.loc[data.rows("validation")]
    report = trained.model.drift(validation)
    by_name = {d.name: d for d in report.columns}
    assert set(by_name) == set(trained.model.psi_references)
    assert by_name[SCORE_REFERENCE].level == "stable"

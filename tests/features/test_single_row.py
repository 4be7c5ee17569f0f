"""LightGBM's single-row path gives `Booster.predict`'s values to the last bit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import lightgbm as lgb
import numpy as np
import pytest

from features.single_row import CONTRIBUTIONS, NORMAL, SingleRowPredictor


def _booster(objective: str, early_stopping: bool) -> lgb.Booster:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3000, 12))
    x[rng.random(x.shape) < 0.15] = np.nan  # missing values take their own branch
    signal = np.nan_to_num(x[:, 0]) * 2 - np.nan_to_num(x[:, 3]) + rng.normal(size=3000)
    y = (signal > 0.5).astype(float) if objective == "binary" else signal
    params = {"objective": objective, "num_leaves": 15, "verbose": -1, "seed": 1}
    train = lgb.Dataset(x[:2400], y[:2400])
    if not early_stopping:
        return lgb.train(params, train, num_boost_round=60)
    valid = lgb.Dataset(x[2400:], y[2400:], reference=train)
    # The booster kept as trained holds the rounds after the best one: predictions stop there.
    return lgb.train(params, train, num_boost_round=400, valid_sets=[valid],
                     callbacks=[lgb.early_stopping(5, verbose=False)],
                     keep_training_booster=True)  # fmt: skip


@pytest.fixture(scope="module", params=["binary", "regression", "early-stopped"])
def booster(request: pytest.FixtureRequest) -> lgb.Booster:
    if request.param == "early-stopped":
        trained = _booster("binary", early_stopping=True)
        assert 0 < trained.best_iteration < trained.current_iteration()
        return trained
    # Reloaded from its text, as the service loads a bundle.
    return lgb.Booster(model_str=_booster(request.param, False).model_to_string())


def _rows(width: int) -> np.ndarray:
    rng = np.random.default_rng(11)
    rows = rng.normal(size=(300, width)) * 3
    rows[rng.random(rows.shape) < 0.2] = np.nan
    rows[0] = np.nan  # nothing known at all
    return rows


@pytest.mark.parametrize("kind", [NORMAL, CONTRIBUTIONS])
def test_each_row_predicts_as_the_booster_does(booster: lgb.Booster, kind: int) -> None:
    """Before and after `predict` runs (LightGBM's booster keeps the iterations of its last
    predictor: both paths must ask for the same ones)."""
    predictor = SingleRowPredictor.of(booster, kind)
    assert predictor is not None
    rows = _rows(booster.num_feature())
    before = np.array([predictor(row) for row in rows])
    expected = booster.predict(rows, pred_contrib=kind == CONTRIBUTIONS, num_threads=1)
    after = np.array([predictor(row) for row in rows])
    for got in (before, after):
        np.testing.assert_array_equal(got.reshape(np.shape(expected)), expected)


def test_threads_taking_turns_get_their_own_rows(booster: lgb.Booster) -> None:
    predictor = SingleRowPredictor.of(booster, NORMAL)
    assert predictor is not None
    rows = _rows(booster.num_feature())
    expected = booster.predict(rows, num_threads=1)
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = np.concatenate(list(pool.map(predictor, rows)))
    np.testing.assert_array_equal(got, expected)


def test_a_row_of_the_wrong_width_is_refused(booster: lgb.Booster) -> None:
    predictor = SingleRowPredictor.of(booster, NORMAL)
    assert predictor is not None
    with pytest.raises(ValueError, match="the row has 3 features, the model 12"):
        predictor(np.zeros(3))

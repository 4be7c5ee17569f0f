"""Train, calibrate and evaluate the late-payment models on a time-ordered split.

Rows are invoices scored as of their issue date (features.point_in_time). Only invoices whose
outcome is certain on the cut-off enter the split (due at least `severe_days` before it: by
then a still-open invoice is known to be severe), so the most recent rows are not biased
towards the ones already paid. The split is by issue date: train on the past, stop early and
calibrate on the next months (which the trees never saw), evaluate on the most recent months.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from features.drift import SCORE_REFERENCE, PsiReference, fit_references
from features.grades import GradeBands
from features.point_in_time import (
    CATEGORICAL_FEATURES,
    COMPANY_FEATURES,
    FEATURES,
    ORDER_FEATURES,
    Ledger,
    build_features,
    invoice_queries,
    prospect_view,
)
from features.scoring_model import IsotonicCalibrator, ScoringModel, under_proceedings
from features.targets import Thresholds, censoring_summary, invoice_outcomes
from training.evaluation import EvaluationReport, evaluate

Progress = Callable[[str, float], None]
PROSPECT_FEATURES = ORDER_FEATURES + COMPANY_FEATURES
# Features whose rise may only raise the risk: a worse record or an insolvency proceeding never
# makes a score better (LightGBM monotone constraints guarantee it for all else equal).
RISK_RAISING = ("settled_late_share", "settled_severe_share", "days_late_mean", "days_late_max",
                "recent_days_late_mean", "recent_late30_count", "known_late_share",
                "known_severe_share", "overdue_count", "oldest_overdue_days", "proceedings_count",
                "proceeding_severity", "negative_equity", "po_missing")  # fmt: skip
RISK_LOWERING = ("days_since_proceeding",)
MONITORED_FEATURES = ("known_late_share", "days_late_mean", "overdue_amount", "amount_vs_usual",
                      "terms_days", "company_age_years", "equity_ratio", "dpo_days")  # fmt: skip


def _quiet(_stage: str, _fraction: float) -> None:
    """Progress callback for when nobody watches."""


@dataclass(frozen=True)
class TrainingConfig:
    """How a model is trained; every field is logged with the run."""

    holdout_months: int = 4
    validation_months: int = 3
    late_days: int = 5
    severe_days: int = 60
    prospect_share: float = 0.15  # training rows also shown as prospects (history hidden)
    # Fewer trees of half the leaves than lr 0.05 with 31 leaves, for the same holdout figures
    # (ROC-AUC within 0.001 on the demo ledger): predicting costs half, explaining a quarter.
    # Severe lateness is rare (a few % of invoices): its booster learns more slowly, as faster
    # steps lost 0.003 of its ROC-AUC.
    learning_rate: float = 0.1
    severe_learning_rate: float = 0.05
    num_leaves: int = 15
    # The P(late) booster's contributions give each score's reasons: kept to depth 4, its trees
    # cost 40 % less to explain (TreeSHAP grows with depth squared) for the same holdout
    # figures (ROC-AUC 0.7523 against 0.7524 unbounded). 0: no bound.
    late_max_depth: int = 4
    min_data_in_leaf: int = 300
    l2_regularization: float = 1.0
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    max_rounds: int = 1500
    delay_max_rounds: int = 150
    delay_sample: int = 300_000  # settled invoices enough to learn an expected delay
    early_stopping_rounds: int = 80
    max_bin: int = 127
    baseline_sample: int = 100_000
    seed: int = 7
    # Prior P(late), P(severe) under insolvency proceedings and its weight in invoices: the
    # floor is the ledger's own rate, shrunk towards the prior when it holds few such cases.
    proceedings_prior: tuple[float, float] = (0.6, 0.3)
    proceedings_prior_weight: int = 100

    def __post_init__(self) -> None:
        if self.holdout_months < 1 or self.validation_months < 1:
            raise ValueError("holdout_months and validation_months must be at least 1")
        if not 0 <= self.prospect_share <= 1:
            raise ValueError(f"prospect_share must be in [0, 1], got {self.prospect_share}")
        Thresholds(self.late_days, self.severe_days)

    def lightgbm_params(self, objective: str, target: str | None = None) -> dict[str, Any]:
        """LightGBM's parameters for a booster of this objective, predicting `target`."""
        rate = self.severe_learning_rate if target == "severe" else self.learning_rate
        depth = self.late_max_depth if target == "late" and self.late_max_depth > 0 else -1
        return {
            "objective": objective,
            "learning_rate": rate,
            "max_depth": depth,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "lambda_l2": self.l2_regularization,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "max_bin": self.max_bin,
            "monotone_constraints": [
                int(name in RISK_RAISING) - int(name in RISK_LOWERING) for name in FEATURES
            ],
            "monotone_constraints_method": "advanced",
            "seed": self.seed,
            "num_threads": 0,
            "verbose": -1,
        }


@dataclass
class TrainingData:
    """Features and outcomes of every invoice, and the split into time windows."""

    features: pd.DataFrame
    outcomes: pd.DataFrame
    window: pd.Series  # "train", "validation", "holdout" or "censored"
    issue_date: pd.Series
    cutoff: pd.Timestamp
    oracle: pd.DataFrame | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def rows(self, window: str) -> pd.Index:
        return self.window.index[self.window == window]

    def summary(self) -> dict[str, Any]:
        counts = self.window.value_counts().to_dict()
        bounds = {
            f"{name}_from": str(self.issue_date[self.window == name].min().date())
            for name in ("train", "validation", "holdout")
            if (self.window == name).any()
        }
        return {"cutoff": str(self.cutoff.date()), **counts, **bounds,
                **censoring_summary(self.outcomes)}  # fmt: skip


def prepare(
    ledger: Ledger,
    config: TrainingConfig,
    *,
    cutoff: pd.Timestamp | None = None,
    oracle: pd.DataFrame | None = None,
) -> TrainingData:
    """Features as of each issue date, outcomes as of the cut-off, and the time windows."""
    invoices = ledger.invoices.reset_index(drop=True)
    ledger = Ledger(invoices, ledger.payments, ledger.customers, ledger.companies,
                    ledger.statements, ledger.legal_events)  # fmt: skip
    cutoff = cutoff or _latest_day(ledger)
    started = time.perf_counter()
    features = build_features(ledger, invoice_queries(invoices))
    built = time.perf_counter() - started
    thresholds = Thresholds(config.late_days, config.severe_days)
    outcomes = invoice_outcomes(invoices, ledger.payments, cutoff, thresholds)
    issue = pd.to_datetime(invoices["issue_date"])
    window = _windows(issue, pd.to_datetime(invoices["due_date"]), cutoff, config)
    aligned_oracle = None
    if oracle is not None and len(oracle):
        aligned_oracle = oracle.set_index("invoice_id").reindex(invoices["invoice_id"])
        aligned_oracle.index = invoices.index
    return TrainingData(features, outcomes, window, issue, cutoff, aligned_oracle,
                        {"features_seconds": built})  # fmt: skip


def _latest_day(ledger: Ledger) -> pd.Timestamp:
    days = [pd.to_datetime(ledger.invoices["issue_date"]).max()]
    if len(ledger.payments):
        days.append(pd.to_datetime(ledger.payments["paid_date"]).max())
    return pd.Timestamp(max(days))


def _windows(
    issue: pd.Series, due: pd.Series, cutoff: pd.Timestamp, config: TrainingConfig
) -> pd.Series:
    certain = due < cutoff - pd.Timedelta(days=config.severe_days)  # "more than" 60 days
    if not certain.any():
        raise ValueError(
            f"no invoice is due {config.severe_days} days before the cut-off {cutoff.date()}: "
            "the ledger is too recent to learn from"
        )
    last = issue[certain].max()
    holdout_start = last - pd.DateOffset(months=config.holdout_months)
    validation_start = holdout_start - pd.DateOffset(months=config.validation_months)
    window = pd.Series("censored", index=issue.index, dtype=object)
    window[certain & (issue <= validation_start)] = "train"
    window[certain & (issue > validation_start) & (issue <= holdout_start)] = "validation"
    window[certain & (issue > holdout_start)] = "holdout"
    for name in ("train", "validation", "holdout"):
        if not (window == name).any():
            raise ValueError(
                f"the {name} window is empty: the ledger holds too little history for "
                f"{config.holdout_months} holdout and {config.validation_months} validation "
                "months; lower them or import more history"
            )
    return window


@dataclass
class TrainedModel:
    """A fitted scoring model and what came with it."""

    model: ScoringModel
    importance: dict[str, float]
    rounds: dict[str, int]
    timings: dict[str, float]


def fit(data: TrainingData, config: TrainingConfig, progress: Progress = _quiet) -> TrainedModel:
    """Fit the three boosters, calibrate the two probabilities, and keep PSI references."""
    train, validation = data.rows("train"), data.rows("validation")
    x_train, y_train = _with_prospects(data, train, config)
    timings: dict[str, float] = {}
    boosters: dict[str, lgb.Booster] = {}
    rounds: dict[str, int] = {}
    for step, target in enumerate(("late", "severe")):
        progress(f"training P({target})", 0.1 + 0.3 * step)
        started = time.perf_counter()
        boosters[target] = _boost(
            x_train, y_train[target], data.features.loc[validation],
            data.outcomes.loc[validation, target], config, "binary", target=target,
        )  # fmt: skip
        timings[f"{target}_seconds"] = time.perf_counter() - started
        rounds[target] = boosters[target].best_iteration or boosters[target].current_iteration()
    progress("training days late", 0.7)
    started = time.perf_counter()
    boosters["days_late"] = _delay_booster(data, train, validation, config)
    timings["days_late_seconds"] = time.perf_counter() - started
    rounds["days_late"] = boosters["days_late"].best_iteration
    progress("calibrating", 0.85)
    calibrators = {
        target: _isotonic(
            np.asarray(
                boosters[target].predict(data.features.loc[validation, list(FEATURES)].to_numpy()),
                dtype=float,
            ),
            data.outcomes.loc[validation, target].to_numpy(),
        )
        for target in ("late", "severe")
    }
    gains = boosters["late"].feature_importance(importance_type="gain")
    model = ScoringModel(
        boosters=boosters,
        calibrators=calibrators,
        features=FEATURES,
        bands=GradeBands(),
        psi_references=fit_references(data.features.loc[train], list(MONITORED_FEATURES)),
        metadata={"config": asdict(config), "data": data.summary(), "rounds": rounds},
        proceedings_floor=_proceedings_floor(data, config),
    )
    # The score's reference: calibrated P(late) on the validation window, which the trees did
    # not learn from (on the training rows the score would look sharper than it will live).
    validation_scores = model.predict(data.features.loc[validation])[SCORE_REFERENCE]
    model = replace(
        model,
        psi_references={
            **model.psi_references,
            SCORE_REFERENCE: PsiReference.fit(SCORE_REFERENCE, validation_scores),
        },
    )
    importance = dict(zip(FEATURES, (float(g) for g in gains), strict=True))
    return TrainedModel(model, importance, rounds, timings)


def _proceedings_floor(data: TrainingData, config: TrainingConfig) -> dict[str, float]:
    rows = data.rows("train").union(data.rows("validation"))
    under = under_proceedings(data.features.loc[rows])
    outcomes = data.outcomes.loc[rows[under]]
    weight = config.proceedings_prior_weight
    return {
        target: float((outcomes[target].sum() + prior * weight) / (outcomes[target].count()
                                                                   + weight))
        for target, prior in zip(("late", "severe"), config.proceedings_prior, strict=True)
    }  # fmt: skip


def _with_prospects(
    data: TrainingData, rows: pd.Index, config: TrainingConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows plus a share of them seen as prospects, so company data alone scores."""
    x = data.features.loc[rows]
    y = data.outcomes.loc[rows, ["late", "severe"]]
    if config.prospect_share <= 0:
        return x, y
    rng = np.random.default_rng(config.seed)
    chosen = rows[rng.random(len(rows)) < config.prospect_share]
    x = pd.concat([x, prospect_view(data.features.loc[chosen])], ignore_index=True)
    y = pd.concat([y, data.outcomes.loc[chosen, ["late", "severe"]]], ignore_index=True)
    return x, y


def _boost(
    x: pd.DataFrame,
    y: pd.Series,
    x_valid: pd.DataFrame,
    y_valid: pd.Series,
    config: TrainingConfig,
    objective: str,
    max_rounds: int | None = None,
    target: str | None = None,
) -> lgb.Booster:
    known, known_valid = y.notna().to_numpy(), y_valid.notna().to_numpy()
    params = config.lightgbm_params(objective, target)
    categorical = [FEATURES.index(name) for name in CATEGORICAL_FEATURES]
    train_set = lgb.Dataset(
        x.loc[known, list(FEATURES)].to_numpy(), y[known].to_numpy(), feature_name=list(FEATURES),
        categorical_feature=categorical, free_raw_data=True, params=params,
    )  # fmt: skip
    valid_set = lgb.Dataset(
        x_valid.loc[known_valid, list(FEATURES)].to_numpy(), y_valid[known_valid].to_numpy(),
        reference=train_set,
    )  # fmt: skip
    return lgb.train(
        params,
        train_set,
        num_boost_round=max_rounds or config.max_rounds,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
    )


def _delay_booster(
    data: TrainingData, train: pd.Index, validation: pd.Index, config: TrainingConfig
) -> lgb.Booster:
    """Expected days late, learnt on settled invoices (clipped: a year late is a write-off)."""
    days = data.outcomes["days_late"].clip(-30, 365)
    if len(train) > config.delay_sample:
        rng = np.random.default_rng(config.seed)
        train = pd.Index(np.sort(rng.choice(train, config.delay_sample, replace=False)))
    return _boost(data.features.loc[train], days.loc[train], data.features.loc[validation],
                  days.loc[validation], config, "huber", config.delay_max_rounds)  # fmt: skip


def _isotonic(raw: np.ndarray, outcome: np.ndarray) -> IsotonicCalibrator:
    known = ~np.isnan(outcome)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(raw[known], outcome[known])
    return IsotonicCalibrator(tuple(map(float, iso.X_thresholds_)),
                              tuple(map(float, iso.y_thresholds_)))  # fmt: skip


# ---- baselines and evaluation ---------------------------------------------------------------


def _history_baseline(data: TrainingData, column: str, target: str, rows: pd.Index) -> np.ndarray:
    """The customer's own record as a score, calibrated on the training window (base rate for
    customers without one)."""
    train = data.rows("train")
    known = data.outcomes.loc[train, target].notna() & data.features.loc[train, column].notna()
    fitted = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1)
    fitted.fit(data.features.loc[train][known][column], data.outcomes.loc[train][known][target])
    base_rate = float(data.outcomes.loc[train, target].mean())
    values = data.features.loc[rows, column]
    scores = fitted.predict(values.fillna(0).to_numpy())
    return np.where(values.isna(), base_rate, scores)


def _logistic(
    data: TrainingData, columns: tuple[str, ...], target: str, config: TrainingConfig,
    prospects: bool = False,
) -> Pipeline:  # fmt: skip
    train = data.rows("train")
    rng = np.random.default_rng(config.seed)
    if len(train) > config.baseline_sample:
        train = pd.Index(rng.choice(train, config.baseline_sample, replace=False))
    y = data.outcomes.loc[train, target]
    x = data.features.loc[train]
    if prospects:
        x = prospect_view(x)
    model = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=300),
    )
    known = y.notna().to_numpy()
    model.fit(x.loc[known, list(columns)].to_numpy(), y[known].to_numpy())
    return model


@dataclass
class Evaluation:
    """The report on known customers (the holdout as it is) and on the same rows as prospects."""

    customers: EvaluationReport
    prospects: EvaluationReport
    holdout: pd.DataFrame  # outcomes and every scorer's score, for plots and notebooks

    def metrics(self) -> dict[str, float]:
        flat = dict(self.customers.flat_metrics())
        flat.update({f"prospects.{k}": v for k, v in self.prospects.flat_metrics().items()
                     if not k.startswith("prospects.")})  # fmt: skip
        return flat


def evaluate_model(
    model: ScoringModel, data: TrainingData, config: TrainingConfig,
    extra_models: Mapping[str, ScoringModel] | None = None,
) -> Evaluation:  # fmt: skip
    """The model against its baselines (and the oracle on demo data) on the holdout."""
    rows = data.rows("holdout")
    features = data.features.loc[rows]
    frame = _scored(model, features, data.outcomes.loc[rows])
    prospect_frame = _scored(model, prospect_view(features), data.outcomes.loc[rows])
    baselines: dict[str, dict[str, str]] = {"late": {}, "severe": {}}
    prospect_baselines: dict[str, dict[str, str]] = {"late": {}, "severe": {}}
    for target in ("late", "severe"):
        share = "known_late_share" if target == "late" else "settled_severe_share"
        frame[f"history_share_{target}"] = _history_baseline(data, share, target, rows)
        frame[f"history_delay_{target}"] = _history_baseline(data, "days_late_mean", target, rows)
        logistic = _logistic(data, FEATURES, target, config)
        frame[f"logistic_{target}"] = logistic.predict_proba(
            features[list(FEATURES)].to_numpy())[:, 1]  # fmt: skip
        company_only = _logistic(data, PROSPECT_FEATURES, target, config, prospects=True)
        prospect_frame[f"logistic_{target}"] = company_only.predict_proba(
            features[list(PROSPECT_FEATURES)].to_numpy())[:, 1]  # fmt: skip
        baselines[target] = {
            "customer share late": f"history_share_{target}",
            "customer mean delay": f"history_delay_{target}",
            "logistic regression": f"logistic_{target}",
        }
        prospect_baselines[target] = {"logistic regression": f"logistic_{target}"}
        if data.oracle is not None:
            for scored in (frame, prospect_frame):
                scored[f"oracle_{target}"] = data.oracle.loc[rows, f"p_{target}"].to_numpy()
            baselines[target]["oracle"] = prospect_baselines[target]["oracle"] = f"oracle_{target}"
        for name, other in (extra_models or {}).items():
            frame[f"{name}_{target}"] = _scored(other, features, data.outcomes.loc[rows])[
                f"p_{target}"]  # fmt: skip
            baselines[target][name] = f"{name}_{target}"
    delay = ("days_late", "expected_days_late")
    customers = evaluate(frame, baselines=baselines, bands=model.bands, delay=delay)
    prospects = evaluate(prospect_frame, baselines=prospect_baselines, bands=model.bands,
                         delay=delay)  # fmt: skip
    return Evaluation(customers, prospects, frame)


def _scored(model: ScoringModel, features: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    scores = model.predict(features)
    return pd.concat([outcomes[["late", "severe", "days_late"]], scores], axis=1)

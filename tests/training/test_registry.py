"""The model registry on a real local MLflow store: versions, aliases, promotion and rollback.

The store (SQLite, artifacts under a temporary directory) and three registered versions are
created once per module because MLflow's store creation takes about a second; each test starts
from a registry without aliases or history.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from training.registry import (
    CHALLENGER,
    CHAMPION,
    HISTORY_TAG,
    ModelRegistry,
    NoChallenger,
    NothingToRollBack,
    PromotionDecision,
    PromotionRefused,
    PromotionRules,
    UnknownModelVersion,
    compare,
    loader_reference,
)

pytestmark = [
    # MLflow's SQLAlchemy store uses the `noload` strategy, deprecated in SQLAlchemy 2.1; it
    # warns when the store is first opened. Nothing to fix on our side.
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated"),
    # MLflow compares DataFrame columns with a range when it saves an input example, which
    # pandas 3 deprecates (mlflow/models/utils.py). Unavoidable with a DataFrame example.
    pytest.mark.filterwarnings("ignore:Operation with range is deprecated"),
]

GOOD = {
    "late_roc_auc": 0.80,
    "severe_roc_auc": 0.85,
    "late_brier": 0.150,
    "severe_brier": 0.060,
    "late_ece": 0.010,
    "severe_ece": 0.008,
}
INPUT_EXAMPLE = pd.DataFrame({"amount": [1_200.0, 15_000.0], "days_late_mean": [3.0, 41.0]})


def load_coefficient_bundle(bundle_dir: Path) -> Callable[[pd.DataFrame], np.ndarray]:
    """A trivial bundle format: P(late) = min(1, coefficient × mean days late / 100)."""
    coefficient = json.loads((bundle_dir / "model.json").read_text())["coefficient"]

    def predict(frame: pd.DataFrame) -> np.ndarray:
        return np.minimum(1.0, coefficient * frame["days_late_mean"].to_numpy() / 100)

    return predict


def _write_bundle(directory: Path, coefficient: float) -> Path:
    directory.mkdir(parents=True)
    (directory / "model.json").write_text(json.dumps({"coefficient": coefficient}))
    (directory / "reports").mkdir()
    (directory / "reports" / "evaluation.md").write_text(f"# coefficient {coefficient}\n")
    return directory


class Clock:
    """A clock that ticks one minute per reading."""

    def __init__(self) -> None:
        self.minutes = 0

    def __call__(self) -> datetime:
        self.minutes += 1
        return datetime(2026, 11, 23, 9, self.minutes, tzinfo=UTC)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    """(tracking URI, experiment id, bundles directory) with versions 1-3 registered."""
    root = tmp_path_factory.mktemp("mlflow")
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    experiment_id = client.create_experiment(
        "credit-risk", artifact_location=root.as_uri() + "/artifacts"
    )
    registry = ModelRegistry(tracking_uri)
    for version, (coefficient, auc) in enumerate([(1.0, 0.80), (1.5, 0.81), (2.0, 0.79)], 1):
        run_id = client.create_run(experiment_id).info.run_id
        client.log_metric(run_id, "late_roc_auc", auc)
        bundle = _write_bundle(root / "bundles" / f"v{version}", coefficient)
        logged = registry.log_bundle(
            bundle, input_example=INPUT_EXAMPLE, loader=load_coefficient_bundle, run_id=run_id
        )
        assert logged == str(version)
    return tracking_uri, experiment_id, root / "bundles"


@pytest.fixture
def registry(store: tuple[str, str, Path]) -> ModelRegistry:
    """The module's registered model, without aliases or history."""
    registry = ModelRegistry(store[0], clock=Clock())
    for alias in (CHAMPION, CHALLENGER):
        if registry.version_of(alias) is not None:
            registry.client.delete_registered_model_alias(registry.name, alias)
    if HISTORY_TAG in registry.client.get_registered_model(registry.name).tags:
        registry.client.delete_registered_model_tag(registry.name, HISTORY_TAG)
    return registry


@contextmanager
def _global_tracking(tracking_uri: str) -> Iterator[None]:
    """MLflow's global tracking URI, which models:/ URIs and fluent runs use, for a while."""
    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)  # type: ignore[arg-type]  # None unsets it


def _promote(registry: ModelRegistry, version: str) -> str:
    registry.set_challenger(version)
    return registry.promote(PromotionDecision(True, ["test"]))


# --- registry on a real store -----------------------------------------------------------------


def test_bundles_are_registered_with_a_signature(registry: ModelRegistry) -> None:
    versions = registry.client.search_model_versions(f"name = '{registry.name}'")
    assert sorted(str(v.version) for v in versions) == ["1", "2", "3"]
    with _global_tracking(registry.tracking_uri):
        signature = mlflow.models.get_model_info(f"models:/{registry.name}/1").signature
    assert signature is not None
    assert signature.inputs.input_names() == ["amount", "days_late_mean"]


def test_metrics_of_a_version_come_from_its_run(registry: ModelRegistry) -> None:
    assert registry.metrics_of("2") == {"late_roc_auc": 0.81}
    registry.set_challenger(3)
    assert registry.metrics_of(CHALLENGER) == {"late_roc_auc": 0.79}


def test_aliases_start_unset(registry: ModelRegistry) -> None:
    assert registry.version_of(CHAMPION) is None
    assert registry.version_of(CHALLENGER) is None
    assert registry.history() == []
    with pytest.raises(UnknownModelVersion, match="no version with alias 'champion'"):
        registry.download(CHAMPION, Path("never-made"))
    with pytest.raises(UnknownModelVersion, match="has no version 9"):
        registry.set_challenger("9")


def test_a_model_never_registered_has_no_alias_nor_history(store: tuple[str, str, Path]) -> None:
    other = ModelRegistry(store[0], name="never-registered")
    assert other.version_of(CHAMPION) is None
    assert other.history() == []


def test_the_first_promotion_needs_no_champion(registry: ModelRegistry) -> None:
    decision = compare(None, GOOD)
    assert decision == PromotionDecision(True, ["no champion yet"])
    registry.set_challenger("1")
    assert registry.promote(decision) == "1"
    assert registry.version_of(CHAMPION) == "1"
    assert registry.version_of(CHALLENGER) is None  # released for the next candidate
    assert registry.history() == []


def test_promotions_keep_the_previous_champions(registry: ModelRegistry) -> None:
    for version in ("1", "2", "3"):
        assert _promote(registry, version) == version
    assert registry.history() == [
        {"version": "1", "replaced_by": "2", "replaced_at": "2026-11-23T09:02:00+00:00"},
        {"version": "2", "replaced_by": "3", "replaced_at": "2026-11-23T09:03:00+00:00"},
    ]
    promoted = registry.client.get_model_version(registry.name, "3").tags["promoted_at"]
    assert promoted == "2026-11-23T09:03:00+00:00"


def test_a_refused_promotion_says_why_and_changes_nothing(registry: ModelRegistry) -> None:
    _promote(registry, "1")
    registry.set_challenger("3")
    worse = {**GOOD, "late_roc_auc": 0.79}
    decision = compare(GOOD, worse)
    assert not decision.allowed
    with pytest.raises(PromotionRefused, match=r"late_roc_auc: challenger 0\.7900") as refused:
        registry.promote(decision)
    assert refused.value.reasons == decision.reasons
    assert registry.version_of(CHAMPION) == "1"
    assert registry.version_of(CHALLENGER) == "3"
    assert registry.history() == []


def test_promotion_without_a_challenger_is_refused(registry: ModelRegistry) -> None:
    with pytest.raises(NoChallenger, match="no challenger"):
        registry.promote(PromotionDecision(True, []))
    _promote(registry, "2")
    registry.set_challenger("2")
    with pytest.raises(NoChallenger, match="version 2, is already the champion"):
        registry.promote(PromotionDecision(True, []))


def test_rollback_twice_then_nothing_left(registry: ModelRegistry) -> None:
    for version in ("1", "2", "3"):
        _promote(registry, version)
    registry.set_challenger("2")
    assert registry.rollback() == "2"
    assert registry.version_of(CHAMPION) == "2"
    assert [entry["version"] for entry in registry.history()] == ["1"]
    tags = registry.client.get_model_version(registry.name, "3").tags
    assert "rolled_back_at" in tags
    assert registry.rollback() == "1"
    assert registry.version_of(CHAMPION) == "1"
    assert registry.version_of(CHALLENGER) == "2"  # a rollback never touches the challenger
    with pytest.raises(NothingToRollBack, match="no previous champion"):
        registry.rollback()
    assert registry.version_of(CHAMPION) == "1"


def test_the_champion_bundle_downloads_unchanged(
    registry: ModelRegistry, store: tuple[str, str, Path], tmp_path: Path
) -> None:
    _promote(registry, "2")
    bundle = registry.download(CHAMPION, tmp_path / "download")
    original = store[2] / "v2"
    files = sorted(p.relative_to(original) for p in original.rglob("*") if p.is_file())
    assert sorted(p.relative_to(bundle) for p in bundle.rglob("*") if p.is_file()) == files
    for name in files:
        assert (bundle / name).read_bytes() == (original / name).read_bytes()
    again = registry.download("1", tmp_path / "again")
    assert again.joinpath("model.json").read_text() == '{"coefficient": 1.0}'


def test_the_champion_loads_as_a_pyfunc_model(
    registry: ModelRegistry, store: tuple[str, str, Path]
) -> None:
    _promote(registry, "2")
    with _global_tracking(store[0]):
        model = mlflow.pyfunc.load_model("models:/credit-risk@champion")
        predictions = model.predict(INPUT_EXAMPLE)
    assert np.asarray(predictions).tolist() == pytest.approx([0.045, 0.615])


def test_log_bundle_in_the_active_run(registry: ModelRegistry, tmp_path: Path) -> None:
    other = ModelRegistry(registry.tracking_uri, name="credit-risk-active-run")
    bundle = _write_bundle(tmp_path / "bundle", 0.5)
    experiment = registry.client.get_experiment_by_name("credit-risk")
    assert experiment is not None
    with (
        _global_tracking(registry.tracking_uri),
        mlflow.start_run(experiment_id=experiment.experiment_id) as run,
    ):
        version = other.log_bundle(
            bundle, input_example=INPUT_EXAMPLE, loader=loader_reference(load_coefficient_bundle)
        )
    assert version == "1"
    assert registry.client.get_model_version(other.name, "1").run_id == run.info.run_id


def test_log_bundle_needs_a_run_and_a_bundle(registry: ModelRegistry, tmp_path: Path) -> None:
    bundle = _write_bundle(tmp_path / "bundle", 1.0)
    with pytest.raises(ValueError, match="needs an MLflow run"):
        registry.log_bundle(bundle, input_example=INPUT_EXAMPLE, loader=load_coefficient_bundle)
    with pytest.raises(ValueError, match="is not a directory"):
        registry.log_bundle(
            tmp_path / "missing", input_example=INPUT_EXAMPLE, loader=load_coefficient_bundle
        )


# --- loaders (pure) ---------------------------------------------------------------------------


def test_a_loader_is_stored_by_name() -> None:
    expected = "tests.training.test_registry:load_coefficient_bundle"
    assert loader_reference(load_coefficient_bundle) == expected
    assert loader_reference(expected) == expected


@pytest.mark.parametrize(
    ("loader", "message"),
    [
        (lambda path: path, "must be a module-level function"),
        ("tests.training.test_registry", "looks like 'package.module:function'"),
        ("tests.training.test_registry:no_such_loader", "has no no_such_loader"),
        ("tests.training.test_registry:GOOD", "is not callable"),
    ],
)
def test_unusable_loaders_are_refused(loader: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        loader_reference(loader)  # type: ignore[arg-type]


# --- promotion rules (pure) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "failed"),
    [
        ({}, []),
        ({"late_roc_auc": 0.7981}, []),  # within 0.002
        ({"late_roc_auc": 0.7979},
         ["late_roc_auc: challenger 0.7979 is more than 0.002 below champion 0.8000"]),
        ({"severe_roc_auc": 0.84},
         ["severe_roc_auc: challenger 0.8400 is more than 0.002 below champion 0.8500"]),
        ({"late_brier": 0.1519}, []),
        ({"late_brier": 0.1521},
         ["late_brier: challenger 0.1521 is more than 0.002 above champion 0.1500"]),
        ({"severe_brier": 0.07},
         ["severe_brier: challenger 0.0700 is more than 0.002 above champion 0.0600"]),
        ({"late_ece": 0.02}, []),  # at the absolute limit
        ({"late_ece": 0.03},
         ["late_ece: challenger 0.0300 is above 0.02 and above champion (0.0100)"]),
        ({"late_roc_auc": 0.70, "late_ece": 0.05}, [
            "late_roc_auc: challenger 0.7000 is more than 0.002 below champion 0.8000",
            "late_ece: challenger 0.0500 is above 0.02 and above champion (0.0100)",
        ]),
        ({"late_roc_auc": math.nan}, ["late_roc_auc: the challenger has no value"]),
    ],
)  # fmt: skip
def test_promotion_rules(changes: dict[str, float], failed: list[str]) -> None:
    decision = compare(GOOD, {**GOOD, **changes})
    assert decision.allowed is (not failed)
    if failed:
        assert decision.reasons == failed
    else:
        assert len(decision.reasons) == 6  # every check, passed, for the record


def test_an_ece_worse_than_the_limit_passes_if_not_worse_than_the_champion() -> None:
    champion = {**GOOD, "severe_ece": 0.04}
    assert compare(champion, {**GOOD, "severe_ece": 0.035}).allowed
    decision = compare(champion, {**GOOD, "severe_ece": 0.045})
    assert decision.reasons == [
        "severe_ece: challenger 0.0450 is above 0.02 and above champion (0.0400)"
    ]


def test_a_metric_missing_on_either_side_refuses() -> None:
    without = {k: v for k, v in GOOD.items() if k != "severe_brier"}
    assert compare(GOOD, without).reasons == ["severe_brier: the challenger has no value"]
    assert compare(without, GOOD).reasons == [
        "severe_brier: the champion has no value to compare with"
    ]


def test_rules_can_be_tuned() -> None:
    lenient = PromotionRules(targets=("late",), max_auc_drop=0.05)
    assert compare(GOOD, {**GOOD, "late_roc_auc": 0.76, "severe_roc_auc": 0.5}, lenient).allowed

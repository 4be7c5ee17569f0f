"""The scoring model as files: what training writes and what the service loads.

A bundle is a directory: three LightGBM boosters as text (P(late), P(severe), days late),
isotonic calibrators as threshold arrays, the feature list, the grade bands, the population
stability references, and a manifest holding each file's SHA-256. Loading checks the manifest,
so a truncated or corrupted file is refused with a clear error instead of serving garbage; no
pickle is involved, so loading a bundle runs no code from it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.drift import SCORE_REFERENCE, DriftReport, PsiReference, drift_report
from features.errors import CreditRiskError
from features.grades import GradeBands
from features.single_row import CONTRIBUTIONS, NORMAL, SingleRowPredictor

BUNDLE_FORMAT = 1
TARGETS = ("late", "severe")
_BOOSTERS = ("late", "severe", "days_late")
MANIFEST = "manifest.json"
# Insolvency proceedings (safeguard, receivership, liquidation) opened within this many days
# put a floor under the company's risk; conciliation (confidential, preventive) does not.
ACTIVE_PROCEEDING_DAYS = 540
ACTIVE_PROCEEDING_SEVERITY = 2
_PROCEEDING_FEATURES = ("proceeding_severity", "days_since_proceeding")
_THREADED_ROWS = 2_000  # rows from which a prediction uses every core it may


class InvalidModelBundle(CreditRiskError):
    """A model directory that is missing files, corrupted, or of another format."""


@dataclass(frozen=True)
class IsotonicCalibrator:
    """A monotone map from raw to calibrated probability, as (x, y) thresholds."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y) or len(self.x) < 2:
            raise ValueError("a calibrator needs at least two (x, y) thresholds of equal count")
        if any(b < a for a, b in zip(self.x, self.x[1:], strict=False)):
            raise ValueError("calibrator thresholds must be sorted")

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        x, y, bounded = self._arrays
        calibrated = np.interp(raw, x, y)
        # Thresholds within [0, 1] give values within [0, 1]: the clip (most of what a single
        # score's calibration costs once the arrays are made) is only needed for others.
        return calibrated if bounded else np.clip(calibrated, 0.0, 1.0)

    @functools.cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """The thresholds as arrays, made once: np.interp would convert the tuples on every
        call (most of a single score's calibration)."""
        y = np.asarray(self.y, dtype=float)
        return np.asarray(self.x, dtype=float), y, bool(np.all((y >= 0.0) & (y <= 1.0)))


@dataclass(frozen=True)
class Scores:
    """The model's outputs for some rows, one array each, in row order."""

    p_late: np.ndarray
    p_severe: np.ndarray  # never above p_late
    expected_days_late: np.ndarray
    grade: np.ndarray  # "A" (safest) to "E"


@dataclass(frozen=True)
class ScoringModel:
    """Calibrated P(late), P(severe) and expected days late from the point-in-time features."""

    boosters: Mapping[str, lgb.Booster]
    calibrators: Mapping[str, IsotonicCalibrator]
    features: tuple[str, ...]
    bands: GradeBands = field(default_factory=GradeBands)
    psi_references: Mapping[str, PsiReference] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # Lowest P(late) and P(severe) for a company under active insolvency proceedings. One
    # supplier's ledger holds few such cases, too few for the trees to weigh them, while the
    # registry fact is decisive: training sets these from the cases it has, shrunk to a prior.
    proceedings_floor: Mapping[str, float] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unversioned"))

    def matrix(self, features: pd.DataFrame) -> np.ndarray:
        if tuple(features.columns) == self.features:  # already in order: no column look-ups
            return features.to_numpy(dtype=float)
        missing = [name for name in self.features if name not in features.columns]
        if missing:
            raise ValueError(f"features missing for the model: {', '.join(missing)}")
        return features[list(self.features)].to_numpy(dtype=float)

    def drift(self, features: pd.DataFrame) -> DriftReport:
        """PSI of the monitored features and of the model's own score on these rows, against
        the references stored with the model."""
        scored = features
        if SCORE_REFERENCE in self.psi_references and SCORE_REFERENCE not in features.columns:
            scored = features.assign(**{SCORE_REFERENCE: self.predict(features)[SCORE_REFERENCE]})
        return drift_report(self.psi_references, scored)

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """p_late, p_severe (never above p_late), expected_days_late and grade per row."""
        scores = self.scores(features)
        return pd.DataFrame(
            {
                "p_late": scores.p_late,
                "p_severe": scores.p_severe,
                "expected_days_late": scores.expected_days_late,
                "grade": scores.grade,
            },
            index=features.index,
        )

    def scores(self, features: pd.DataFrame) -> Scores:
        """What `predict` gives, as arrays."""
        under = under_proceedings(features) if self.proceedings_floor else None
        return self._scores(self.matrix(features), under)

    def scores_of(self, rows: np.ndarray, columns: Sequence[str]) -> Scores:
        """`scores` of feature rows held as an array whose columns are `columns`: a frame costs
        more than scoring a few rows."""
        columns = tuple(columns)
        under = None
        if self.proceedings_floor:
            severity, since = self._positions(columns, _PROCEEDING_FEATURES)
            under = _under_proceedings(rows[:, severity], rows[:, since])
        return self._scores(self._model_rows(rows, columns), under)

    def contributions_of(
        self, rows: np.ndarray, columns: Sequence[str], target: str = "late"
    ) -> np.ndarray:
        """`contributions` of feature rows held as an array whose columns are `columns`; the
        result's columns are `contribution_names`."""
        x = self._model_rows(rows, tuple(columns))
        single = self._single_row(target, CONTRIBUTIONS) if len(x) == 1 else None
        if single is not None:
            return single(x[0])[None, :]
        raw = self.boosters[target].predict(x, pred_contrib=True, num_threads=_threads(x))
        return np.asarray(raw, dtype=float)

    @functools.cached_property
    def contribution_names(self) -> tuple[str, ...]:
        """The columns of `contributions_of`: the model's features, then `bias`."""
        return (*self.features, "bias")

    def _model_rows(self, rows: np.ndarray, columns: tuple[str, ...]) -> np.ndarray:
        """The model's features of rows whose columns are `columns`, as C-ordered floats."""
        if columns == self.features:  # already in order: no columns to pick
            return np.ascontiguousarray(rows, dtype=float)
        return rows[:, self._positions(columns, self.features)].astype(float, order="C")

    @staticmethod
    @functools.cache
    def _positions(columns: tuple[str, ...], wanted: tuple[str, ...]) -> list[int]:
        missing = [name for name in wanted if name not in columns]
        if missing:
            raise ValueError(f"features missing for the model: {', '.join(missing)}")
        return [columns.index(name) for name in wanted]

    def _scores(self, x: np.ndarray, under: np.ndarray | None) -> Scores:
        p_late = self.calibrators["late"](self._raw("late", x))
        p_severe = self.calibrators["severe"](self._raw("severe", x))
        if under is not None:
            p_late = np.where(under, np.maximum(p_late, self.proceedings_floor["late"]), p_late)
            p_severe = np.where(
                under, np.maximum(p_severe, self.proceedings_floor["severe"]), p_severe
            )
        p_severe = np.minimum(p_severe, p_late)
        return Scores(p_late, p_severe, self._raw("days_late", x), self.bands.grade_of(p_late))

    def _raw(self, name: str, x: np.ndarray) -> np.ndarray:
        single = self._single_row(name, NORMAL) if len(x) == 1 else None
        if single is not None:
            return single(x[0])
        return np.asarray(self.boosters[name].predict(x, num_threads=_threads(x)), dtype=float)

    def _single_row(self, name: str, kind: int) -> SingleRowPredictor | None:
        """The booster's single-row predictor of this kind, made on first use."""
        made = self._single_rows
        if (name, kind) not in made:
            made[name, kind] = SingleRowPredictor.of(self.boosters[name], kind)
        return made[name, kind]

    @functools.cached_property
    def _single_rows(self) -> dict[tuple[str, int], SingleRowPredictor | None]:
        return {}

    def contributions(self, features: pd.DataFrame, target: str = "late") -> pd.DataFrame:
        """Per-feature contributions to the raw log-odds of a target (LightGBM SHAP values);
        the column `bias` holds the expected value."""
        x = self.matrix(features)
        raw = self.boosters[target].predict(x, pred_contrib=True, num_threads=_threads(x))
        columns = self._contribution_columns
        return pd.DataFrame(np.asarray(raw), columns=columns, index=features.index)

    @functools.cached_property
    def _contribution_columns(self) -> pd.Index:
        return pd.Index(self.contribution_names)  # built once: an index costs more than a row

    # ---- files ---------------------------------------------------------------------------

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        files: dict[str, bytes] = {
            f"{name}.lgb.txt": self.boosters[name].model_to_string().encode() for name in _BOOSTERS
        }
        files["model.json"] = json.dumps(self._description(), indent=1, sort_keys=True).encode()
        for name, content in files.items():
            (directory / name).write_bytes(content)
        manifest = {
            "format": BUNDLE_FORMAT,
            "files": {name: hashlib.sha256(content).hexdigest() for name, content in files.items()},
        }
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        return directory

    def _description(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "calibrators": {
                k: {"x": list(c.x), "y": list(c.y)} for k, c in self.calibrators.items()
            },
            "bands": self.bands.to_dict(),
            "psi_references": {k: r.to_dict() for k, r in self.psi_references.items()},
            "metadata": dict(self.metadata),
            "proceedings_floor": dict(self.proceedings_floor),
        }

    @classmethod
    def load(cls, directory: Path) -> ScoringModel:
        """Load a bundle, checking every file against the manifest first."""
        contents = _verified_files(directory)
        try:
            description = json.loads(contents["model.json"])
            boosters = {
                name: lgb.Booster(model_str=contents[f"{name}.lgb.txt"].decode())
                for name in _BOOSTERS
            }
            model = cls(
                boosters=boosters,
                calibrators={
                    k: IsotonicCalibrator(tuple(v["x"]), tuple(v["y"]))
                    for k, v in description["calibrators"].items()
                },
                features=tuple(description["features"]),
                bands=GradeBands.from_dict(description["bands"]),
                psi_references={
                    k: PsiReference.from_dict(v)
                    for k, v in description.get("psi_references", {}).items()
                },
                metadata=description.get("metadata", {}),
                proceedings_floor=description.get("proceedings_floor", {}),
            )
        except (KeyError, ValueError, TypeError, lgb.basic.LightGBMError) as error:
            raise InvalidModelBundle(f"model bundle {directory} is unreadable: {error}") from None
        model._check_shapes(directory)
        return model

    def _check_shapes(self, directory: Path) -> None:
        for name, booster in self.boosters.items():
            if booster.num_feature() != len(self.features):
                raise InvalidModelBundle(
                    f"model bundle {directory}: booster {name} expects {booster.num_feature()} "
                    f"features, the bundle lists {len(self.features)}"
                )
        missing = set(TARGETS) - set(self.calibrators)
        if missing:
            raise InvalidModelBundle(f"model bundle {directory}: no calibrator for {missing}")


def _threads(x: np.ndarray) -> int:
    """OpenMP threads for predicting these rows: one below _THREADED_ROWS, else one per core
    this process may use (10,000 rows take half the time on two). A single request's few rows
    stay on one thread: idle OpenMP threads spin, and a thread on a core busy with another
    worker slowed a single row down a hundredfold. Explicit, because the service's workers set
    OMP_NUM_THREADS=1 for LightGBM's default."""
    return 1 if len(x) < _THREADED_ROWS else len(os.sched_getaffinity(0))


def under_proceedings(features: pd.DataFrame) -> np.ndarray:
    """Rows whose company had insolvency proceedings opened recently (see the constants)."""
    severity, since = (features[name].to_numpy(dtype=float) for name in _PROCEEDING_FEATURES)
    return _under_proceedings(severity, since)


def _under_proceedings(severity: np.ndarray, since: np.ndarray) -> np.ndarray:
    return (severity >= ACTIVE_PROCEEDING_SEVERITY) & (since <= ACTIVE_PROCEEDING_DAYS)


def _verified_files(directory: Path) -> dict[str, bytes]:
    manifest_path = directory / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as error:
        raise InvalidModelBundle(
            f"model bundle {directory} has no readable {MANIFEST}: {error}"
        ) from None
    if manifest.get("format") != BUNDLE_FORMAT:
        raise InvalidModelBundle(
            f"model bundle {directory} is of format {manifest.get('format')!r}; this version "
            f"reads format {BUNDLE_FORMAT}"
        )
    contents = {}
    for name, digest in manifest.get("files", {}).items():
        try:
            content = (directory / name).read_bytes()
        except OSError:
            raise InvalidModelBundle(f"model bundle {directory} lacks the file {name}") from None
        if hashlib.sha256(content).hexdigest() != digest:
            raise InvalidModelBundle(
                f"model bundle {directory}: {name} does not match its checksum (corrupted or "
                "truncated); keep serving the previous model and retrain or re-download"
            )
        contents[name] = content
    return contents


def bundle_version(directory: Path) -> str:
    """A short content hash identifying a saved bundle."""
    return hashlib.sha256((directory / MANIFEST).read_bytes()).hexdigest()[:12]


def top_contributions(
    contributions: pd.DataFrame, count: int = 4, features: Sequence[str] | None = None
) -> list[list[tuple[str, float]]]:
    """The `count` features pushing each row's risk most (largest absolute contribution)."""
    names = list(features or [c for c in contributions.columns if c != "bias"])
    values = contributions[names].to_numpy()
    order = np.argsort(-np.abs(values), axis=1)[:, :count]
    return [
        [(names[j], float(values[i, j])) for j in row if values[i, j] != 0]
        for i, row in enumerate(order)
    ]

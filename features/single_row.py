"""One row predicted by LightGBM without `Booster.predict`'s set-up on every call.

`Booster.predict` turns its parameters into a string, which LightGBM's C library parses into a
configuration and a predictor, for every call: for the single row of a score, that set-up
costs about twice the prediction itself. LightGBM's C API has a single-row path whose
configuration is made once (`LGBM_BoosterPredictForMatSingleRowFastInit`) and reused by each
call (`LGBM_BoosterPredictForMatSingleRowFast`); the Python package does not wrap it, so this
module does, through the library handle the package has loaded. Both paths run the same
prediction code: the values are equal to the last bit (the tests compare them). Both must ask
for the same iterations (the best one's, else all, as `predict` does): LightGBM's booster keeps
the iterations its last predictor asked for, for every predictor.

When the handle or the functions are missing (another LightGBM build), `SingleRowPredictor.of`
gives None and callers keep to `Booster.predict`.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import lightgbm as lgb
import numpy as np

__all__ = ["CONTRIBUTIONS", "NORMAL", "SingleRowPredictor"]

NORMAL = 0  # C_API_PREDICT_NORMAL: the prediction, transformed as the objective says
CONTRIBUTIONS = 3  # C_API_PREDICT_CONTRIB: SHAP values of each feature, then the expected value
_FLOAT64 = 1  # C_API_DTYPE_FLOAT64


def _library() -> Any:
    from lightgbm import basic

    library = getattr(basic, "_LIB", None)
    wanted = (
        "LGBM_BoosterPredictForMatSingleRowFastInit",
        "LGBM_BoosterPredictForMatSingleRowFast",
        "LGBM_FastConfigFree",
        "LGBM_GetLastError",
    )
    if library is None or not all(hasattr(library, name) for name in wanted):
        return None
    return library


class SingleRowPredictor:
    """Predicts one row at a time for one booster and one kind of prediction.

    The booster must stay unchanged while the predictor lives (a loaded model never changes);
    calls from several threads take turns, as LightGBM's single-row predictor is shared.
    """

    def __init__(self, library: Any, booster: lgb.Booster, kind: int) -> None:
        self._library = library
        self._booster = booster  # the configuration points into it: keep it alive
        self.width = booster.num_feature()
        handle = ctypes.c_void_p()
        self._check(
            library.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(kind),
                ctypes.c_int(0),  # from the first iteration to the best, as `predict` does
                ctypes.c_int(booster.best_iteration if booster.best_iteration > 0 else -1),
                ctypes.c_int(_FLOAT64),
                ctypes.c_int32(self.width),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(handle),
            )
        )
        self._handle: ctypes.c_void_p | None = handle
        self._out = np.empty(self.width + 1 if kind == CONTRIBUTIONS else 1)
        self._out_length = ctypes.c_int64()
        self._out_pointer = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._lock = threading.Lock()

    @classmethod
    def of(cls, booster: lgb.Booster, kind: int) -> SingleRowPredictor | None:
        """The predictor, or None when this LightGBM does not offer the single-row path."""
        library = _library()
        if library is None or booster.num_model_per_iteration() != 1:
            return None
        return cls(library, booster, kind)

    def __call__(self, row: np.ndarray) -> np.ndarray:
        """The prediction (a copy) of one row of `width` float features, in the booster's
        order: one value, or for CONTRIBUTIONS one per feature and then the expected value."""
        values = np.ascontiguousarray(row, dtype=np.float64).reshape(-1)
        if len(values) != self.width:
            raise ValueError(f"the row has {len(values)} features, the model {self.width}")
        with self._lock:
            if self._handle is None:
                raise RuntimeError("the predictor was freed")
            self._check(
                self._library.LGBM_BoosterPredictForMatSingleRowFast(
                    self._handle,
                    values.ctypes.data_as(ctypes.c_void_p),
                    ctypes.byref(self._out_length),
                    self._out_pointer,
                )
            )
            return self._out.copy()

    def _check(self, code: int) -> None:
        if code != 0:
            self._library.LGBM_GetLastError.restype = ctypes.c_char_p
            message = self._library.LGBM_GetLastError()
            raise lgb.basic.LightGBMError(message.decode() if message else "LightGBM failed")

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value is not None:
            self._library.LGBM_FastConfigFree(handle)
            self._handle = None

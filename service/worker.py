"""A serving worker process's entry point (`credit-risk serve` points uvicorn here).

LightGBM imports scikit-learn and dask when they are installed, only to offer its estimator
and cluster wrappers; a worker scores with the Booster alone. Marking them absent before
anything imports LightGBM keeps about 60 MB (scikit-learn and SciPy's modules) out of each
worker. When the process has already imported them (one worker serving inside the command's
own process), nothing changes.
"""

from __future__ import annotations

import sys

for _unused in ("sklearn", "dask"):
    sys.modules.setdefault(_unused, None)  # type: ignore[arg-type]

from service.app import app_from_env  # noqa: E402  (after the modules are marked absent)

__all__ = ["app_from_env"]

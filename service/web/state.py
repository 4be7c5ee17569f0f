"""What the web pages keep beside the service: the portfolio scoring, and caches per day."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from fastapi import Request

from service.api import ServiceState
from service.web.exposure import ExposureCache
from service.web.model_card import ModelArtifactsCache
from service.web.portfolio_scoring import (
    PortfolioRun,
    PortfolioScoring,
    latest_run_time,
    portfolio_features,
    read_run,
)

__all__ = ["WebState", "web_state"]

_CREATE = threading.Lock()


@dataclass
class WebState:
    service: ServiceState
    scoring: PortfolioScoring
    exposure: ExposureCache
    artifacts: ModelArtifactsCache = field(default_factory=ModelArtifactsCache)
    # The features of the latest portfolio scoring's customers (drift), by its time.
    _features: tuple[datetime, pd.DataFrame] | None = None
    _features_lock: threading.Lock = field(default_factory=threading.Lock)
    _runs: tuple[object, PortfolioRun | None, PortfolioRun | None] | None = None

    @classmethod
    def of(cls, service: ServiceState) -> WebState:
        web = cls(service, PortfolioScoring(service), ExposureCache(service.store))
        web.scoring.on_done += [web.warm_exposure, web.warm_artifacts, web.warm_features]
        return web

    def start(self) -> None:
        """Make sure today's portfolio scoring exists or runs, and the caches fill after it."""
        self.scoring.ensure_today()

    def warm_exposure(self) -> None:
        self.exposure.get(self.service.today())

    def warm_artifacts(self) -> None:
        if self.service.host.ready:
            self.artifacts.refresh(self.service.host.model, self.service.host.source)

    def warm_features(self) -> None:
        run = read_run(self.service.store.engine, full=False)
        if run is None:
            return
        with self._features_lock:
            if self._features is None or self._features[0] != run.decided_at:
                self._features = (run.decided_at, portfolio_features(self.service, run))

    def runs(self) -> tuple[PortfolioRun | None, PortfolioRun | None]:
        """The latest portfolio scoring and the one before it, read again only when a newer
        scoring exists (reading one means parsing thousands of stored answers)."""
        engine = self.service.store.engine
        latest_at = latest_run_time(engine)
        cached = self._runs
        if cached is not None and cached[0] == latest_at:
            return cached[1], cached[2]
        latest = read_run(engine)
        previous = (
            read_run(engine, before=latest.decided_at, full=False) if latest is not None else None
        )
        self._runs = (latest_at, latest, previous)
        return latest, previous

    def recent_features(self) -> tuple[datetime, pd.DataFrame] | None:
        return self._features


def web_state(request: Request) -> WebState:
    """The app's web state, created on first use (and today's portfolio scoring started)."""
    app_state = request.app.state
    with _CREATE:
        web: WebState | None = getattr(app_state, "web", None)
        if web is None or web.service is not app_state.service:
            web = WebState.of(app_state.service)
            app_state.web = web
    web.start()
    return web

"""The FastAPI application: `create_app(settings)` builds it; nothing is loaded at import.

The lifespan opens the ledger store and loads the model. A model that cannot be loaded at
start does not stop the process: it answers /health/live, and /health/ready says 503 and why,
until `POST /v1/model/reload` (or a restart) brings a model that passes its checks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date

import anyio
import anyio.to_thread
from fastapi import FastAPI

from features.ledger import LedgerStore
from service.api import ServiceState, operations, score_route, v1
from service.audit import AuditLog
from service.body_limit import BodySizeLimit
from service.compression import ResponseCompression
from service.errors import ModelReloadRefused, install_error_handlers
from service.ingestion import Ingestor
from service.keys import ApiKeys
from service.metrics import RequestTiming, ServiceMetrics
from service.model_host import (
    BundleDirectory,
    ModelHost,
    ModelSource,
    RegistryAlias,
    ServedCopy,
)
from service.records import migrate_service_tables
from service.rounds import ScoreRounds
from service.scoring import Scorer, probe_features
from service.settings import ServiceSettings
from service.terms import default_policy, load_policy
from service.terms.rates_due import rates_days_left
from service.web import install_web

__all__ = ["app_from_env", "create_app", "model_source", "served_copy"]

log = logging.getLogger(__name__)

DESCRIPTION = """\
Credit risk of French B2B customers and prospects: probability of late and of severely late
payment, expected payment date, grade A (lowest risk) to E, and the reasons in French and
English, and the payment terms to offer. Every /v1 call needs an API key (`X-API-Key` header)
whose roles allow it: sales (score, read), erp (score, ingest), analyst (model, policy, decision
log). Errors are JSON `{"error", "message", "fields"}`; bad input is always a 4xx naming the
field. A request body may be sent compressed (`Content-Encoding: zstd` or `gzip`; its decoded
size is held to the body limit), and a batch's answer is compressed for a client whose
`Accept-Encoding` allows it.
"""


def model_source(settings: ServiceSettings) -> ModelSource:
    if settings.model_dir is not None:
        return BundleDirectory(settings.model_dir)
    return RegistryAlias(settings.registry_uri, settings.model_name, settings.model_alias)


def served_copy(settings: ServiceSettings) -> ServedCopy | None:
    """Where workers keep the registry model they serve, for their next start; none for a
    bundle directory (it is on local disk already) or when the setting is off."""
    if settings.model_dir is not None or not settings.keep_served_model:
        return None
    return ServedCopy(settings.served_model_dir)


def create_app(settings: ServiceSettings, *, today: Callable[[], date] = date.today) -> FastAPI:
    """The service for these settings; `today` is the clock of decisions (a test seam)."""
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        app.state.health_threads = anyio.CapacityLimiter(1)  # readiness checks the database
        store = LedgerStore.open(
            settings.ledger_url, cache_mb=settings.sqlite_cache_mb, background_checkpoints=True
        )
        migrate_service_tables(store.engine)
        host = ModelHost(
            model_source(settings),
            probe=lambda: probe_features(store, today()),
            copy=served_copy(settings),
        )
        policy = load_policy(settings.policy_path) if settings.policy_path else default_policy()
        scorer = Scorer(store, host, today, policy, settings.memory_ledger_max_rows)
        metrics.watch_policy_rates(lambda: rates_days_left(policy, today()))
        audit = AuditLog(store.engine)
        app.state.service = ServiceState(
            settings, store, host, scorer, metrics, today,
            keys=ApiKeys(store.engine),
            audit=audit,
            ingestor=Ingestor(store, today),
            rounds=ScoreRounds(scorer, audit, metrics),
        )  # fmt: skip
        for warning in app.state.service.policy_warnings():  # as readiness lists them
            log.warning("%s", warning)
        try:
            host.start()
            metrics.serving(host.model.version)
        except ModelReloadRefused as error:
            log.error("no model loaded at start: %s", error)
        watch = _ModelWatch(host, metrics, settings.model_watch_seconds)
        try:
            yield
        finally:
            watch.stop()
            scorer.whole_ledger.stop()
            host.stop()
            app.state.service.keys.close()
            app.state.service.audit.close()
            store.close()

    app = FastAPI(
        title="credit-risk",
        version="1",
        summary="Payment-risk scoring of French B2B customers and prospects",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(v1)
    app.include_router(operations)
    install_web(app)  # the web pages for sales reps and analysts
    app.router.routes.insert(0, score_route)  # first: the hot path (see service.api)
    app.add_middleware(ResponseCompression)  # innermost: sees the responses as made
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestTiming, metrics=metrics)  # outermost: times 413s too
    return app


def app_from_env() -> FastAPI:
    """The app configured from CREDIT_RISK_* variables (uvicorn's factory)."""
    return create_app(ServiceSettings())


class _ModelWatch:
    """A daemon thread reloading the model when its source moves (each worker has its own, so
    every worker follows the alias, whichever one received a reload request)."""

    def __init__(self, host: ModelHost, metrics: ServiceMetrics, seconds: float) -> None:
        self._host, self._metrics, self._seconds = host, metrics, seconds
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        if seconds > 0:
            self._thread = threading.Thread(target=self._run, name="model-watch", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self._seconds):
            try:
                outcome = self._host.reload_if_moved()
            except ModelReloadRefused as error:
                log.error("the model source moved but the new model was refused: %s", error)
                continue
            if outcome is not None:
                log.info("model source moved: now serving %s", outcome.version)
                self._metrics.serving(self._host.model.version)

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

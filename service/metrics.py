"""Prometheus metrics of one app: request latency, scores by grade, the serving model.

Each app gets its own registry, so that several apps in one process (tests, workers) never
register a metric twice.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestTiming", "ServiceMetrics"]

# Scoring one subject takes milliseconds; a full batch, seconds.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_ROUND_SIZES = (1, 2, 4, 8, 16, 32, 64, 128)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "credit_risk_request_seconds",
            "Time to answer an HTTP request, by route template and status",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.scores = Counter(
            "credit_risk_scores",
            "Subjects scored, by grade",
            ["grade"],
            registry=self.registry,
        )
        self.score_rounds = Histogram(
            "credit_risk_score_round_size",
            "Single scores answered together (those waiting on a worker at the same moment)",
            buckets=_ROUND_SIZES,
            registry=self.registry,
        )
        self.model_info = Gauge(
            "credit_risk_model_info",
            "The serving model (1 for the version serving)",
            ["version"],
            registry=self.registry,
        )
        self.policy_rates_days_left = Gauge(
            "credit_risk_policy_rates_days_left",
            "Days until the terms policy has no late-payment rates for the half-year in force "
            "(0: it has none now, and recommendations are flagged for review)",
            registry=self.registry,
        )

    def watch_policy_rates(self, days_left: Callable[[], float]) -> None:
        """The policy's days left, worked out at each scrape (the date moves on while the
        service runs)."""
        self.policy_rates_days_left.set_function(days_left)

    def scored(self, grades: Iterable[str]) -> None:
        for grade, count in collections.Counter(grades).items():  # a batch: one update per grade
            self.scores.labels(grade=grade).inc(count)

    def score_round(self, size: int) -> None:
        if size:
            self.score_rounds.observe(size)

    def serving(self, version: str) -> None:
        self.model_info.clear()
        self.model_info.labels(version=version).set(1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class RequestTiming:
    """ASGI middleware timing each request under its route template (not the raw path, which
    would make one time series per customer id)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.request_seconds.labels(
                method=scope["method"], route=route, status=str(status)
            ).observe(time.perf_counter() - started)

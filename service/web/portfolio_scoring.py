"""The portfolio scoring: every customer scored in one batch, kept in the decision log.

Scoring each customer on each view of the portfolio page would take seconds, so the page reads
the latest portfolio decisions instead (channel "portfolio", caller "portfolio"). A scoring runs
in a background thread when the web pages are first used on a day that has none yet; the pages
say so while it runs. "Grade worsened" compares each customer's decision in the latest scoring
with the one in the scoring before it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import pandas as pd
import sqlalchemy as sa

from features.ledger_tables import ledger_tables
from features.point_in_time import build_features
from service.api import ServiceState
from service.audit import logged_answers
from service.portfolio import ledger_for, read_by
from service.schemas import ScoreRequest
from service.tables import decision

__all__ = ["PORTFOLIO", "PortfolioRun", "PortfolioScoring", "latest_run_time", "read_run"]

log = logging.getLogger(__name__)

PORTFOLIO = "portfolio"  # the channel and the caller of portfolio decisions
_BATCH = 5_000
RETRY_SECONDS = 300  # after a failure (e.g. no model loaded yet), try again at most this often
GRADE_ORDER = {grade: i for i, grade in enumerate("ABCDE")}


@dataclass(frozen=True)
class PortfolioRun:
    """One portfolio scoring: its decisions, one row per customer (index customer_id)."""

    decided_at: datetime
    as_of: date
    model_version: str
    decisions: pd.DataFrame  # siren, name, grade, p_late, p_severe, credit_limit, review


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; the decision log writes UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _run_columns() -> tuple[Any, ...]:
    return (decision.c.customer_id, decision.c.siren, decision.c.grade, decision.c.p_late,
            decision.c.p_severe, decision.c.as_of, decision.c.model_version,
            decision.c.decided_at)  # fmt: skip


def latest_run_time(engine: sa.Engine) -> object:
    """When the latest portfolio scoring was recorded (as stored), or None."""
    query = sa.select(sa.func.max(decision.c.decided_at)).where(decision.c.channel == PORTFOLIO)
    with engine.connect() as connection:
        return connection.execute(query).scalar_one_or_none()


def read_run(
    engine: sa.Engine,
    *,
    before: datetime | None = None,
    first_of_model: str | None = None,
    full: bool = True,
) -> PortfolioRun | None:
    """The latest portfolio scoring (the latest before `before`, or the first one made with
    the model version `first_of_model`); `full` also reads each decision's terms (credit
    limit) and the customer's name from the stored answer."""
    moment = sa.func.min if first_of_model is not None else sa.func.max
    chosen = sa.select(moment(decision.c.decided_at)).where(decision.c.channel == PORTFOLIO)
    if before is not None:
        chosen = chosen.where(decision.c.decided_at < before)
    if first_of_model is not None:
        chosen = chosen.where(decision.c.model_version == first_of_model)
    columns = _run_columns()
    if full:
        columns += (decision.c.response, decision.c.chunk_id, decision.c.chunk_item)
    query = sa.select(*columns).where(
        decision.c.channel == PORTFOLIO, decision.c.decided_at == chosen.scalar_subquery()
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        answers = logged_answers(connection, rows) if full else []
    if not rows:
        return None
    frame = pd.DataFrame(
        [(r.customer_id, r.siren, r.grade, r.p_late, r.p_severe) for r in rows],
        columns=["customer_id", "siren", "grade", "p_late", "p_severe"],
    ).set_index("customer_id")
    if full:
        frame["name"] = [a["subject"].get("name") for a in answers]
        frame["credit_limit"] = [
            (a.get("terms") or {}).get("credit_limit", float("nan")) for a in answers
        ]
        frame["review"] = [bool(a.get("review_required")) for a in answers]
    first = rows[0]
    return PortfolioRun(
        decided_at=_aware(first.decided_at),
        as_of=date.fromisoformat(str(first.as_of)),
        model_version=str(first.model_version),
        decisions=frame,
    )


Status = Literal["idle", "running", "done", "failed"]


@dataclass
class PortfolioScoring:
    """Runs today's portfolio scoring once, in the background, and remembers how it went."""

    state: ServiceState
    status: Status = "idle"
    message: str = ""
    on_done: list[Callable[[], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _done_on: date | None = None
    _failed_at: float = 0.0

    def scored_today(self) -> bool:
        run = read_run(self.state.store.engine, full=False)
        return run is not None and run.as_of == self.state.today()

    def ensure_today(self) -> None:
        """Start today's scoring in a thread unless it exists or runs; then the `on_done` work."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            if self.status == "done" and self._done_on == self.state.today():
                return
            if self.status == "failed" and time.monotonic() - self._failed_at < RETRY_SECONDS:
                return
            self.status, self.message = "running", ""
            self._thread = threading.Thread(
                target=self._work, name="portfolio-scoring", daemon=True
            )
            self._thread.start()

    @property
    def busy(self) -> bool:
        """Scoring, or filling the caches after it."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def wait(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _work(self) -> None:
        today = self.state.today()
        try:
            if not self.scored_today():
                self.score_now()
        except Exception as error:  # a background thread has nobody else to tell
            log.exception("portfolio scoring failed")
            self.status, self.message = "failed", f"{type(error).__name__}: {error}"
            self._failed_at = time.monotonic()
            return
        # Done as far as the pages can tell; the caches fill after (a page needing one waits).
        self.status, self._done_on = "done", today
        for task in self.on_done:
            try:
                task()
            except Exception:
                log.exception("filling a web cache after the portfolio scoring failed")

    def score_now(self) -> int:
        """Score every customer now and log the decisions; the number of customers scored."""
        customer = ledger_tables["customer"]
        with self.state.store.connect() as connection:
            ids = [str(row[0]) for row in connection.execute(
                sa.select(customer.c.customer_id).order_by(customer.c.customer_id))]  # fmt: skip
        for start in range(0, len(ids), _BATCH):
            requests = [
                ScoreRequest(customer_id=i, explain=False) for i in ids[start : start + _BATCH]
            ]
            responses = self.state.scorer.score(requests, explain=False)
            self.state.audit.record(
                requests, responses, caller=PORTFOLIO, key_id=None, channel=PORTFOLIO,
                policy_version=self.state.policy_version,
            )  # fmt: skip
        return len(ids)


def portfolio_features(state: ServiceState, run: PortfolioRun) -> pd.DataFrame:
    """The features of the run's customers on its day, as the scorer built them (for drift)."""
    customers = read_by(state.store, "customer", "customer_id", list(run.decisions.index))
    ledger = ledger_for(state.store, customers, [])
    queries = pd.DataFrame(
        {
            "as_of": pd.Timestamp(run.as_of),
            "customer_id": customers["customer_id"].astype("string"),
            "siren": pd.Series(pd.NA, index=customers.index, dtype="string"),
            "amount": float("nan"),
            "terms_days": 30.0,
        }
    )
    return build_features(ledger, queries)

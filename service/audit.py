"""The decision log: every score the service gives, kept append-only for audit.

Each decision is one row: who asked (the API key's name), through which channel, the inputs as
received, the model and policy versions, the outputs as sent, and when. Rows are only ever
inserted; the database refuses updates and deletes (triggers, see the migration), and the API
offers reading only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.schemas import DecisionOut, ScoreResponse, ScoreSubject
from service.tables import decision

__all__ = ["AuditLog", "DecisionFilter"]

# Rows serialised and inserted at a time: bounds a large batch's memory, at no cost in speed.
_ROWS_PER_INSERT = 2_000
_RECORD = decision.insert()


@dataclass(frozen=True)
class DecisionFilter:
    """Which decisions to list; every criterion is optional. `before` pages backwards by entry."""

    customer_id: str | None = None
    siren: str | None = None
    grade: str | None = None
    caller: str | None = None
    channel: str | None = None
    model_version: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None
    limit: int = 100


class AuditLog:
    """Append decisions; read them back one by one or filtered, newest first."""

    def __init__(self, engine: Engine, clock: Any = None) -> None:
        self.engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))

    def record(
        self,
        requests: Sequence[ScoreSubject],
        responses: Sequence[ScoreResponse],
        *,
        caller: str,
        key_id: str | None,
        channel: str,
        policy_version: str | None,
        sent: Sequence[bytes] | None = None,
    ) -> None:
        """Append one row per (request, response), in one transaction. `sent` holds each
        response as the JSON the caller received, kept as is (serialised here otherwise).

        Rows are made and inserted a slice at a time: a batch's decisions never all sit in
        memory twice.
        """
        now = self._clock()
        answers = sent if sent is not None else [None] * len(responses)
        rows = list(zip(requests, responses, answers, strict=True))
        if not rows:
            return
        with self.engine.begin() as connection:
            for start in range(0, len(rows), _ROWS_PER_INSERT):
                values = [
                    _row(request, response, answer, now, caller, key_id, channel, policy_version)
                    for request, response, answer in rows[start : start + _ROWS_PER_INSERT]
                ]
                connection.execute(_RECORD, values)

    def get(self, decision_id: str) -> DecisionOut | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(decision).where(decision.c.decision_id == decision_id)
            ).one_or_none()
        return None if row is None else _decision(row)

    def find(self, criteria: DecisionFilter) -> list[DecisionOut]:
        """Decisions matching every given criterion, newest first, at most `limit`."""
        query = sa.select(decision).order_by(decision.c.entry.desc()).limit(criteria.limit)
        equal = {
            "customer_id": criteria.customer_id,
            "siren": criteria.siren,
            "grade": criteria.grade,
            "caller": criteria.caller,
            "channel": criteria.channel,
            "model_version": criteria.model_version,
        }
        for column, value in equal.items():
            if value is not None:
                query = query.where(decision.c[column] == value)
        if criteria.since is not None:
            query = query.where(decision.c.decided_at >= criteria.since)
        if criteria.until is not None:
            query = query.where(decision.c.decided_at < criteria.until)
        if criteria.before is not None:
            query = query.where(decision.c.entry < criteria.before)
        with self.engine.connect() as connection:
            return [_decision(row) for row in connection.execute(query)]


def _row(
    request: ScoreSubject,
    response: ScoreResponse,
    sent: bytes | None,
    now: datetime,
    caller: str,
    key_id: str | None,
    channel: str,
    policy_version: str | None,
) -> dict[str, Any]:
    return {
        "decision_id": str(response.decision_id),
        "decided_at": now,
        "caller": caller,
        "key_id": key_id,
        "channel": channel,
        "as_of": response.as_of.isoformat(),
        "customer_id": response.subject.customer_id,
        "siren": response.subject.siren,
        "amount": request.amount,
        "grade": response.grade,
        "p_late": response.p_late,
        "p_severe": response.p_severe,
        "model_version": response.model_version,
        "policy_version": policy_version,
        # Serialised by pydantic's compiled core: the log costs little beside a score.
        "request": request.model_dump_json(exclude_unset=True),
        "response": sent.decode() if sent is not None else response.model_dump_json(),
    }


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; the log writes UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _decision(row: sa.Row[Any]) -> DecisionOut:
    m = row._mapping
    return DecisionOut(
        entry=int(m["entry"]),
        decision_id=str(m["decision_id"]),
        decided_at=_aware(m["decided_at"]),
        caller=str(m["caller"]),
        channel=str(m["channel"]),
        as_of=date.fromisoformat(str(m["as_of"])),
        customer_id=m["customer_id"],
        siren=m["siren"],
        amount=m["amount"],
        grade=str(m["grade"]),
        p_late=float(m["p_late"]),
        p_severe=float(m["p_severe"]),
        model_version=str(m["model_version"]),
        policy_version=m["policy_version"],
        request=json.loads(m["request"]),
        response=json.loads(m["response"]),
    )

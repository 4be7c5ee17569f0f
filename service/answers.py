"""A score's answer as the scorer makes it: records of plain values, never changed once made,
whose JSON is that of `ScoreResponse`, the documented schema.

A batch answers ten thousand scores. Building each answer as a pydantic model (even without
validation, `model_construct`) costs more than predicting it; these records cost a fifth of
that, and pydantic's compiled core serialises them field for field as it does the model. They
are not frozen: a frozen dataclass costs seven times as much to make. The fields are the
model's, in the same order and of the same types (a test keeps them so)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal
from uuid import UUID

from pydantic import TypeAdapter

__all__ = ["ReasonAnswer", "ScoreAnswer", "SubjectAnswer", "answers_json"]


@dataclass(slots=True)
class ReasonAnswer:
    """`ReasonOut`'s fields."""

    feature: str
    direction: Literal["raises", "lowers"]
    text_fr: str
    text_en: str
    contribution: float


@dataclass(slots=True)
class SubjectAnswer:
    """`SubjectOut`'s fields."""

    customer_id: str | None
    siren: str | None
    name: str | None
    prospect: bool
    basis: str


@dataclass(slots=True)
class ScoreAnswer:
    """`ScoreResponse`'s fields."""

    decision_id: UUID
    as_of: date
    subject: SubjectAnswer
    p_late: float
    p_severe: float
    expected_days_late: float
    due_date: date
    expected_payment_date: date
    grade: Literal["A", "B", "C", "D", "E"]
    reasons: list[ReasonAnswer] | None
    review_required: bool
    review_reason: str | None
    model_version: str
    policy_version: str | None
    terms: dict[str, Any] | None


_ANSWER = TypeAdapter(ScoreAnswer)


def answers_json(answers: Sequence[ScoreAnswer]) -> list[bytes]:
    """Each answer as JSON, serialised once by pydantic's compiled core: the caller receives
    these very bytes, and the log keeps them."""
    return [_ANSWER.dump_json(answer) for answer in answers]

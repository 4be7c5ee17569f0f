"""A score's answer as the scorer makes it: records of plain values, never changed once made,
whose JSON is that of `ScoreResponse`, the documented schema.

A batch answers ten thousand scores. Building each answer as a pydantic model (even without
validation, `model_construct`) costs more than predicting it; these records cost a fifth of
that, and pydantic's compiled core serialises them field for field as it does the model. They
are not frozen: a frozen dataclass costs seven times as much to make. The fields are the
model's, in the same order and of the same types (a test keeps them so), but for the terms:
they come as their JSON, made by the terms policy (`recommended_terms_json`), and are sent as
they are."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal
from uuid import UUID

from pydantic import TypeAdapter

__all__ = ["ReasonAnswer", "ScoreAnswer", "SubjectAnswer", "answers_json", "terms_of"]


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
    terms: bytes | None  # the JSON of `RecommendedTerms.to_dict()`


_ANSWER = TypeAdapter(ScoreAnswer)
_BUT_TERMS = {"terms"}


def answers_json(answers: Sequence[ScoreAnswer]) -> list[bytes]:
    """Each answer as JSON, serialised once by pydantic's compiled core, its terms' JSON put
    in as made: the caller receives these very bytes, and the log keeps them."""
    dump = _ANSWER.dump_json
    return [
        dump(answer)
        if answer.terms is None
        # The terms are the last field: the JSON of the others, its closing brace replaced.
        else b'%b,"terms":%b}' % (dump(answer, exclude=_BUT_TERMS)[:-1], answer.terms)
        for answer in answers
    ]


def terms_of(answer: ScoreAnswer) -> dict[str, Any] | None:
    """The answer's terms as data (for pages that show them)."""
    return None if answer.terms is None else dict(json.loads(answer.terms))

"""A dunning plan laid out around the due date, and where an open invoice stands in it.

Steps come from the recommended terms (`terms["dunning_plan"]`): a day offset from the due date
(negative: before it), a channel, a tone and a level. A thank-you step waits for the payment
instead of a date; it goes last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DueMarker", "PlanStep", "StepStanding", "plan_steps", "standing", "timeline"]


@dataclass(frozen=True)
class PlanStep:
    day_offset: int
    channel: str
    tone: str
    level: int
    scheduled_on: str | None
    after_payment: bool

    @property
    def is_due_marker(self) -> bool:
        return False


@dataclass(frozen=True)
class DueMarker:
    """The due date itself, drawn between the steps before and after it."""

    scheduled_on: str | None
    day_offset: int = 0

    @property
    def is_due_marker(self) -> bool:
        return True


def plan_steps(terms: Mapping[str, Any] | None) -> list[PlanStep]:
    """The plan's steps, ordered by offset, payment-triggered ones last."""
    if not terms:
        return []
    steps = [
        PlanStep(
            day_offset=int(step["day_offset"]),
            channel=str(step["channel"]),
            tone=str(step["tone"]),
            level=int(step.get("level", 0)),
            scheduled_on=step.get("scheduled_on"),
            after_payment=step.get("trigger") == "payment",
        )
        for step in terms.get("dunning_plan", [])
    ]
    return sorted(steps, key=lambda s: (s.after_payment, s.day_offset))


def timeline(terms: Mapping[str, Any] | None) -> list[PlanStep | DueMarker]:
    """The steps with the due date inserted before the first step on or after it."""
    steps = plan_steps(terms)
    due = (terms or {}).get("deadline", {}).get("due_date")
    items: list[PlanStep | DueMarker] = []
    placed = False
    for step in steps:
        if not placed and (step.after_payment or step.day_offset >= 0):
            items.append(DueMarker(due))
            placed = True
        items.append(step)
    if not placed:
        items.append(DueMarker(due))
    return items


@dataclass(frozen=True)
class StepStanding:
    """For an open invoice `days_past_due` days after its due date (negative: before)."""

    days_past_due: int
    current: PlanStep | None  # the last step whose offset is reached
    due_today: bool  # the current step falls exactly today
    following: PlanStep | None  # the next step to come


def standing(steps: Sequence[PlanStep], days_past_due: int) -> StepStanding:
    dated = [s for s in steps if not s.after_payment]
    reached = [s for s in dated if s.day_offset <= days_past_due]
    coming = [s for s in dated if s.day_offset > days_past_due]
    current = reached[-1] if reached else None
    return StepStanding(
        days_past_due=days_past_due,
        current=current,
        due_today=current is not None and current.day_offset == days_past_due,
        following=coming[0] if coming else None,
    )

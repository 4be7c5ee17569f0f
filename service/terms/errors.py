"""Domain errors of the terms policy. The service maps them to HTTP statuses, never this package."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from features.errors import CreditRiskError

__all__ = ["InvalidPolicy", "PolicyProblem"]


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One thing wrong in a policy file: the key path (``grades.D.deposit_percent``) and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(file)'}: {self.message}"


class InvalidPolicy(CreditRiskError, ValueError):
    """A terms policy refused as a whole: nothing of it is used."""

    def __init__(self, source: str, problems: Sequence[PolicyProblem]) -> None:
        self.source = source
        self.problems = list(problems)
        listed = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(
            f"terms policy {source} refused: {len(self.problems)} problem(s)\n{listed}"
        )

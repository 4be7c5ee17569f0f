"""Domain errors of the data layer, kept apart from any transport (HTTP, CLI).

The service maps them to status codes in one place; the CLI prints them. Every error says what
was wrong and where (file, row, field), so that a user can fix the input without reading code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class CreditRiskError(Exception):
    """Base class of every error the project raises on purpose."""


class InvalidSiren(CreditRiskError, ValueError):
    """A SIREN that is not 9 digits or fails the Luhn checksum."""

    def __init__(self, value: object, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(
            f"invalid SIREN {value!r}: {reason} (a SIREN is 9 digits whose Luhn checksum is a "
            "multiple of 10: double every second digit from the right, add the digits)"
        )


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One thing wrong with one input row: where it is, which field, and why."""

    file: str
    row: int | None
    field: str
    reason: str
    value: str | None = None
    differing: tuple[str, ...] = ()  # a conflict: the fields whose stored values differ

    def __str__(self) -> str:
        where = f"{self.file}, row {self.row}" if self.row is not None else self.file
        shown = f" (value {self.value!r})" if self.value is not None else ""
        return f"{where}, field {self.field!r}: {self.reason}{shown}"


class ImportRejected(CreditRiskError):
    """An import that was refused as a whole; nothing of it was written."""

    max_listed = 20

    def __init__(self, source: str, problems: Sequence[RowProblem], total: int | None = None):
        self.source = source
        self.problems = list(problems)
        self.total = total if total is not None else len(self.problems)
        listed = "\n".join(f"  - {p}" for p in self.problems[: self.max_listed])
        more = self.total - min(len(self.problems), self.max_listed)
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(
            f"import of {source} rejected, nothing was written: {self.total} problem(s)\n"
            f"{listed}{tail}"
        )

    @classmethod
    def one(
        cls,
        source: str,
        field: str,
        reason: str,
        *,
        row: int | None = None,
        value: str | None = None,
    ) -> ImportRejected:
        """A rejection for a single problem (a whole-file problem when row is None)."""
        return cls(source, [RowProblem(source, row, field, reason, value)])


class ConflictingRecord(ImportRejected):
    """A record whose key exists already (in the store or the same file) with other contents."""


class StoreError(CreditRiskError):
    """The store cannot be reached or is not at the expected schema version."""

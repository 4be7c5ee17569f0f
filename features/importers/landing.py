"""The last step of every import: validate each table against its spec, then write atomically."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date

import pandas as pd

from features.errors import ImportRejected
from features.ledger import LedgerStore, WriteReport
from features.schemas import TABLES, validate_table

# Progress callback: (what is being done, fraction done in [0, 1]).
Progress = Callable[[str, float], None]


def no_progress(_stage: str, _fraction: float) -> None:
    """The default when nobody watches."""


def land(
    store: LedgerStore,
    typed: Mapping[str, pd.DataFrame],
    source: str,
    *,
    kind: str,
    sha256: str,
    today: date,
    progress: Progress = no_progress,
    notes: list[str] | None = None,
) -> WriteReport:
    """Validate every table (all problems of all tables are reported together), then write."""
    progress("validating", 0.0)
    clean: dict[str, pd.DataFrame] = {}
    problems: list[ImportRejected] = []
    for position, (name, frame) in enumerate(typed.items(), start=1):
        try:
            clean[name] = validate_table(TABLES[name], frame, source, today)
        except ImportRejected as rejected:
            problems.append(rejected)
        progress("validating", position / len(typed))
    if problems:
        if len(problems) == 1:
            raise problems[0]
        merged = [p for rejected in problems for p in rejected.problems]
        raise ImportRejected(source, merged, total=sum(r.total for r in problems))
    progress("writing", 0.0)
    report = store.write(clean, source, kind=kind, content_sha256=sha256)
    report.notes.extend(notes or [])
    progress("writing", 1.0)
    return report

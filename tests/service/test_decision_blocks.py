"""A subject's decisions are indexed by block of entries: listing them must still give exactly
what a scan of the whole log gives, across blocks, with every filter and page."""

from __future__ import annotations

import dataclasses
import random
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from features.ledger import LedgerStore
from service.answers import ScoreAnswer
from service.audit import AuditLog, DecisionFilter, filtered_query
from service.records import migrate_service_tables
from service.schemas import DecisionOut, ScoreRequest
from service.tables import DECISION_BLOCK, decision, decision_block
from service.terms.request import Grade

from .conftest import logged_response

# Customers and their companies; C4 is scored once only, in the first block.
SIRENS = {"C1": "552100554", "C2": "732829320", "C3": "552100554", "C4": "443061841"}
GRADES: tuple[Grade, ...] = ("A", "B", "C", "D", "E")


def _answer(pick: random.Random, customer: str) -> ScoreAnswer:
    answer = logged_response(customer, str(uuid.UUID(int=pick.getrandbits(128))))
    answer.subject = dataclasses.replace(answer.subject, siren=SIRENS[customer])
    answer.grade = pick.choice(GRADES)
    return answer


def _log(log: AuditLog, answers: list[ScoreAnswer], channel: str) -> None:
    requests = [ScoreRequest(customer_id=a.subject.customer_id) for a in answers]
    log.record(requests, answers, caller=channel, key_id=None, channel=channel,
               policy_version=None)  # fmt: skip


def _skip_to(store: LedgerStore, entry: int) -> None:
    """Put a decision of nobody's at `entry`, so that the next ones are logged after it."""
    with store.engine.begin() as connection:
        connection.execute(
            decision.insert().values(
                entry=entry, decision_id=str(uuid.uuid4()), decided_at=datetime.now(UTC),
                caller="filler", channel="score", as_of="2026-01-05", grade="C", p_late=0.3,
                p_severe=0.1, model_version="m1", request="{}", response="{}",
            )
        )  # fmt: skip
        if connection.dialect.name == "postgresql":  # the sequence goes on after it
            connection.execute(
                sa.text("SELECT setval(pg_get_serial_sequence('decision', 'entry'), :entry)"),
                {"entry": entry},
            )


@pytest.fixture
def filled(store: LedgerStore) -> AuditLog:
    """A log whose decisions spread over blocks 0, 1, 2 and 5, singles and batches mixed."""
    migrate_service_tables(store.engine)
    log = AuditLog(store.engine)
    pick = random.Random(11)
    _log(log, [_answer(pick, "C4")], "score")
    for block in (0, 1, 2, 5):
        if block:
            _skip_to(store, block * DECISION_BLOCK + pick.randrange(3))
        for _ in range(4):
            _log(log, [_answer(pick, pick.choice(["C1", "C2"]))], "score")
            batch = [_answer(pick, pick.choice(["C1", "C2", "C3"])) for _ in range(40)]
            _log(log, batch, "batch")
    return log


def _scanned(log: AuditLog, criteria: DecisionFilter) -> list[int]:
    """The entries `find` should give: every decision read and filtered here, newest first."""
    everything = log.find(DecisionFilter(limit=1_000_000))
    return [d.entry for d in everything if _matches(d, criteria)][: criteria.limit]


def _matches(found: DecisionOut, criteria: DecisionFilter) -> bool:
    equal = ("customer_id", "siren", "grade", "caller", "channel")
    return (
        all(getattr(criteria, name) in (None, getattr(found, name)) for name in equal)
        and (criteria.before is None or found.entry < criteria.before)
        and found.caller != "filler"
    )


CRITERIA = [
    DecisionFilter(customer_id="C1"),
    DecisionFilter(customer_id="C2", limit=7),
    DecisionFilter(customer_id="C3", grade="B"),
    DecisionFilter(customer_id="C4"),  # one decision, in the oldest block
    DecisionFilter(customer_id="C9"),  # none
    DecisionFilter(siren="552100554", channel="score"),
    DecisionFilter(siren="552100554", limit=500),
    DecisionFilter(siren="732829320", before=2 * DECISION_BLOCK + 10),
    DecisionFilter(customer_id="C1", before=DECISION_BLOCK),
    DecisionFilter(customer_id="C1", before=1),
]


@pytest.mark.parametrize("criteria", CRITERIA, ids=[str(i) for i in range(len(CRITERIA))])
def test_a_subjects_decisions_are_those_a_scan_finds(
    filled: AuditLog, criteria: DecisionFilter
) -> None:
    found = [d.entry for d in filled.find(criteria)]
    assert found == _scanned(filled, criteria)
    blocks = {entry // DECISION_BLOCK for entry in found}
    if criteria.customer_id == "C1" and criteria.before is None:
        assert len(blocks) > 1  # the page does cross blocks


def test_paging_through_a_subject_gives_each_decision_once(filled: AuditLog) -> None:
    pages, before = [], None
    while True:
        page = filled.find(DecisionFilter(customer_id="C1", limit=9, before=before))
        pages.append([d.entry for d in page])
        if len(page) < 9:
            break
        before = page[-1].entry
    entries = [entry for page in pages for entry in page]
    assert entries == _scanned(filled, DecisionFilter(customer_id="C1", limit=1_000_000))
    assert len(pages) > 3


def test_a_subjects_decisions_are_read_through_its_block_index(store: LedgerStore) -> None:
    """The index expression and the query's must be the same for the database to use it."""
    migrate_service_tables(store.engine)
    for criteria, index in (
        (DecisionFilter(customer_id="C1"), "ix_decision_block_customer_id"),
        (DecisionFilter(siren="552100554", grade="B"), "ix_decision_block_siren"),
    ):
        query = filtered_query(criteria).where(decision_block.in_([3, 2]))
        with store.engine.connect() as connection:
            compiled = query.compile(connection, compile_kwargs={"literal_binds": True})
            if connection.dialect.name == "sqlite":
                plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
            else:  # an empty table: forbid the scan the planner would rather do
                connection.exec_driver_sql("SET enable_seqscan = off")
                plan = connection.exec_driver_sql(f"EXPLAIN {compiled}").all()
        assert index in " ".join(str(row) for row in plan)

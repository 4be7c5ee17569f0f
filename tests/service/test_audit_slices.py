"""A large batch is logged a slice at a time, still in one transaction: all or nothing, in order."""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Callable
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from features.ledger import LedgerStore
from service.answers import ScoreAnswer, answers_json
from service.audit import AuditLog, DecisionFilter
from service.records import migrate_service_tables
from service.schemas import ScoreRequest, ScoreResponse

from .conftest import logged_response

# More than two slices of `service.audit._ROWS_PER_INSERT`, the last one short.
BATCH = 4_003


def _response(index: int) -> ScoreAnswer:
    return logged_response(f"C{index:05d}", str(uuid.UUID(int=index + 1)))


def _record(log: AuditLog, responses: list[ScoreAnswer]) -> None:
    requests = [ScoreRequest(customer_id=r.subject.customer_id) for r in responses]
    log.record(requests, responses, caller="t", key_id=None, channel="batch",
               policy_version="p1")  # fmt: skip


def _recorded(log: AuditLog, slices: list[list[ScoreAnswer]], fail: bool = False) -> None:
    """Record slices as a batch's handler does, one after the other; `fail` raises once
    they are all given, as a handler whose later work fails."""
    with log.recording(caller="t", key_id=None, channel="batch", policy_version="p1") as record:
        for responses in slices:
            record([ScoreRequest(customer_id=r.subject.customer_id) for r in responses],
                   responses, answers_json(responses))  # fmt: skip
        if fail:
            raise RuntimeError("the handler failed after scoring")


def _sliced(responses: list[ScoreAnswer], size: int) -> list[list[ScoreAnswer]]:
    return [responses[start : start + size] for start in range(0, len(responses), size)]


_WRITERS: dict[str, Callable[[AuditLog, list[ScoreAnswer]], None]] = {
    "whole": _record,  # one call, as a single score's handler logs
    "slices": lambda log, responses: _recorded(log, _sliced(responses, 1_500)),
}


@pytest.mark.parametrize("write", _WRITERS.values(), ids=_WRITERS.keys())
def test_a_large_batch_is_logged_whole_and_in_order(
    store: LedgerStore, write: Callable[[AuditLog, list[ScoreAnswer]], None]
) -> None:
    migrate_service_tables(store.engine)
    log = AuditLog(store.engine)
    responses = [_response(i) for i in range(BATCH)]
    write(log, responses)
    logged = log.find(DecisionFilter(limit=BATCH + 1))
    assert [d.decision_id for d in reversed(logged)] == [str(r.decision_id) for r in responses]
    assert logged[0].request == {"customer_id": f"C{BATCH - 1:05d}"}
    assert [d.response for d in logged[:3]] == [
        ScoreResponse.model_validate(dataclasses.asdict(r)).model_dump(mode="json")
        for r in responses[-3:][::-1]
    ]


@pytest.mark.parametrize("write", _WRITERS.values(), ids=_WRITERS.keys())
def test_a_batch_failing_in_its_last_slice_logs_nothing(
    store: LedgerStore, write: Callable[[AuditLog, list[ScoreAnswer]], None]
) -> None:
    migrate_service_tables(store.engine)
    log = AuditLog(store.engine)
    responses = [_response(i) for i in range(BATCH)]
    responses[-1] = _response(0)  # a decision id already in the first slice
    with pytest.raises(sa.exc.IntegrityError):
        write(log, responses)
    assert log.find(DecisionFilter()) == []


def test_a_recording_its_caller_abandons_logs_nothing(store: LedgerStore) -> None:
    """Slices already written are rolled back with the rest: no answer was sent."""
    migrate_service_tables(store.engine)
    log = AuditLog(store.engine)
    with pytest.raises(RuntimeError, match="after scoring"):
        _recorded(log, _sliced([_response(i) for i in range(BATCH)], 1_500), fail=True)
    assert log.find(DecisionFilter()) == []


def test_a_batch_items_columns_hold_the_values_answered_to_the_last_bit(
    store: LedgerStore,
) -> None:
    """The columns the log is filtered on (subject, grade, probabilities, amount, day, model)
    hold each item's values as answered: floats of every precision, missing ones, text."""
    migrate_service_tables(store.engine)
    log = AuditLog(store.engine)
    draw = random.Random(11)
    responses, requests = [], []
    for i in range(2_500):
        p_late = draw.random()
        base = _response(i)
        responses.append(dataclasses.replace(
            base, p_late=p_late, p_severe=p_late * draw.random(), grade="ABCDE"[i % 5],
            as_of=date(2025, 1, 1) + timedelta(days=i % 400), model_version=f"m{i % 3}",
            subject=dataclasses.replace(base.subject, siren=None if i % 4 else f"{i:09d}"),
        ))  # fmt: skip
        amount = None if i % 7 == 0 else draw.uniform(0, 1e7)
        requests.append(ScoreRequest(customer_id=f"C{i:05d}", amount=amount))
    with log.recording(caller="t", key_id="k1", channel="batch", policy_version="p9") as record:
        record(requests, responses, answers_json(responses))
    logged = log.find(DecisionFilter(limit=3_000))[::-1]
    assert len(logged) == len(responses)
    for decision, response, request in zip(logged, responses, requests, strict=True):
        assert decision.decision_id == str(response.decision_id)
        assert (decision.p_late, decision.p_severe) == (response.p_late, response.p_severe)
        assert decision.amount == request.amount
        assert (decision.grade, decision.as_of) == (response.grade, response.as_of)
        assert (decision.customer_id, decision.siren) == (
            response.subject.customer_id,
            response.subject.siren,
        )
        assert decision.model_version == response.model_version
        assert (decision.caller, decision.channel, decision.policy_version) == ("t", "batch", "p9")

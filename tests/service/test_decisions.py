"""The decision log: every score is recorded as answered, readable by analysts, never changed."""

from __future__ import annotations

import dataclasses
import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient

from features.ledger import LedgerStore
from service.answers import SubjectAnswer, answers_json
from service.audit import CHUNK_ITEMS, AuditLog, DecisionFilter
from service.records import MIGRATIONS, migrate_service_tables
from service.schemas import ScoreRequest
from service.tables import VERSION_TABLE, decision, decision_chunk, metadata

from .conftest import TODAY, app_on_a_copy, logged_response, signed_in

ME = "decision-tests"


@pytest.fixture
def own(tmp_path: Path, data_dir: Path, model_dir: Path) -> Iterator[TestClient]:
    app = app_on_a_copy(tmp_path, data_dir, model_dir)
    # The copied ledger holds the decisions of other tests' clients: this one has its own name.
    with signed_in(app, name=ME) as client:
        yield client


def test_a_score_is_logged_as_answered(own: TestClient) -> None:
    sent = {"customer_id": "C00003", "amount": 4200.0, "terms_days": 45}
    answer = own.post("/v1/score", json=sent).json()
    logged = own.get(f"/v1/decisions/{answer['decision_id']}")
    assert logged.status_code == 200
    record = logged.json()
    assert record["response"] == answer  # the outputs exactly as sent
    assert record["request"] == sent  # the inputs as received
    assert record["caller"] == ME
    assert record["channel"] == "score"
    assert record["customer_id"] == "C00003"
    assert record["amount"] == 4200.0
    assert (record["grade"], record["p_late"]) == (answer["grade"], answer["p_late"])
    assert record["model_version"] == "test-v1"
    assert record["policy_version"] == answer["policy_version"] == answer["terms"]["policy_version"]
    assert record["as_of"] == TODAY.isoformat()


@pytest.mark.parametrize("slice_items", [2_000, 2], ids=["one-slice", "slices-of-2"])
def test_a_batch_logs_one_decision_per_item(
    own: TestClient, slice_items: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch is scored and logged a slice at a time (another thread writes one while the
    next is scored): its decisions are logged all the same, in order."""
    monkeypatch.setattr("service.api._LOGGED_SLICE", slice_items)
    items = [{"customer_id": f"C0000{i}"} for i in range(1, 6)]
    results = own.post("/v1/score/batch", json={"items": items}).json()["results"]
    listed = own.get("/v1/decisions", params={"channel": "batch", "caller": ME}).json()
    assert listed["count"] == 5
    assert {d["decision_id"] for d in listed["items"]} == {r["decision_id"] for r in results}
    assert [d["customer_id"] for d in listed["items"]] == [f"C0000{i}" for i in range(5, 0, -1)]
    for result in results:  # each item's outputs exactly as sent in the batch's answer
        assert own.get(f"/v1/decisions/{result['decision_id']}").json()["response"] == result


def test_a_batch_keeps_its_json_compressed_in_chunks(own: TestClient, tmp_path: Path) -> None:
    """Items' JSON lives in chunks of CHUNK_ITEMS, compressed, and reads back as sent."""
    items = [{"customer_id": f"C{i % 40 + 1:05d}", "amount": 1000.0 + i} for i in range(250)]
    answer = own.post("/v1/score/batch", json={"items": items})
    results = answer.json()["results"]
    ids = [r["decision_id"] for r in results]
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'credit_risk.db'}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(decision).where(decision.c.decision_id.in_(ids))
            ).all()
            chunk_ids = {row.chunk_id for row in rows}
            chunks = connection.execute(
                sa.select(decision_chunk).where(decision_chunk.c.chunk_id.in_(chunk_ids))
            ).all()
    finally:
        engine.dispose()
    assert len(rows) == 250
    assert all(row.request == row.response == "" for row in rows)
    assert sorted(chunk.items for chunk in chunks) == [CHUNK_ITEMS // 2, CHUNK_ITEMS, CHUNK_ITEMS]
    stored = sum(len(chunk.responses) for chunk in chunks)
    assert stored < len(answer.content) / 5  # the terms' wording repeats from item to item
    listed = own.get("/v1/decisions", params={"caller": ME, "limit": 250}).json()["items"]
    assert [d["response"] for d in reversed(listed)] == results
    assert [d["request"] for d in reversed(listed)] == items
    for position in (0, CHUNK_ITEMS - 1, CHUNK_ITEMS, 249):  # one by one, at chunk edges
        logged = own.get(f"/v1/decisions/{ids[position]}").json()
        assert (logged["request"], logged["response"]) == (items[position], results[position])


def test_filters_and_paging(own: TestClient) -> None:
    for customer in ("C00001", "C00002", "C00001", "C00001"):
        own.post("/v1/score", json={"customer_id": customer})
    mine = own.get("/v1/decisions", params={"customer_id": "C00001", "caller": ME}).json()
    assert mine["count"] == 3
    assert {d["customer_id"] for d in mine["items"]} == {"C00001"}
    grade = mine["items"][0]["grade"]
    by_grade = own.get("/v1/decisions", params={"grade": grade}).json()["items"]
    assert by_grade
    assert all(d["grade"] == grade for d in by_grade)
    assert own.get("/v1/decisions", params={"caller": "someone else"}).json()["count"] == 0

    first = own.get("/v1/decisions", params={"limit": 3, "caller": ME}).json()
    assert first["count"] == 3
    assert first["next_before"] == first["items"][-1]["entry"]
    rest = own.get(
        "/v1/decisions", params={"limit": 3, "before": first["next_before"], "caller": ME}
    ).json()
    assert rest["count"] == 1
    assert rest["next_before"] is None
    entries = [d["entry"] for d in first["items"] + rest["items"]]
    assert entries == sorted(entries, reverse=True)
    assert len(set(entries)) == 4

    later = own.get("/v1/decisions", params={"since": "2999-01-01T00:00:00Z"}).json()
    assert later["count"] == 0


def test_unknown_decision_and_bad_filters(own: TestClient) -> None:
    missing = own.get("/v1/decisions/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    bad = [({"grade": "F"}, "grade"), ({"limit": 0}, "limit"), ({"siren": "12"}, "siren"),
           ({"since": "yesterday"}, "since")]  # fmt: skip
    for params, field in bad:
        response = own.get("/v1/decisions", params=params)
        assert response.status_code == 422
        assert response.json()["fields"][0]["field"] == field


def test_the_api_cannot_change_the_log(own: TestClient) -> None:
    answer = own.post("/v1/score", json={"customer_id": "C00001"}).json()
    path = f"/v1/decisions/{answer['decision_id']}"
    for method in ("put", "patch", "delete"):
        assert own.request(method, path, json={"grade": "A"}).status_code == 405
    assert own.get(path).json()["response"] == answer


def _one_decision(log: AuditLog) -> None:
    response = logged_response("C1", "6f1c1d64-8d0c-4a55-9a3e-2f5c36a6f3a1")
    log.record([ScoreRequest(customer_id="C1")], [response], caller="t", key_id=None,
               channel="score", policy_version="p1")  # fmt: skip


def _two_decisions(log: AuditLog) -> None:
    responses = [logged_response(c, f"6f1c1d64-8d0c-4a55-9a3e-2f5c36a6f3a{i}")
                 for i, c in ((2, "C2"), (3, "C3"))]  # fmt: skip
    requests = [ScoreRequest(customer_id=r.subject.customer_id) for r in responses]
    log.record(requests, responses, caller="t", key_id=None, channel="batch",
               policy_version="p1")  # fmt: skip


def test_the_database_refuses_to_change_or_delete_decisions(store: LedgerStore) -> None:
    migrate_service_tables(store.engine)
    log = AuditLog(store.engine)
    _one_decision(log)
    _two_decisions(log)  # kept in a chunk
    changes = (
        decision.update().values(grade="A"), decision.delete(),
        decision_chunk.update().values(items=0), decision_chunk.delete(),
    )  # fmt: skip
    for statement in changes:
        with (
            pytest.raises(sa.exc.DBAPIError, match="append-only"),
            store.engine.begin() as connection,
        ):
            connection.execute(statement)
    kept = log.find(DecisionFilter())
    assert [(d.grade, d.p_late, d.caller) for d in kept] == [("C", 0.3, "t")] * 3
    assert [d.request for d in kept] == [{"customer_id": "C3"}, {"customer_id": "C2"},
                                         {"customer_id": "C1"}]  # fmt: skip
    migrate_service_tables(store.engine)  # idempotent: already at head


# SQLite's reflection cannot read indexes on expressions, so Alembic compares them on PostgreSQL
# only; test_decision_blocks checks that both databases use them.
@pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index",
    "ignore:autogenerate skipping metadata-specified expression-based index",
)
def test_the_service_migrations_build_the_declared_tables(store: LedgerStore) -> None:
    migrate_service_tables(store.engine)
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        differences = compare_metadata(context, metadata)
    # The ledger's tables share the database: only differences on the service's count.
    assert [d for d in differences if _table_of(d) in metadata.tables] == []


def _table_of(difference: Any) -> str | None:
    """The table an Alembic difference is about: ("add_table", Table), ("add_index", Index),
    ("add_column", schema, table name, Column), or a list of column changes alike."""
    _kind, *parts = difference[0] if isinstance(difference, list) else difference
    for part in parts:
        if isinstance(part, sa.Table):
            return str(part.name)
        if isinstance(part, sa.Index) and part.table is not None:
            return str(part.table.name)
    return parts[1] if len(parts) > 1 and isinstance(parts[1], str) else None


def test_decisions_logged_before_chunks_existed_read_as_before(store: LedgerStore) -> None:
    """A log written by the first schema migrates by added columns, its rows untouched."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "s0001")
        connection.execute(
            sa.text(
                "INSERT INTO decision (decision_id, decided_at, caller, channel, as_of, grade, "
                "p_late, p_severe, model_version, request, response) VALUES ('d-1', :at, 't', "
                "'score', '2026-01-05', 'B', 0.2, 0.05, 'm0', :request, :response)"
            ),
            {"at": datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
             "request": '{"customer_id": "C9"}', "response": '{"grade": "B"}'},
        )  # fmt: skip
    migrate_service_tables(store.engine)
    old = AuditLog(store.engine).get("d-1")
    assert old is not None
    assert (old.request, old.response, old.grade) == ({"customer_id": "C9"}, {"grade": "B"}, "B")


def test_chunks_compressed_with_zlib_as_before_read_beside_new_ones(store: LedgerStore) -> None:
    """Chunks were zlib streams before they were zstd frames: a log holding both reads both."""
    migrate_service_tables(store.engine)
    log = AuditLog(store.engine)
    _two_decisions(log)  # a chunk as written now
    answer = logged_response("C7", "00000000-0000-7000-8000-000000000007")
    sent = answers_json([answer])[0]
    with store.engine.begin() as connection:
        connection.execute(
            decision_chunk.insert().values(
                chunk_id="old-chunk", items=1,
                requests=zlib.compress(b'[{"customer_id":"C7"}]', 1),
                responses=zlib.compress(b"[" + sent + b"]", 1),
            )
        )  # fmt: skip
        connection.execute(
            decision.insert().values(
                decision_id=str(answer.decision_id), decided_at=datetime(2026, 1, 5, tzinfo=UTC),
                caller="t", key_id=None, channel="batch", as_of="2026-01-05", customer_id="C7",
                siren=None, amount=None, grade="C", p_late=0.3, p_severe=0.1, model_version="m1",
                policy_version=None, request="", response="", chunk_id="old-chunk", chunk_item=0,
            )
        )  # fmt: skip
        new_chunks = connection.execute(
            sa.select(decision_chunk.c.responses).where(decision_chunk.c.chunk_id != "old-chunk")
        ).scalars()
        assert all(not zlib_stream(packed) for packed in new_chunks)
    old = log.get(str(answer.decision_id))
    assert old is not None
    assert (old.request, old.response) == ({"customer_id": "C7"}, json.loads(sent))
    listed = log.find(DecisionFilter(channel="batch"))
    assert [d.request for d in listed] == [{"customer_id": "C7"}, {"customer_id": "C3"},
                                           {"customer_id": "C2"}]  # fmt: skip


def zlib_stream(packed: bytes) -> bool:
    try:
        zlib.decompress(packed)
    except zlib.error:
        return False
    return True


def test_answers_read_back_from_their_chunk_whatever_their_text(store: LedgerStore) -> None:
    """A chunk keeps one answer a line; text holding line ends, commas and brackets (escaped
    in JSON) never splits an answer."""
    migrate_service_tables(store.engine)
    log = AuditLog(store.engine)
    names = ["Dupont\n,\nFils", "a\n]\n[", '"quoted", [x]', "é\u2028\u2029", "", "\\n,"]
    answers = [
        dataclasses.replace(
            logged_response(f"C{i}", f"00000000-0000-7000-8000-{i:012d}"),
            subject=SubjectAnswer(
                customer_id=f"C{i}", siren=None, name=name, prospect=False, basis="history"
            ),
        )
        for i, name in enumerate(names * 30)  # 180 answers: two chunks
    ]
    requests = [ScoreRequest(customer_id=a.subject.customer_id) for a in answers]
    log.record(requests, answers, caller="t", key_id=None, channel="batch", policy_version=None)
    listed = log.find(DecisionFilter(channel="batch", limit=1000))
    assert [d.response["subject"]["name"] for d in reversed(listed)] == names * 30
    for answer in (answers[0], answers[99], answers[100], answers[-1]):
        got = log.get(str(answer.decision_id))
        assert got is not None
        assert got.response == json.loads(answers_json([answer])[0])

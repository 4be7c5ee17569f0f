"""The decision log: every score the service gives, kept append-only for audit.

Each decision is one row: who asked (the API key's name), through which channel, the inputs as
received, the model and policy versions, the outputs as sent, and when. The JSON of a batch's
items is kept compressed by chunks of consecutive items (`decision_chunk`), which their rows
name; reading a decision gives the same either way. Rows are only ever inserted; the database
refuses updates and deletes (triggers, see the migrations), and the API offers reading only.
"""

from __future__ import annotations

import functools
import json
import queue
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

import sqlalchemy as sa
import zstandard
from pydantic import TypeAdapter
from sqlalchemy.engine import Engine

from features.held_connection import HeldConnection
from service.answers import ScoreAnswer, answers_json
from service.decision_ids import new_decision_ids
from service.schemas import DecisionOut, ScoreSubject
from service.tables import DECISION_BLOCK, decision, decision_block, decision_chunk

__all__ = [
    "CHUNK_ITEMS",
    "AuditLog",
    "DecisionFilter",
    "DecisionSummary",
    "answers_array",
    "filtered_query",
    "found_rows",
    "logged_answers",
    "packed",
    "unpacked",
]

# Rows serialised and inserted at a time: bounds a large batch's memory, at no cost in speed.
_ROWS_PER_INSERT = 2_000
# Items whose JSON is compressed together: large enough for their repeated wording to compress
# tenfold, small enough that reading one decision back unpacks a few hundred kilobytes.
CHUNK_ITEMS = 100
# Zstandard at its default level: a batch's 31 MB of answers in 0.02-0.03 s, to a seventeenth of
# their size. zlib's fastest level, which chunks used before (they are still read), took 0.09 s
# for a tenth.
_COMPRESSION = 3
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # a zstd frame's first bytes; a zlib stream's is 0x78
# A decision's columns in the order `_row` gives them (all but `entry`, which the database
# numbers), and a chunk's.
_ROW_COLUMNS = tuple(column.name for column in decision.c if column.name != "entry")
_CHUNK_COLUMNS = tuple(column.name for column in decision_chunk.c)
_REQUESTS = TypeAdapter(list[ScoreSubject])
# Blocks of entries a subject's decisions are read from in one statement, at most: the
# database sorts the subject's rows in them to keep the newest.
_MOST_BLOCKS = 64


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
        # A single score's decision is one INSERT: on SQLite it goes through a held connection
        # (autocommit: the statement is its own transaction), not a pooled one.
        self._held = HeldConnection(engine) if _driver_inserts(engine.dialect) else None

    def close(self) -> None:
        if self._held is not None:
            self._held.close()

    def record(
        self,
        requests: Sequence[ScoreSubject],
        responses: Sequence[ScoreAnswer],
        *,
        caller: str,
        key_id: str | None,
        channel: str,
        policy_version: str | None,
        sent: Sequence[bytes] | None = None,
        chunked: bool = True,
    ) -> None:
        """Append one row per (request, response), in one transaction. `sent` holds each
        response as the JSON the caller received, kept as is (serialised here otherwise).

        A single decision keeps its JSON in its row, and so do several that are not `chunked`
        (single scores answered together). A batch's decisions keep theirs in chunks, made and
        inserted a slice of rows at a time: they never all sit in memory twice.
        """
        now = self._clock()
        answers = sent if sent is not None else answers_json(responses)
        rows = list(zip(requests, responses, answers, strict=True))
        if not rows:
            return
        context = _Context(_bound_time(self.engine.dialect, now), caller, key_id, channel,
                           policy_version)  # fmt: skip
        if len(rows) == 1 or not chunked:  # each its JSON in its row
            values = [
                _row(request, response, context, answer) for request, response, answer in rows
            ]
            if self._held is not None:
                self._held.write_rows(_driver_insert(decision.name, _ROW_COLUMNS), values)
                return
            with self.engine.begin() as connection:
                _insert(connection, decision, _ROW_COLUMNS, values)
            return
        with self.engine.begin() as connection:
            _insert_batch(connection, rows, context)

    @contextmanager
    def recording(
        self, *, caller: str, key_id: str | None, channel: str, policy_version: str | None
    ) -> Iterator[Callable[[Sequence[ScoreSubject], Sequence[ScoreAnswer], Sequence[bytes]], None]]:
        """`record` for a batch answered a slice at a time: each slice given to the function
        this yields is written by a thread of its own while the caller scores the next one
        (SQLite and zstd leave Python's lock while they work). All slices commit together when
        the block ends, and none does if it raises; a failed write raises there too."""
        slices: queue.Queue[object] = queue.Queue(maxsize=2)  # bounds what waits in memory
        failures: list[BaseException] = []
        now = self._clock()

        def write() -> None:
            try:
                with self.engine.begin() as connection:
                    context = _Context(_bound_time(connection.dialect, now), caller, key_id,
                                       channel, policy_version)  # fmt: skip
                    while (given := slices.get()) is not _END:
                        if given is _ABANDON:
                            raise _Abandoned
                        _insert_batch(connection, cast(_Items, given), context)
            except _Abandoned:
                return
            except BaseException as error:  # the caller raises it; take what it still sends
                failures.append(error)
                while slices.get() not in (_END, _ABANDON):
                    pass

        def add(
            requests: Sequence[ScoreSubject],
            responses: Sequence[ScoreAnswer],
            sent: Sequence[bytes],
        ) -> None:
            if failures:
                raise failures[0]
            slices.put(list(zip(requests, responses, sent, strict=True)))

        writer = threading.Thread(target=write, name="decision-log", daemon=True)
        writer.start()
        try:
            yield add
        except BaseException:
            slices.put(_ABANDON)
            writer.join()
            raise
        slices.put(_END)
        writer.join()
        if failures:
            raise failures[0]

    def get(self, decision_id: str) -> DecisionOut | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(decision).where(decision.c.decision_id == decision_id)
            ).one_or_none()
            return None if row is None else _decisions(connection, [row])[0]

    def find(self, criteria: DecisionFilter) -> list[DecisionOut]:
        """Decisions matching every given criterion, newest first, at most `limit`."""
        with self.engine.connect() as connection:
            return _decisions(connection, found_rows(connection, criteria))

    def summaries(self, criteria: DecisionFilter) -> list[DecisionSummary]:
        """`find`'s decisions without their inputs and answers: no chunk is read (a customer's
        200 newest decisions lie in up to 200 of them)."""
        with self.engine.connect() as connection:
            rows = found_rows(connection, criteria)
        return [
            DecisionSummary(str(row.decision_id), _aware(row.decided_at), str(row.channel),
                            str(row.grade), float(row.p_late), row.policy_version is not None)
            for row in rows
        ]  # fmt: skip


@dataclass(frozen=True)
class DecisionSummary:
    """A logged decision's time, channel and outcome."""

    decision_id: str
    decided_at: datetime
    channel: str
    grade: str
    p_late: float
    with_terms: bool  # the answer recommended terms (the decision names a policy version)


def found_rows(connection: sa.Connection, criteria: DecisionFilter) -> list[sa.Row[Any]]:
    """The rows of the decisions `find` gives, as stored."""
    query = filtered_query(criteria)
    if criteria.customer_id is None and criteria.siren is None:
        return list(connection.execute(query).all())
    return _by_blocks(connection, query, criteria)


def filtered_query(criteria: DecisionFilter) -> sa.Select[Any]:
    """The decisions matching `criteria`, newest first, at most `limit`."""
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
    return query


def _by_blocks(
    connection: sa.Connection, query: sa.Select[Any], criteria: DecisionFilter
) -> list[sa.Row[Any]]:
    """`query`'s rows for one subject, read through the subject's index by block of entries
    (see service.tables): the newest block first, then twice as many blocks at a time, until
    the page is full. A subject scored often fills it from its last block or two; one scored
    rarely is found in a few statements over the whole log."""
    newest = connection.execute(sa.select(sa.func.max(decision.c.entry))).scalar()
    if newest is None:
        return []
    if criteria.before is not None:
        newest = min(newest, criteria.before - 1)
    rows: list[sa.Row[Any]] = []
    block, width = newest // DECISION_BLOCK, 1
    while block >= 0 and len(rows) < criteria.limit:
        blocks = list(range(block, max(block - width, -1), -1))
        wanted = query.where(decision_block.in_(blocks)).limit(criteria.limit - len(rows))
        rows.extend(connection.execute(wanted).all())  # blocks go down: rows stay in order
        block -= width
        width = min(2 * width, _MOST_BLOCKS)
    return rows


@dataclass(frozen=True)
class _Context:
    """What the decisions of one call share."""

    now: Any  # when, as the connection's dialect binds it
    caller: str
    key_id: str | None
    channel: str
    policy_version: str | None


def _row(
    request: ScoreSubject,
    response: ScoreAnswer,
    context: _Context,
    sent: bytes | None,
    chunk: tuple[str, int] | None = None,
) -> tuple[Any, ...]:
    """A decision's row (in _ROW_COLUMNS): its JSON inline (`sent`, the answer), or, in a chunk
    (`sent` None), empty and the chunk named."""
    request_json = "" if sent is None else request.model_dump_json(exclude_unset=True)
    response_json = "" if sent is None else sent.decode()
    subject = response.subject
    return (
        str(response.decision_id), context.now, context.caller, context.key_id, context.channel,
        response.as_of.isoformat(), subject.customer_id, subject.siren, request.amount,
        response.grade, response.p_late, response.p_severe, response.model_version,
        context.policy_version, request_json, response_json,
        None if chunk is None else chunk[0], None if chunk is None else chunk[1],
    )  # fmt: skip


def _chunked(
    rows: Sequence[tuple[ScoreSubject, ScoreAnswer, bytes]], context: _Context
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The chunks of these items (in _CHUNK_COLUMNS: their JSON compressed, CHUNK_ITEMS at a
    time) and the items' rows, which name their chunk."""
    starts = range(0, len(rows), CHUNK_ITEMS)
    ids = [str(made) for made in new_decision_ids(len(starts))]  # time-ordered, as decisions
    chunks: list[tuple[Any, ...]] = []
    values: list[tuple[Any, ...]] = []
    for chunk_id, start in zip(ids, starts, strict=True):
        part = rows[start : start + CHUNK_ITEMS]
        # The chunk's requests as a JSON array in one call (not one per item: half the time).
        requests = _REQUESTS.dump_json([r for r, _, _ in part], exclude_unset=True)
        answers = answers_array([a for _, _, a in part])
        chunks.append((chunk_id, len(part), packed(requests), packed(answers)))
        values.extend(
            _row(request, response, context, None, (chunk_id, item))
            for item, (request, response, _) in enumerate(part)
        )
    return chunks, values


_Items = list[tuple[ScoreSubject, ScoreAnswer, bytes]]
_END, _ABANDON = object(), object()  # what ends a recording's slices


class _Abandoned(Exception):
    """The caller of a recording failed: its decisions are not written."""


def _insert_batch(connection: sa.Connection, rows: _Items, context: _Context) -> None:
    """Insert the chunks and rows of several decisions, a slice of rows at a time."""
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunks, values = _chunked(rows[start : start + _ROWS_PER_INSERT], context)
        _insert(connection, decision_chunk, _CHUNK_COLUMNS, chunks)
        _insert(connection, decision, _ROW_COLUMNS, values)


def _bound_time(dialect: sa.Dialect, moment: datetime) -> Any:
    """`moment` as the dialect binds a timestamp with time zone (SQLite: text)."""
    process = decision.c.decided_at.type.dialect_impl(dialect).bind_processor(dialect)
    return moment if process is None else process(moment)


def _driver_inserts(dialect: sa.Dialect) -> bool:
    """Whether rows go straight to the driver (`_insert`)."""
    return dialect.name == "sqlite" and dialect.paramstyle == "qmark"


@functools.cache
def _driver_insert(table: str, columns: tuple[str, ...]) -> str:
    listed = ", ".join(columns)
    return f"INSERT INTO {table} ({listed}) VALUES ({', '.join('?' * len(columns))})"


def _insert(
    connection: sa.Connection,
    table: sa.Table,
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
) -> None:
    """Insert rows of values already bound (`_bound_time`). On SQLite they go straight to the
    driver: SQLAlchemy's handling of each row's parameters took a quarter of a batch's log
    write, for values that need none (text, numbers, bytes)."""
    if _driver_inserts(connection.dialect):
        connection.exec_driver_sql(_driver_insert(table.name, columns), rows)
    else:
        connection.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])


def packed(array: bytes) -> bytes:
    """A JSON array, compressed."""
    return _codecs().compressor.compress(array)


# How `answers_array` frames its lines, and `_ChunkItems` splits them.
_LINES_OPEN, _LINES_BETWEEN, _LINES_CLOSE = b"[\n", b"\n,", b"\n]"


def answers_array(answers: Sequence[bytes]) -> bytes:
    """Answers as a chunk holds them: a JSON array, one answer a line (JSON writes a line end
    in a string as an escape), so that reading one back splits the array rather than parsing
    it whole."""
    return _LINES_OPEN + _LINES_BETWEEN.join(answers) + _LINES_CLOSE


def unpacked(chunk: bytes) -> list[Any]:
    """A chunk's JSON array."""
    return list(json.loads(_inflated(chunk)))


def _inflated(chunk: bytes) -> bytes:
    """A chunk's JSON: zstd, or zlib as chunks were written before."""
    if chunk.startswith(_ZSTD_MAGIC):
        return bytes(_codecs().decompressor.decompress(chunk))
    return zlib.decompress(chunk)


class _ChunkItems:
    """The items of a chunk's JSON array, each parsed when asked for. An array written one
    item a line (the answers of this version) is split at its line ends; any other is parsed
    whole, once. A customer's 200 newest decisions lie in up to 200 chunks of 100 answers:
    parsing each chunk whole took 0.1-0.3 s."""

    def __init__(self, chunk: bytes) -> None:
        array = _inflated(chunk)
        self._lines: list[bytes] = []
        self._parsed: list[Any] | None = None
        if array.startswith(_LINES_OPEN):
            self._lines = array[len(_LINES_OPEN) : -len(_LINES_CLOSE)].split(_LINES_BETWEEN)
        else:
            self._parsed = json.loads(array)

    def __getitem__(self, index: int) -> Any:
        if self._parsed is None:
            return json.loads(self._lines[index])
        return self._parsed[index]


class _Codecs(threading.local):
    """A thread's own zstd contexts: one may not serve two threads at once, and making one
    for each chunk doubles the time to compress it."""

    def __init__(self) -> None:
        self.compressor = zstandard.ZstdCompressor(level=_COMPRESSION)
        self.decompressor = zstandard.ZstdDecompressor()


_codecs = functools.cache(_Codecs)


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; the log writes UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def logged_answers(connection: sa.Connection, rows: Sequence[sa.Row[Any]]) -> list[Any]:
    """The answers as sent of decision rows selected with `response`, `chunk_id` and
    `chunk_item`, parsed; those of batch items read from their chunks, each chunk once."""
    chunks = _chunks(connection, rows, requests=False)
    return [
        json.loads(row.response)
        if row.chunk_id is None
        else chunks[row.chunk_id][1][row.chunk_item]
        for row in rows
    ]


def _decisions(connection: sa.Connection, rows: Sequence[sa.Row[Any]]) -> list[DecisionOut]:
    """Whole rows as decisions, the JSON of batch items read from their chunks."""
    chunks = _chunks(connection, rows, requests=True)
    decisions = []
    for row in rows:
        if row.chunk_id is None:
            request, response = json.loads(row.request), json.loads(row.response)
        else:
            requests, responses = chunks[row.chunk_id]
            request, response = requests[row.chunk_item], responses[row.chunk_item]
        decisions.append(_decision(row, request, response))
    return decisions


def _chunks(
    connection: sa.Connection, rows: Sequence[sa.Row[Any]], *, requests: bool
) -> dict[str, tuple[list[Any], _ChunkItems]]:
    """The unpacked chunks these rows name: inputs (if `requests`, else empty) and answers."""
    wanted = sorted({row.chunk_id for row in rows if row.chunk_id is not None})
    if not wanted:
        return {}
    columns = [decision_chunk.c.chunk_id, decision_chunk.c.responses]
    if requests:
        columns.append(decision_chunk.c.requests)
    found = connection.execute(
        sa.select(*columns).where(decision_chunk.c.chunk_id.in_(wanted))
    ).all()
    return {
        c.chunk_id: (unpacked(c.requests) if requests else [], _ChunkItems(c.responses))
        for c in found
    }


def _decision(row: sa.Row[Any], request: Any, response: Any) -> DecisionOut:
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
        request=request,
        response=response,
    )

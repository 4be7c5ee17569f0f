"""ERP ingestion: customers, invoices and payments sent one by one or in bulk.

Every write goes through the same parsing, validation and store as the file importers, so the
same rules hold (due date not before issue date, no future dates, known customers and invoices,
no overpayment) and a write is all or nothing. Writes are idempotent: the same id with the same
content changes nothing; the same id with other content is refused naming the fields that
differ. A POST with an `Idempotency-Key` is answered once: a retry with the same key and body gets
the stored answer (and writes nothing), a reuse of the key with another body is refused. The
remembered answer commits in the same transaction as the rows, so after a crash either both are
there or neither is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from features.errors import ConflictingRecord, ImportRejected, RowProblem
from features.ledger import LedgerStore, WriteReport
from features.schemas import ROW, TABLES, parse_table, validate_table
from service.errors import IdempotencyKeyReused, RequestConflict, RequestRejected
from service.schemas import IngestResult
from service.tables import ingestion

__all__ = ["Answer", "Idempotency", "Ingestor", "request_digest"]

# Writes of the same ids that race: each lost race finds the winner's rows on the next attempt.
_RACE_ATTEMPTS = 3


@dataclass(frozen=True)
class Answer:
    """What an ingestion request answers: status code and body, and whether it is a replay."""

    status_code: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True)
class Idempotency:
    """An Idempotency-Key as sent by one API key to one endpoint, with the body's digest."""

    key_id: str
    key: str
    endpoint: str
    digest: str


def request_digest(body: object) -> str:
    """A stable digest of a request body (keys sorted), to recognise a retried request."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Ingestor:
    """Writes what the ERP sends into the ledger."""

    def __init__(self, store: LedgerStore, today: Callable[[], date]) -> None:
        self.store = store
        self.today = today

    def customers(
        self, rows: Sequence[dict[str, Any]], *, caller: str, fields: Sequence[str]
    ) -> Answer:
        return self._write("customer", "customer_id", rows, caller=caller, fields=fields)

    def invoices(
        self,
        rows: Sequence[dict[str, Any]],
        *,
        caller: str,
        fields: Sequence[str],
        idempotency: Idempotency | None = None,
    ) -> Answer:
        return self._write(
            "invoice", "invoice_id", rows, caller=caller, fields=fields, idempotency=idempotency
        )

    def payments(
        self,
        payments: Sequence[dict[str, Any]],
        *,
        caller: str,
        fields: Sequence[str],
        idempotency: Idempotency | None = None,
    ) -> Answer:
        """Each payment becomes one settlement row per allocation."""
        _refuse_repeated_invoices(payments, fields)
        rows, row_fields = [], []
        for payment, prefix in zip(payments, fields, strict=True):
            for j, allocation in enumerate(payment["allocations"]):
                rows.append(
                    {
                        "payment_id": payment["payment_id"],
                        "invoice_id": allocation["invoice_id"],
                        "paid_date": payment["paid_date"],
                        "amount": allocation["amount"],
                        "match_rule": "export",
                    }
                )
                row_fields.append(f"{prefix}allocations[{j}].")
        ids = [str(p["payment_id"]) for p in payments]
        return self._write(
            "payment", "payment_id", rows, caller=caller, fields=row_fields,
            idempotency=idempotency, ids=ids,
        )  # fmt: skip

    def _write(
        self,
        table: str,
        id_field: str,
        rows: Sequence[dict[str, Any]],
        *,
        caller: str,
        fields: Sequence[str],
        idempotency: Idempotency | None = None,
        ids: list[str] | None = None,
    ) -> Answer:
        source = f"api:{caller}"
        remembered = idempotency
        if remembered is not None:
            replay = self._replay(remembered)
            if replay is not None:
                return replay
        frame = _validated(table, rows, source, self.today(), fields)
        answer_ids = ids if ids is not None else [str(r[id_field]) for r in rows]
        answers: list[Answer] = []  # the last one is the answer of the committed attempt

        def remember(connection: Connection, report: WriteReport) -> None:
            answer = _answer(report, table, answer_ids)
            answers.append(answer)
            if remembered is not None:
                connection.execute(
                    ingestion.insert().values(
                        key_id=remembered.key_id,
                        idempotency_key=remembered.key,
                        endpoint=remembered.endpoint,
                        request_sha256=remembered.digest,
                        status_code=answer.status_code,
                        response=json.dumps(answer.body),
                        created_at=datetime.now(UTC),
                    )
                )

        for attempt in range(1, _RACE_ATTEMPTS + 1):
            try:
                self.store.write({table: frame}, source, kind="api", alongside=remember)
            except ConflictingRecord as conflict:
                raise _located(conflict, fields) from None
            except ImportRejected as rejected:
                raise _located(rejected, fields) from None
            except sa.exc.IntegrityError:
                # Another request committed the same key or ids first (an ERP retrying while
                # its first try is still running). With the same Idempotency-Key: answer as it
                # did. Otherwise write again: the rows it stored are now compared with ours
                # (unchanged, or a conflict naming the fields), as if it had come before.
                replay = self._replay(remembered) if remembered is not None else None
                if replay is not None:
                    return replay
                if attempt == _RACE_ATTEMPTS:
                    raise
                continue
            break
        return answers[-1]

    def _replay(self, remembered: Idempotency) -> Answer | None:
        with self.store.connect() as connection:
            row = connection.execute(
                sa.select(ingestion).where(
                    ingestion.c.key_id == remembered.key_id,
                    ingestion.c.idempotency_key == remembered.key,
                )
            ).one_or_none()
        if row is None:
            return None
        if row.endpoint != remembered.endpoint or row.request_sha256 != remembered.digest:
            raise IdempotencyKeyReused(remembered.key, str(row.endpoint))
        return Answer(int(row.status_code), json.loads(row.response), replayed=True)


def _validated(
    table: str, rows: Sequence[dict[str, Any]], source: str, today: date, fields: Sequence[str]
) -> pd.DataFrame:
    """Rows as the importers see them (text, then parsed and checked by the table's spec)."""
    spec = TABLES[table]
    text = pd.DataFrame(
        [{name: _text(row.get(name)) for name in spec.columns if name in row} for row in rows],
        dtype="string",
    )
    text[ROW] = range(len(rows))  # the row number is the item's position
    try:
        return validate_table(spec, parse_table(spec, text, source), source, today)
    except ImportRejected as rejected:
        raise _located(rejected, fields) from None


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _refuse_repeated_invoices(payments: Sequence[dict[str, Any]], fields: Sequence[str]) -> None:
    """A payment settles each invoice by one allocation: the ledger keeps one row per payment
    and invoice, so a second allocation to the same invoice is refused rather than merged."""
    problems = []
    for payment, prefix in zip(payments, fields, strict=True):
        first: dict[str, int] = {}  # invoice -> its first allocation
        for j, allocation in enumerate(payment["allocations"]):
            invoice_id = str(allocation["invoice_id"])
            if (earlier := first.setdefault(invoice_id, j)) != j:
                problems.append(RowProblem(
                    "the request", None, f"{prefix}allocations[{j}].invoice_id",
                    f"invoice {invoice_id} is already settled by allocations[{earlier}] of this "
                    "payment: send one allocation per invoice, with the whole amount it receives",
                    invoice_id,
                ))  # fmt: skip
    if problems:
        raise RequestRejected("the request", problems)


def _located(rejected: ImportRejected, fields: Sequence[str]) -> RequestRejected:
    """The same rejection with each problem named as a request field (`items[3].due_date`);
    a conflict names each field whose stored value differs."""
    problems = []
    for p in rejected.problems:
        prefix = fields[p.row] if p.row is not None and 0 <= p.row < len(fields) else ""
        for name in p.differing or (p.field,):
            problems.append(RowProblem("the request", None, prefix + name, p.reason, p.value))
    kind = RequestConflict if isinstance(rejected, ConflictingRecord) else RequestRejected
    return kind("the request", problems, total=rejected.total)


def _answer(report: WriteReport, table: str, ids: list[str]) -> Answer:
    added = report.rows_added.get(table, 0)
    updated = report.rows_updated.get(table, 0)
    status = "created" if added else ("updated" if updated else "unchanged")
    result = IngestResult(status=status, added=added, updated=updated, ids=ids)
    return Answer(201 if added else 200, result.model_dump(mode="json"))

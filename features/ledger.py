"""The ledger store: companies, customers, invoices and payments in SQLite or PostgreSQL.

Writes are atomic and idempotent. A batch (several tables at once) goes into staging tables,
is checked against what is stored (same key with other contents, references to rows that do not
exist) and lands in one transaction, or not at all. Writing the same batch twice changes nothing.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from features.errors import ConflictingRecord, ImportRejected, RowProblem, StoreError
from features.ledger_tables import FOREIGN_KEYS, import_log, ledger_tables, metadata
from features.schemas import ROW, TABLES, WRITE_ORDER, TableSpec

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class WriteReport:
    """What a write did, table by table."""

    source: str
    rows_read: dict[str, int] = field(default_factory=dict)
    rows_added: dict[str, int] = field(default_factory=dict)
    rows_updated: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(self.rows_added.values()) or any(self.rows_updated.values())

    def summary(self) -> str:
        parts = [
            f"{table}: {self.rows_read[table]} read, {self.rows_added.get(table, 0)} added, "
            f"{self.rows_updated.get(table, 0)} updated"
            for table in self.rows_read
        ]
        return "; ".join(parts) if parts else "nothing to write"


def create_ledger_engine(url: str) -> Engine:
    """An engine with the settings the ledger relies on (WAL and foreign keys on SQLite)."""
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class LedgerStore:
    """Read and write the canonical ledger tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> LedgerStore:
        """Connect and bring the schema to the latest migration."""
        store = cls(create_ledger_engine(url))
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    # ---- writing -------------------------------------------------------------------------

    def write(
        self,
        batch: Mapping[str, pd.DataFrame],
        source: str,
        *,
        kind: str = "canonical",
        content_sha256: str = "",
    ) -> WriteReport:
        """Write validated canonical frames (table name -> rows) atomically and idempotently."""
        unknown = set(batch) - set(TABLES)
        if unknown:
            raise ValueError(f"unknown ledger tables: {sorted(unknown)}")
        report = WriteReport(source)
        try:
            with self.engine.begin() as connection:
                for name in WRITE_ORDER:
                    if name in batch:
                        self._write_table(connection, TABLES[name], batch[name], source, report)
                connection.execute(
                    import_log.insert().values(
                        source=source,
                        kind=kind,
                        content_sha256=content_sha256,
                        imported_at=datetime.now(UTC),
                        rows_read=sum(report.rows_read.values()),
                        rows_added=sum(report.rows_added.values()),
                        rows_updated=sum(report.rows_updated.values()),
                        detail=json.dumps(
                            {
                                "read": report.rows_read,
                                "added": report.rows_added,
                                "updated": report.rows_updated,
                            }
                        ),
                    )
                )
        except sa.exc.OperationalError as error:
            raise StoreError(f"the ledger store failed while writing {source}: {error}") from error
        return report

    def _write_table(
        self,
        connection: Connection,
        spec: TableSpec,
        frame: pd.DataFrame,
        source: str,
        report: WriteReport,
    ) -> None:
        report.rows_read[spec.name] = len(frame)
        if frame.empty:
            report.rows_added[spec.name] = 0
            return
        frame = (
            frame if ROW in frame.columns else frame.assign(**{ROW: np.arange(2, len(frame) + 2)})
        )
        stage = _create_stage(connection, spec)
        _bulk_insert(connection, stage, frame[[*spec.columns, ROW]])
        self._check_references(connection, spec, stage, source)
        if spec.on_conflict == "reject":
            _reject_conflicts(connection, spec, stage, source)
            report.rows_updated[spec.name] = 0
        else:
            report.rows_updated[spec.name] = _update_changed(connection, spec, stage)
        report.rows_added[spec.name] = _insert_new(connection, spec, stage)
        if spec.name == "payment":
            self._check_overpayment(connection, stage, source)
        stage.drop(connection)
        metadata_stage = stage.metadata
        metadata_stage.remove(stage)

    def _check_references(
        self, connection: Connection, spec: TableSpec, stage: sa.Table, source: str
    ) -> None:
        for column, target_name, target_column in FOREIGN_KEYS.get(spec.name, ()):
            target = ledger_tables[target_name]
            missing = connection.execute(
                sa.select(stage.c[ROW], stage.c[column])
                .where(~sa.exists().where(target.c[target_column] == stage.c[column]))
                .order_by(stage.c[ROW])
                .limit(1000)
            ).all()
            if missing:
                count = connection.execute(
                    sa.select(sa.func.count())
                    .where(~sa.exists().where(target.c[target_column] == stage.c[column]))
                    .select_from(stage)
                ).scalar_one()
                raise ImportRejected(
                    source,
                    [
                        RowProblem(
                            source,
                            int(row),
                            column,
                            f"refers to a {target_name} that is not in the store nor in this "
                            f"import; import the {target_name} first",
                            str(value),
                        )
                        for row, value in missing
                    ],
                    total=count,
                )

    def _check_overpayment(self, connection: Connection, stage: sa.Table, source: str) -> None:
        payment, invoice = ledger_tables["payment"], ledger_tables["invoice"]
        touched = sa.select(stage.c.invoice_id).distinct().subquery()
        paid = (
            sa.select(payment.c.invoice_id, sa.func.sum(payment.c.amount).label("paid"))
            .where(payment.c.invoice_id.in_(sa.select(touched.c.invoice_id)))
            .group_by(payment.c.invoice_id)
            .subquery()
        )
        over = connection.execute(
            sa.select(paid.c.invoice_id, paid.c.paid, invoice.c.amount)
            .join(invoice, invoice.c.invoice_id == paid.c.invoice_id)
            .where(paid.c.paid > invoice.c.amount + 0.01)
            .limit(1000)
        ).all()
        if over:
            raise ImportRejected(
                source,
                [
                    RowProblem(
                        source,
                        None,
                        "amount",
                        f"payments applied to invoice {inv} add up to {total:.2f}, more than "
                        f"its amount {amount:.2f}",
                    )
                    for inv, total, amount in over
                ],
            )

    # ---- reading -------------------------------------------------------------------------

    def read(self, table: str, where: sa.ColumnElement[bool] | None = None) -> pd.DataFrame:
        """A canonical table as a typed frame (dates as datetime64[s])."""
        spec = TABLES[table]
        sa_table = ledger_tables[table]
        query = sa.select(*[sa_table.c[c] for c in spec.columns])
        if where is not None:
            query = query.where(where)
        with self.engine.connect() as connection:
            result = connection.execute(query)
            rows = result.fetchall()
        frame = pd.DataFrame.from_records(rows, columns=spec.columns)
        return _typed(spec, frame)

    def count(self, table: str) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    sa.select(sa.func.count()).select_from(ledger_tables[table])
                ).scalar_one()
            )

    def counts(self) -> dict[str, int]:
        return {name: self.count(name) for name in TABLES}

    def imports(self) -> pd.DataFrame:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(import_log).order_by(import_log.c.import_id))
            return pd.DataFrame(rows.fetchall(), columns=list(rows.keys()))

    def snapshot(self) -> dict[str, pd.DataFrame]:
        """Every ledger table, sorted by key: two equal snapshots mean nothing changed."""
        return {
            name: self.read(name).sort_values(list(spec.key)).reset_index(drop=True)
            for name, spec in TABLES.items()
        }

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            yield connection


def _typed(spec: TableSpec, frame: pd.DataFrame) -> pd.DataFrame:
    for spec_field in spec.fields:
        column = frame[spec_field.name]
        match spec_field.kind:
            case "date":
                frame[spec_field.name] = pd.to_datetime(column).astype("datetime64[s]")
            case "float":
                frame[spec_field.name] = pd.to_numeric(column).astype("float64")
            case "int":
                frame[spec_field.name] = pd.to_numeric(column).astype("Int64")
            case "bool":
                frame[spec_field.name] = column.astype("boolean")
            case "string":
                frame[spec_field.name] = column.astype("string")
    return frame


# ---- staging and merging helpers -----------------------------------------------------------

_stage_counter = iter(range(1, 1 << 62))


def _create_stage(connection: Connection, spec: TableSpec) -> sa.Table:
    target = ledger_tables[spec.name]
    stage_metadata = sa.MetaData()
    columns = [sa.Column(c.name, c.type) for c in target.columns]
    columns.append(sa.Column(ROW, sa.BigInteger))
    stage = sa.Table(
        f"stage_{spec.name}_{next(_stage_counter)}", stage_metadata, *columns,
        prefixes=["TEMPORARY"],
    )  # fmt: skip
    stage.create(connection)
    key_index = sa.Index(f"ix_{stage.name}_key", *[stage.c[k] for k in spec.key])
    key_index.create(connection)
    return stage


def _column_values(column: pd.Series) -> list[object]:
    """A column as Python values the DB drivers take, with None for missing values."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        text = np.datetime_as_string(column.to_numpy(dtype="datetime64[D]"), unit="D")
        values: list[object] = text.tolist()
        missing = column.isna().to_numpy()
        if missing.any():
            for i in np.flatnonzero(missing):
                values[i] = None
        return values
    if isinstance(column.dtype, pd.BooleanDtype) or column.dtype == bool:
        return [None if v is pd.NA else bool(v) for v in column.tolist()]
    values = column.astype(object).tolist()
    if column.isna().any():
        return [None if (v is None or v is pd.NA or v != v) else v for v in values]
    return values


def _bulk_insert(connection: Connection, stage: sa.Table, frame: pd.DataFrame) -> None:
    columns = [_column_values(frame[c]) for c in frame.columns]
    rows = list(zip(*columns, strict=True))
    names = [c.name for c in stage.columns]
    raw = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            quoted = ", ".join(f'"{n}"' for n in names)
            with cursor.copy(f'COPY "{stage.name}" ({quoted}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
        return
    placeholders = ", ".join("?" for _ in names)
    quoted = ", ".join(f'"{n}"' for n in names)
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(f'INSERT INTO "{stage.name}" ({quoted}) VALUES ({placeholders})', rows)
    finally:
        cursor.close()


def _key_match(spec: TableSpec, stage: sa.Table, target: sa.Table) -> sa.ColumnElement[bool]:
    return sa.and_(*[target.c[k] == stage.c[k] for k in spec.key])


def _same_content(spec: TableSpec, stage: sa.Table, target: sa.Table) -> sa.ColumnElement[bool]:
    return sa.and_(
        *[target.c[c].is_not_distinct_from(stage.c[c]) for c in spec.columns if c not in spec.key]
    )


def _reject_conflicts(
    connection: Connection, spec: TableSpec, stage: sa.Table, source: str
) -> None:
    target = ledger_tables[spec.name]
    conflict_filter = sa.and_(_key_match(spec, stage, target), ~_same_content(spec, stage, target))
    rows = (
        connection.execute(
            sa.select(stage, *[target.c[c].label(f"stored_{c}") for c in spec.columns])
            .select_from(stage.join(target, _key_match(spec, stage, target)))
            .where(~_same_content(spec, stage, target))
            .order_by(stage.c[ROW])
            .limit(1000)
        )
        .mappings()
        .all()
    )
    if not rows:
        return
    total = connection.execute(
        sa.select(sa.func.count()).select_from(stage.join(target, conflict_filter))
    ).scalar_one()
    problems = []
    for row in rows:
        differing = [
            c for c in spec.columns
            if c not in spec.key and not _equal(row[c], row[f"stored_{c}"])
        ]  # fmt: skip
        key_text = "/".join(str(row[k]) for k in spec.key)
        problems.append(
            RowProblem(
                source,
                int(row[ROW]),
                ",".join(spec.key),
                f"{spec.name} {key_text} is already stored with other contents "
                f"(differs in: {', '.join(differing)})",
            )
        )
    raise ConflictingRecord(source, problems, total=total)


def _equal(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) < 1e-9  # type: ignore[arg-type]
    return str(a) == str(b)


def _update_changed(connection: Connection, spec: TableSpec, stage: sa.Table) -> int:
    """Newer non-empty values replace stored ones; returns how many stored rows changed."""
    target = ledger_tables[spec.name]
    non_key = [c for c in spec.columns if c not in spec.key]
    merged_differs = sa.or_(
        *[target.c[c].is_distinct_from(sa.func.coalesce(stage.c[c], target.c[c])) for c in non_key]
    )
    changed_keys = (
        sa.select(*[stage.c[k] for k in spec.key])
        .select_from(stage.join(target, _key_match(spec, stage, target)))
        .where(merged_differs)
    )
    changed = connection.execute(changed_keys).all()
    if not changed:
        return 0
    values = {
        c: sa.func.coalesce(
            sa.select(stage.c[c]).where(_key_match(spec, stage, target)).scalar_subquery(),
            target.c[c],
        )
        for c in non_key
    }
    key_tuple = sa.tuple_(*[target.c[k] for k in spec.key])
    updated = 0
    for start in range(0, len(changed), 500):
        chunk = [tuple(r) for r in changed[start : start + 500]]
        condition = (
            key_tuple.in_(chunk) if len(spec.key) > 1 else target.c[spec.key[0]].in_(
                [r[0] for r in chunk])
        )  # fmt: skip
        updated += connection.execute(target.update().where(condition).values(values)).rowcount
    return updated


def _insert_new(connection: Connection, spec: TableSpec, stage: sa.Table) -> int:
    target = ledger_tables[spec.name]
    new_rows = sa.select(*[stage.c[c] for c in spec.columns]).where(
        ~sa.exists().where(_key_match(spec, stage, target))
    )
    # Counted apart: drivers do not all report a row count for INSERT ... SELECT.
    count = connection.execute(
        sa.select(sa.func.count()).select_from(new_rows.subquery())
    ).scalar_one()
    if count:
        connection.execute(target.insert().from_select(spec.columns, new_rows))
    return int(count)


def dump_metadata() -> sa.MetaData:
    """The ledger's SQLAlchemy metadata (for migrations and their test)."""
    return metadata


def describe(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.info(buf=buffer)
    return buffer.getvalue()

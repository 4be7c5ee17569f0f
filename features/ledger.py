"""The ledger store: companies, customers, invoices and payments in SQLite or PostgreSQL.

Writes are atomic and idempotent. A batch (several tables at once) goes into staging tables,
is checked against what is stored (same key with other contents, references to rows that do not
exist) and lands in one transaction, or not at all. Writing the same batch twice changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from features.errors import ConflictingRecord, ImportRejected, RowProblem, StoreError
from features.held_connection import HeldConnection
from features.ledger_tables import (
    FOREIGN_KEYS,
    import_log,
    ledger_tables,
    ledger_touch,
    ledger_version,
)
from features.schemas import ROW, TABLES, WRITE_ORDER, TableSpec, differing_fields
from features.wal import WalCheckpoints

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


@dataclass(frozen=True)
class Touched:
    """The subjects whose rows some writes changed, or may have: customer accounts by id and
    companies by SIREN, or everything (a write naming more than TOUCH_LIMIT of them)."""

    customers: frozenset[str] = frozenset()
    sirens: frozenset[str] = frozenset()
    everything: bool = False

    def __or__(self, other: Touched) -> Touched:
        if self.everything or other.everything:
            return _EVERYTHING
        return Touched(self.customers | other.customers, self.sirens | other.sirens)


_EVERYTHING = Touched(everything=True)
# Subjects a write lists one by one; a write naming more (an import) touches everything.
TOUCH_LIMIT = 1_000
_SIREN_TABLES = ("company", "financial_statement", "legal_event")


# Bulk imports build indexes over millions of rows: SQLite's default 2 MB page cache thrashes.
IMPORT_CACHE_MB = 256


def create_ledger_engine(
    url: str, *, cache_mb: int = IMPORT_CACHE_MB, autocheckpoint: bool = True
) -> Engine:
    """An engine with the settings the ledger relies on (WAL and foreign keys on SQLite);
    `cache_mb` is SQLite's page cache of each connection (it fills up and stays full). Without
    `autocheckpoint`, commits never copy the write-ahead log back into the database: something
    else must (`features.wal.WalCheckpoints`)."""
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
            cursor.execute(f"PRAGMA cache_size=-{int(cache_mb) * 1024}")
            cursor.execute("PRAGMA temp_store=MEMORY")
            if not autocheckpoint:
                cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def upgrade_schema(engine: Engine, migrations: Path) -> None:
    """Run the Alembic migrations in `migrations` up to their head, on a connection the
    environment script receives (each set of tables keeps its own version table)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


_RAISE_VERSION = ledger_version.update().values(version=ledger_version.c.version + 1)
_VERSION = sa.select(ledger_version.c.version)


class LedgerStore:
    """Read and write the canonical ledger tables."""

    def __init__(self, engine: Engine, checkpoints: WalCheckpoints | None = None) -> None:
        self.engine = engine
        self._checkpoints = checkpoints
        self._held = HeldConnection(engine)  # `version`, which every score reads

    @classmethod
    def open(
        cls,
        url: str,
        *,
        migrate: bool = True,
        cache_mb: int = IMPORT_CACHE_MB,
        background_checkpoints: bool = False,
    ) -> LedgerStore:
        """Connect and bring the schema to the latest migration. With `background_checkpoints`
        (a SQLite file served to requests), a thread copies the write-ahead log back into the
        database, instead of the commit that fills it: see `features.wal`."""
        database = sa.engine.make_url(url).database if url.startswith("sqlite") else None
        in_background = background_checkpoints and database not in (None, "", ":memory:")
        engine = create_ledger_engine(url, cache_mb=cache_mb, autocheckpoint=not in_background)
        store = cls(engine)
        if migrate:
            store.migrate()
        if in_background:
            store._checkpoints = WalCheckpoints(Path(str(database)))
        return store

    def migrate(self) -> None:
        upgrade_schema(self.engine, MIGRATIONS)

    def close(self) -> None:
        self._held.close()
        self.engine.dispose()
        if self._checkpoints is not None:
            self._checkpoints.stop()
            self._checkpoints = None

    # ---- writing -------------------------------------------------------------------------

    def write(
        self,
        batch: Mapping[str, pd.DataFrame],
        source: str,
        *,
        kind: str = "canonical",
        content_sha256: str = "",
        alongside: Callable[[Connection, WriteReport], None] | None = None,
    ) -> WriteReport:
        """Write validated canonical frames (table name -> rows) atomically and idempotently.

        `alongside` runs in the same transaction once the rows are written: what it writes
        commits with them or not at all (e.g. the answer remembered for an idempotent request).
        """
        unknown = set(batch) - set(TABLES)
        if unknown:
            raise ValueError(f"unknown ledger tables: {sorted(unknown)}")
        report = WriteReport(source)
        try:
            with self.engine.begin() as connection:
                touched = _touched_by(connection, batch)  # before: a customer's old SIREN too
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
                if alongside is not None:
                    alongside(connection, report)
                # Last, so that concurrent writers wait on the row only to commit.
                connection.execute(_RAISE_VERSION)
                _record_touches(connection, touched)
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
        if ROW not in frame.columns:
            frame = frame.assign(**{ROW: np.arange(2, len(frame) + 2)})
        _check_references(connection, spec, frame, source)
        stored = _stored_rows(connection, spec, frame)
        is_new = np.ones(len(frame), dtype=bool)
        updated = 0
        if not stored.empty:
            both = frame.merge(stored, on=list(spec.key), how="inner", suffixes=("", "_stored"))
            is_new = ~_keys_of(spec, frame).isin(_keys_of(spec, stored))
            incoming = both[[*spec.columns, ROW]]
            before = both[[c if c in spec.key else f"{c}_stored" for c in spec.columns]]
            before.columns = spec.columns
            if spec.on_conflict == "reject":
                _reject_conflicts(spec, incoming, before, source)
            else:
                updated = _update_changed(
                    connection, spec, incoming[spec.columns], before,
                    keep_stored_values=spec.on_conflict == "update",
                )  # fmt: skip
        new_rows = _with_defaults(spec, frame.loc[np.asarray(is_new), spec.columns])
        _bulk_insert(connection, ledger_tables[spec.name], new_rows)
        report.rows_added[spec.name] = len(new_rows)
        report.rows_updated[spec.name] = updated
        if spec.name == "payment":
            _check_overpayment(connection, frame, source)

    # ---- reading -------------------------------------------------------------------------

    def read(
        self,
        table: str,
        where: sa.ColumnElement[bool] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """A canonical table as a typed frame (dates as datetime64[s]), with all its columns or
        those named."""
        spec = TABLES[table]
        sa_table = ledger_tables[table]
        names = list(columns) if columns is not None else spec.columns
        query = sa.select(*[sa_table.c[c] for c in names])
        if where is not None:
            query = query.where(where)
        with self.engine.connect() as connection:
            result = connection.execute(query)
            frames = [_typed(spec, _frame(rows, names)) for rows in result.partitions(_READ_ROWS)]
            if where is None and connection.dialect.name == "sqlite":
                # A whole table went through this connection's page cache, which stays full
                # for as long as the pool keeps it: give those pages back.
                connection.exec_driver_sql("PRAGMA shrink_memory")
        if not frames:
            return _typed(spec, _frame([], names))
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def count(self, table: str) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    sa.select(sa.func.count()).select_from(ledger_tables[table])
                ).scalar_one()
            )

    def counts(self) -> dict[str, int]:
        return {name: self.count(name) for name in TABLES}

    def version(self) -> int:
        """A number every write raises when it commits: equal numbers, same ledger."""
        [(version,)] = self._held.rows(_VERSION)
        return int(version)

    def touched(self, after: int, upto: int) -> Touched:
        """What the writes that raised the version past `after`, up to `upto`, touched."""
        query = sa.select(ledger_touch.c.kind, ledger_touch.c.subject).where(
            ledger_touch.c.version > after, ledger_touch.c.version <= upto
        )
        customers: set[str] = set()
        sirens: set[str] = set()
        with self.engine.connect() as connection:
            for kind, subject in connection.execute(query):
                if kind == "all":
                    return _EVERYTHING
                (customers if kind == "customer" else sirens).add(subject)
        return Touched(frozenset(customers), frozenset(sirens))

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


# Rows turned into typed columns at a time: a whole table as Python row objects would cost
# hundreds of MB, which the allocator then keeps for the life of the process.
_READ_ROWS = 10_000


def _frame(rows: Sequence[Any], columns: list[str]) -> pd.DataFrame:
    """Rows from SQLAlchemy as a frame; plain tuples first, as pandas probes Row objects slowly."""
    return pd.DataFrame.from_records([tuple(row) for row in rows], columns=columns)


# Dtype objects rather than names: pandas looks a name up in its registry on every call, which
# cost more than converting the few rows a score reads.
_SECONDS = np.dtype("datetime64[s]")
_FLOAT = np.dtype("float64")
_INT = pd.Int64Dtype()
_BOOL = pd.BooleanDtype()
_STRING = pd.StringDtype()


def _typed(spec: TableSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows read from the database with the dtypes validation gives (the columns present)."""
    for spec_field in spec.fields:
        if spec_field.name not in frame.columns:
            continue
        column = frame[spec_field.name]
        match spec_field.kind:
            case "date":
                frame[spec_field.name] = pd.to_datetime(column).astype(_SECONDS)
            case "float":
                frame[spec_field.name] = pd.to_numeric(column).astype(_FLOAT)
            case "int":
                frame[spec_field.name] = pd.to_numeric(column).astype(_INT)
            case "bool":
                frame[spec_field.name] = column.astype(_BOOL)
            case "string":
                frame[spec_field.name] = column.astype(_STRING)
    return frame


# ---- merging helpers ----------------------------------------------------------------------

# Above this many rows already stored, the whole table is read instead of looking keys up.
_LOOKUP_LIMIT = 20_000
_IN_SIZE = 500  # values in one `IN (...)` look-up
_T = TypeVar("_T")


def _keys_of(spec: TableSpec, frame: pd.DataFrame) -> pd.Index:
    if len(spec.key) == 1:
        # Plain Python objects: pandas' isin on Arrow strings is slow for millions of keys.
        return pd.Index(frame[spec.key[0]].to_numpy(dtype=object), dtype=object)
    return pd.MultiIndex.from_frame(frame[list(spec.key)])


def _stored_rows(connection: Connection, spec: TableSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The stored rows whose key is in `frame` (typed like `read`), reading as little as it can:
    a few rows (an API call) are looked up by key; a large file's keys are compared with all
    the stored keys, and the stored rows read only if many overlap."""
    target = ledger_tables[spec.name]
    key_columns = [target.c[k] for k in spec.key]
    columns = [target.c[c] for c in spec.columns]
    if len(frame) <= _LOOKUP_LIMIT:  # reading every stored key would cost more
        wanted = list(dict.fromkeys(_db_keys(frame[list(spec.key)])))
    else:
        stored_keys = _typed(
            spec, _frame(connection.execute(sa.select(*key_columns)).all(), list(spec.key))
        )
        overlap = _keys_of(spec, stored_keys).isin(_keys_of(spec, frame))
        if not overlap.any():
            return pd.DataFrame(columns=spec.columns)
        if overlap.sum() > _LOOKUP_LIMIT:
            rows = connection.execute(sa.select(*columns)).all()
            stored = _typed(spec, _frame(rows, spec.columns))
            return stored[_keys_of(spec, stored).isin(_keys_of(spec, frame))]
        wanted = _db_keys(stored_keys[overlap])
    rows = []
    for chunk in _in_chunks(wanted):
        condition = (
            sa.tuple_(*key_columns).in_(chunk)
            if len(spec.key) > 1
            else key_columns[0].in_([k[0] for k in chunk])
        )
        rows.extend(connection.execute(sa.select(*columns).where(condition)).all())
    if not rows:
        return pd.DataFrame(columns=spec.columns)
    stored = _typed(spec, _frame(rows, spec.columns))
    return stored[_keys_of(spec, stored).isin(_keys_of(spec, frame))]


def _db_keys(keys: pd.DataFrame) -> list[tuple[object, ...]]:
    return [tuple(_db_value(v) for v in key) for key in keys.itertuples(index=False)]


def _db_value(value: object) -> object:
    return value.date() if isinstance(value, pd.Timestamp) else value


def _known(connection: Connection, column: sa.Column[Any], values: pd.Index) -> list[object]:
    """The stored values of `column` among `values`: looked up when they are few (an API
    call), else all of them read (a large file names most of them anyway)."""
    wanted = [v for v in values.unique() if not pd.isna(v)]
    if len(wanted) > _LOOKUP_LIMIT:
        return list(connection.execute(sa.select(column)).scalars().all())
    found: list[object] = []
    for chunk in _in_chunks(wanted):
        found.extend(connection.execute(sa.select(column).where(column.in_(chunk))).scalars())
    return found


def _touched_by(connection: Connection, batch: Mapping[str, pd.DataFrame]) -> Touched:
    """The subjects a write of `batch` touches, found before it lands: each invoice's
    customer, each payment's invoice's customer, each customer account with its SIRENs before
    and after, each company row's SIREN."""
    customers: set[str] = set()
    sirens: set[str] = set()
    for name in _SIREN_TABLES:
        if name in batch:
            sirens |= _texts(batch[name]["siren"])
    if "invoice" in batch:
        customers |= _texts(batch["invoice"]["customer_id"])
    if "customer" in batch:
        accounts = _texts(batch["customer"]["customer_id"])
        customers |= accounts
        sirens |= _texts(batch["customer"]["siren"])
        if len(accounts) <= TOUCH_LIMIT:
            customer = ledger_tables["customer"]
            sirens |= _looked_up(connection, customer.c.siren, customer.c.customer_id, accounts)
    if "payment" in batch:
        paid = _texts(batch["payment"]["invoice_id"])
        if len(paid) > TOUCH_LIMIT:
            return _EVERYTHING
        if "invoice" in batch:
            invoices = batch["invoice"]
            landing = invoices[invoices["invoice_id"].isin(list(paid))]
            customers |= _texts(landing["customer_id"])
            paid -= _texts(landing["invoice_id"])
        invoice = ledger_tables["invoice"]
        customers |= _looked_up(connection, invoice.c.customer_id, invoice.c.invoice_id, paid)
    if len(customers) + len(sirens) > TOUCH_LIMIT:
        return _EVERYTHING
    return Touched(frozenset(customers), frozenset(sirens))


def _texts(column: pd.Series) -> set[str]:
    return {str(value) for value in column.dropna().unique()}


def _looked_up(
    connection: Connection, wanted: sa.Column[Any], key: sa.Column[Any], keys: set[str]
) -> set[str]:
    """`wanted` of the stored rows whose `key` is among `keys` (not null)."""
    found: set[str] = set()
    for chunk in _in_chunks(sorted(keys)):
        rows = connection.execute(sa.select(wanted).where(key.in_(chunk), wanted.is_not(None)))
        found.update(str(value) for value in rows.scalars())
    return found


def _record_touches(connection: Connection, touched: Touched) -> None:
    """Keep what a write touched under the version it just raised. Touching everything makes
    the older entries useless (a book held from before reads the ledger again): they go."""
    version = int(connection.execute(_VERSION).scalar_one())
    if touched.everything:
        connection.execute(ledger_touch.delete().where(ledger_touch.c.version < version))
        rows = [{"version": version, "kind": "all", "subject": ""}]
    else:
        rows = [
            *({"version": version, "kind": "customer", "subject": c} for c in touched.customers),
            *({"version": version, "kind": "siren", "subject": s} for s in touched.sirens),
        ]
    if rows:
        connection.execute(ledger_touch.insert(), rows)


def _in_chunks(values: list[_T]) -> Iterator[list[_T]]:
    """Values a bounded number at a time, for `IN (...)` look-ups that stay under the
    database's limit on parameters."""
    for start in range(0, len(values), _IN_SIZE):
        yield values[start : start + _IN_SIZE]


def _check_references(
    connection: Connection, spec: TableSpec, frame: pd.DataFrame, source: str
) -> None:
    for column, target_name, target_column in FOREIGN_KEYS.get(spec.name, ()):
        values = pd.Index(frame[column].to_numpy(dtype=object), dtype=object)
        known = _known(connection, ledger_tables[target_name].c[target_column], values)
        missing = pd.Series(~values.isin(known), index=frame.index)
        if missing.any():
            bad = frame[missing.to_numpy()]
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
                    for row, value in zip(bad[ROW][:1000], bad[column][:1000], strict=True)
                ],
                total=len(bad),
            )


def _check_overpayment(connection: Connection, frame: pd.DataFrame, source: str) -> None:
    payment, invoice = ledger_tables["payment"], ledger_tables["invoice"]
    paid = (
        sa.select(payment.c.invoice_id, sa.func.sum(payment.c.amount).label("paid"))
        .group_by(payment.c.invoice_id)
        .subquery()
    )
    over = connection.execute(
        sa.select(paid.c.invoice_id, paid.c.paid, invoice.c.amount)
        .join(invoice, invoice.c.invoice_id == paid.c.invoice_id)
        .where(paid.c.paid > invoice.c.amount + 0.01)
        .limit(1000)
    ).all()
    if not over:
        return
    rows = frame.groupby("invoice_id")[ROW].min()
    raise ImportRejected(
        source,
        [
            RowProblem(
                source,
                int(rows.get(inv, 0)) or None,
                "amount",
                f"payments applied to invoice {inv} add up to {total:.2f}, more than "
                f"its amount {amount:.2f}",
            )
            for inv, total, amount in over
        ],
    )


def _with_defaults(spec: TableSpec, rows: pd.DataFrame) -> pd.DataFrame:
    """Fill the defaults that validation left empty (update tables leave them to the store)."""
    missing = [f for f in spec.fields if f.default is not None and rows[f.name].isna().any()]
    if not missing:
        return rows
    rows = rows.copy()
    for spec_field in missing:
        rows[spec_field.name] = rows[spec_field.name].fillna(spec_field.default)
    return rows


def _column_values(column: pd.Series) -> list[object]:
    """A column as Python values the DB drivers take, with None for missing values."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        text = np.datetime_as_string(column.to_numpy(dtype="datetime64[D]"), unit="D")
        values: list[object] = text.tolist()
        missing = column.isna().to_numpy()
        for i in np.flatnonzero(missing):
            values[i] = None
        return values
    if isinstance(column.dtype, pd.BooleanDtype) or column.dtype == bool:
        return [None if v is pd.NA else bool(v) for v in column.tolist()]
    values = column.astype(object).tolist()
    if column.isna().any():
        return [None if (v is None or v is pd.NA or v != v) else v for v in values]
    return values


def _bulk_insert(connection: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Insert rows with the driver's fastest path: COPY on PostgreSQL, executemany on SQLite.

    A load larger than what the table holds drops its secondary indexes and builds them again
    afterwards: building an index once from sorted data beats a million B-tree insertions.
    """
    if frame.empty:
        return
    stored = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    rebuild = [index for index in table.indexes if len(frame) > max(stored, 50_000)]
    for index in rebuild:
        index.drop(connection)
    _insert_rows(connection, table, frame)
    for index in rebuild:
        index.create(connection)


def _insert_rows(connection: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    rows = list(zip(*[_column_values(frame[c]) for c in frame.columns], strict=True))
    quoted = ", ".join(f'"{name}"' for name in frame.columns)
    raw = connection.connection.driver_connection
    driver_error = connection.dialect.loaded_dbapi.Error
    if connection.dialect.name == "postgresql":
        statement = f'COPY "{table.name}" ({quoted}) FROM STDIN'
    else:
        placeholders = ", ".join("?" for _ in frame.columns)
        statement = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({placeholders})'
    try:
        if connection.dialect.name == "postgresql":
            with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(row)
            return
        cursor = raw.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(statement, rows)
        finally:
            cursor.close()
    except driver_error as error:
        # The driver's own errors, as SQLAlchemy raises them for any other statement: a duplicate
        # key that raced in is an IntegrityError, a lock timeout an OperationalError.
        raise sa.exc.DBAPIError.instance(statement, None, error, driver_error) from None


def _reject_conflicts(
    spec: TableSpec, incoming: pd.DataFrame, stored: pd.DataFrame, source: str
) -> None:
    differing = differing_fields(spec, incoming, stored)
    conflicts = differing != ""
    if not conflicts.any():
        return
    bad = incoming[conflicts.to_numpy()].sort_values(ROW)
    problems = [
        RowProblem(
            source,
            int(row[ROW]),
            ",".join(spec.key),
            f"{spec.name} {'/'.join(str(_db_value(row[k])) for k in spec.key)} is already "
            f"stored with other contents (differs in: {differing[index].replace(',', ', ')})",
            differing=tuple(differing[index].split(",")),
        )
        for index, row in bad.head(1000).iterrows()
    ]
    raise ConflictingRecord(source, problems, total=int(conflicts.sum()))


def _update_changed(
    connection: Connection,
    spec: TableSpec,
    incoming: pd.DataFrame,
    stored: pd.DataFrame,
    *,
    keep_stored_values: bool,
) -> int:
    """Write the incoming rows over the stored ones; returns how many stored rows changed.

    keep_stored_values: an empty incoming value keeps the stored one (a registry extract that
    leaves a field out does not erase it); otherwise the incoming row replaces the stored row.
    """
    merged = incoming.copy()
    if keep_stored_values:
        for name in spec.columns:
            merged[name] = incoming[name].where(incoming[name].notna(), stored[name])
    changed = (differing_fields(spec, merged, stored) != "").to_numpy()
    if not changed.any():
        return 0
    target = ledger_tables[spec.name]
    non_key = [c for c in spec.columns if c not in spec.key]
    statement = (
        target.update()
        .where(sa.and_(*[target.c[k] == sa.bindparam(f"key_{k}") for k in spec.key]))
        .values({c: sa.bindparam(f"new_{c}") for c in non_key})
    )
    rows = merged[changed]
    values = {c: _column_values(rows[c]) for c in spec.columns}
    parameters = [
        {
            **{f"key_{k}": _as_date(spec, k, values[k][i]) for k in spec.key},
            **{f"new_{c}": _as_date(spec, c, values[c][i]) for c in non_key},
        }
        for i in range(len(rows))
    ]
    connection.execute(statement, parameters)
    return len(rows)


def _as_date(spec: TableSpec, name: str, value: object) -> object:
    if spec.by_name[name].kind == "date" and isinstance(value, str):
        return date.fromisoformat(value)
    return value

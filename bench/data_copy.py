"""A copy of a data folder for a benchmark to serve: the user's own folder is never written.

The decision log is append-only: decisions a benchmark wrote into the user's log could never be
taken out, and a log that grows with every run makes runs incomparable.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

from features.ledger import LedgerStore
from features.ledger_tables import metadata as ledger_tables
from service.records import migrate_service_tables
from service.settings import ServiceSettings
from service.tables import api_key as api_key_table


def embedded_only() -> None:
    """Stop, saying why, when the settings (environment or .env) name a database or a
    tracking server: these benchmarks measure the embedded setup of `make run` (SQLite and a
    local MLflow store), on a copy, and would otherwise write into that server."""
    settings = ServiceSettings()
    given = {"CREDIT_RISK_DATABASE_URL": settings.database_url,
             "CREDIT_RISK_TRACKING_URI": settings.tracking_uri}  # fmt: skip
    named = [name for name, value in given.items() if value]
    if named:
        raise SystemExit(
            f"{' and '.join(named)} {'is' if len(named) == 1 else 'are'} set: this benchmark "
            "runs on a copy of a make-run data folder (SQLite, local MLflow store); unset "
            f"{'it' if len(named) == 1 else 'them'} and point CREDIT_RISK_DATA_DIR or "
            "--data-dir at such a folder"
        )


def serving_copy(data_dir: Path, scratch: Path) -> Path:
    """A folder the bench serves from: the ledger and API keys (if it has any) of `data_dir`
    copied into a new database, beside a copy of its model registry (whose artifacts stay where
    they are, read only). The bench's decisions, keys and model copy go there, never into the
    user's log, and every run starts from an empty log."""
    started = time.perf_counter()
    served = scratch / "served"
    served.mkdir()
    target = LedgerStore.open(f"sqlite:///{served / 'credit_risk.db'}")  # the ledger's tables
    migrate_service_tables(target.engine)
    target.close()
    copy = sqlite3.connect(f"file:{served / 'credit_risk.db'}", uri=True, isolation_level=None)
    with closing(copy) as database:
        source = f"file:{data_dir / 'credit_risk.db'}?mode=ro"
        database.execute("ATTACH DATABASE ? AS source", (source,))
        held = {name for (name,) in database.execute(
            "SELECT name FROM source.sqlite_master WHERE type = 'table'")}  # fmt: skip
        # A folder that was built (`make model`) but never served has no keys table yet.
        keys = [api_key_table] if api_key_table.name in held else []
        copied = [*ledger_tables.sorted_tables, *keys]
        missing = [table.name for table in copied if table.name not in held]
        if missing:
            raise SystemExit(f"{data_dir / 'credit_risk.db'} has no {', '.join(missing)} "
                             "table: it is not a ledger; build one with `make model`")  # fmt: skip
        database.execute("BEGIN")
        for table in copied:  # replacing the rows a new ledger starts with (its version)
            columns = ", ".join(f'"{column.name}"' for column in table.columns)
            database.execute(
                f'INSERT OR REPLACE INTO main."{table.name}" ({columns}) '
                f'SELECT {columns} FROM source."{table.name}"'
            )
        database.execute("COMMIT")
    with (
        closing(sqlite3.connect(f"file:{data_dir / 'mlflow.db'}?mode=ro", uri=True)) as registry,
        closing(sqlite3.connect(served / "mlflow.db")) as kept,
    ):
        registry.backup(kept)
    size = (data_dir / "credit_risk.db").stat().st_size / 1e6
    took = time.perf_counter() - started
    parts = "ledger, keys and model registry" if keys else "ledger and model registry"
    print(f"serving a copy of {data_dir}'s {parts} (from a {size:,.0f} MB database, "
          f"in {took:.1f} s): the bench writes nothing there")  # fmt: skip
    return served

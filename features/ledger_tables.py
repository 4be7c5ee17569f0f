"""SQLAlchemy tables of the ledger, derived from the canonical specs so columns exist once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.schema import SchemaItem
from sqlalchemy.types import TypeEngine

from features.schemas import TABLES, Field, FieldKind, TableSpec

metadata = MetaData()

_TYPES: dict[FieldKind, type[TypeEngine[Any]]] = {
    "string": String,
    "date": Date,
    "float": Float,
    "int": Integer,
    "bool": Boolean,
}

# References between tables, enforced by the database and checked row by row before writing.
FOREIGN_KEYS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "invoice": (("customer_id", "customer", "customer_id"),),
    "payment": (("invoice_id", "invoice", "invoice_id"),),
    "demo_oracle": (("invoice_id", "invoice", "invoice_id"),),
}
INDEXES: dict[str, tuple[str, ...]] = {
    "invoice": ("customer_id", "issue_date"),
    "payment": ("invoice_id",),
    "customer": ("siren",),
    "financial_statement": ("siren",),
    "legal_event": ("siren",),
    "company": ("name",),
}


def _column(spec_field: Field, key: tuple[str, ...]) -> Column[object]:
    kind = _TYPES[spec_field.kind]
    type_ = String(9) if spec_field.name == "siren" else kind()
    return Column(spec_field.name, type_, nullable=not spec_field.required and spec_field.name
                  not in key)  # fmt: skip


def _table(spec: TableSpec) -> Table:
    items: list[SchemaItem] = [_column(f, spec.key) for f in spec.fields]
    items.append(PrimaryKeyConstraint(*spec.key, name=f"pk_{spec.name}"))
    for column, target, target_column in FOREIGN_KEYS.get(spec.name, ()):
        items.append(
            ForeignKeyConstraint(
                [column], [f"{target}.{target_column}"], name=f"fk_{spec.name}_{column}"
            )
        )
    for column in INDEXES.get(spec.name, ()):
        items.append(Index(f"ix_{spec.name}_{column}", column))
    return Table(spec.name, metadata, *items)


ledger_tables: dict[str, Table] = {name: _table(spec) for name, spec in TABLES.items()}

import_log = Table(
    "import_log",
    metadata,
    Column("import_id", Integer, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    Column("rows_read", Integer, nullable=False),
    Column("rows_added", Integer, nullable=False),
    Column("rows_updated", Integer, nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_import_log_sha", "content_sha256"),
)

# One row: a number every write to the ledger raises, in the same transaction as its import
# log entry, so that a reader tells whether the ledger changed with one look-up (counting the
# import log grows with it: 5 ms a look-up at 100,000 imports). The row's lock orders writers,
# so the number rises in the order their writes commit.
ledger_version = Table(
    "ledger_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("version", Integer, nullable=False),
)

# What each write touched, under the version it raised the ledger to: the customer accounts
# and companies (SIREN) whose features or directory entries it may have changed, or "all" when
# it named too many to list. A book held in memory since an older version still serves the
# subjects that no later write touched.
ledger_touch = Table(
    "ledger_touch",
    metadata,
    Column("version", Integer, nullable=False),
    Column("kind", String(8), nullable=False),  # customer, siren or all
    Column("subject", String, nullable=False),  # the customer id or SIREN; empty for all
    PrimaryKeyConstraint("version", "kind", "subject", name="pk_ledger_touch"),
)

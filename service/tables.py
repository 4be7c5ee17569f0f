"""The service's own tables, beside the ledger in the same database.

`api_key` holds hashed API keys and their roles; `decision` is the audit log of every score
served, with `decision_chunk` holding the JSON of batch items, both append-only (the database
itself refuses updates and deletes, see the migrations);
`ingestion` remembers the answer given to each `Idempotency-Key` so that a retried POST gets the
same answer without writing twice.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    literal_column,
)

__all__ = [
    "DECISION_BLOCK",
    "VERSION_TABLE",
    "api_key",
    "decision",
    "decision_block",
    "decision_chunk",
    "ingestion",
    "metadata",
]

# Alembic's version table for these tables (the ledger's migrations keep their own).
VERSION_TABLE = "service_alembic_version"

metadata = MetaData()

api_key = Table(
    "api_key",
    metadata,
    Column("key_id", String(16), nullable=False),
    Column("name", String(100), nullable=False),
    Column("roles", String(100), nullable=False),  # comma-separated role names
    Column("token_sha256", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("key_id", name="pk_api_key"),
    Index("ix_api_key_name", "name"),
)

decision = Table(
    "decision",
    metadata,
    Column("entry", Integer, nullable=False, autoincrement=True),  # order of recording
    Column("decision_id", String(36), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("caller", String(100), nullable=False),  # the API key's name
    Column("key_id", String(16), nullable=True),
    Column("channel", String(20), nullable=False),  # score, batch, web, portfolio
    Column("as_of", String(10), nullable=False),
    Column("customer_id", String, nullable=True),
    Column("siren", String(9), nullable=True),
    Column("amount", Float, nullable=True),
    Column("grade", String(1), nullable=False),
    Column("p_late", Float, nullable=False),
    Column("p_severe", Float, nullable=False),
    Column("model_version", String(100), nullable=False),
    Column("policy_version", String(100), nullable=True),
    # JSON: the inputs as received and the answer as sent; empty for the items of a batch,
    # whose JSON lives in their chunk.
    Column("request", Text, nullable=False),
    Column("response", Text, nullable=False),
    Column("chunk_id", String(36), nullable=True),  # a batch item's chunk, and its place there
    Column("chunk_item", Integer, nullable=True),
    PrimaryKeyConstraint("entry", name="pk_decision"),
    Index("ux_decision_decision_id", "decision_id", unique=True),
    Index("ix_decision_decided_at", "decided_at"),
    Index("ix_decision_channel_decided_at", "channel", "decided_at"),  # a channel's latest
)

# A subject's decisions are indexed within blocks of this many consecutive entries: by
# (block, subject, entry), not (subject, entry). New decisions then land in the last block's
# small part of each index, whatever the size of the log, where an index by subject alone had
# a batch's ten thousand rows dirty a page per subject (its commit grew with the log: 0.28 s
# for 10,000 rows on a log of 2.3 million decisions, 0.08 s by block). `AuditLog.find` reads a
# subject's decisions block by block, newest first.
DECISION_BLOCK = 65_536
decision_block = decision.c.entry // literal_column(str(DECISION_BLOCK), Integer)
Index("ix_decision_block_customer_id", decision_block, decision.c.customer_id, decision.c.entry)
Index("ix_decision_block_siren", decision_block, decision.c.siren, decision.c.entry)

# The JSON of up to CHUNK_ITEMS consecutive items of a batch, compressed together: the answers
# of one batch repeat their terms' wording, so a chunk takes about a seventeenth of the space
# (and a fraction of the writing) of the same JSON row by row.
decision_chunk = Table(
    "decision_chunk",
    metadata,
    Column("chunk_id", String(36), nullable=False),
    Column("items", Integer, nullable=False),
    # zstd (zlib in logs written before): a JSON array of the inputs, and one of the answers
    Column("requests", LargeBinary, nullable=False),
    Column("responses", LargeBinary, nullable=False),
    PrimaryKeyConstraint("chunk_id", name="pk_decision_chunk"),
)

ingestion = Table(
    "ingestion",
    metadata,
    Column("key_id", String(16), nullable=False),  # idempotency keys are per API key
    Column("idempotency_key", String(200), nullable=False),
    Column("endpoint", String(100), nullable=False),
    Column("request_sha256", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("key_id", "idempotency_key", name="pk_ingestion"),
)

"""service tables: API keys, the append-only decision log, idempotent ingestion

Revision ID: s0001
Revises:
Create Date: 2026-11-23 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "s0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = "the decision log is append-only: decisions cannot be changed or deleted"


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("roles", sa.String(length=100), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_key"),
    )
    op.create_index("ix_api_key_name", "api_key", ["name"])
    op.create_table(
        "decision",
        sa.Column("entry", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("decision_id", sa.String(length=36), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("caller", sa.String(length=100), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("as_of", sa.String(length=10), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=True),
        sa.Column("siren", sa.String(length=9), nullable=True),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("p_late", sa.Float(), nullable=False),
        sa.Column("p_severe", sa.Float(), nullable=False),
        sa.Column("model_version", sa.String(length=100), nullable=False),
        sa.Column("policy_version", sa.String(length=100), nullable=True),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("entry", name="pk_decision"),
    )
    op.create_index("ux_decision_decision_id", "decision", ["decision_id"], unique=True)
    op.create_index("ix_decision_decided_at", "decision", ["decided_at"])
    op.create_index("ix_decision_customer_id", "decision", ["customer_id", "decided_at"])
    op.create_index("ix_decision_siren", "decision", ["siren", "decided_at"])
    op.create_table(
        "ingestion",
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("endpoint", sa.String(length=100), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "idempotency_key", name="pk_ingestion"),
    )
    _refuse_changes_to_decisions()


def _refuse_changes_to_decisions() -> None:
    """The database itself keeps the log append-only, whatever client connects to it."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION decision_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER decision_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
            "ON decision FOR EACH STATEMENT EXECUTE FUNCTION decision_append_only()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER decision_no_{action.lower()} BEFORE {action} ON decision "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER decision_append_only ON decision")
        op.execute("DROP FUNCTION decision_append_only()")
    op.drop_table("ingestion")
    op.drop_table("decision")
    op.drop_table("api_key")

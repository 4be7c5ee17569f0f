"""decision chunks: the JSON of a batch's items, compressed together

Revision ID: s0002
Revises: s0001
Create Date: 2026-11-23 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "s0002"
down_revision = "s0001"
branch_labels = None
depends_on = None

APPEND_ONLY = "the decision log is append-only: decisions cannot be changed or deleted"


def upgrade() -> None:
    # Added columns, not a rebuilt table: a log of millions of decisions migrates at once.
    op.add_column("decision", sa.Column("chunk_id", sa.String(length=36), nullable=True))
    op.add_column("decision", sa.Column("chunk_item", sa.Integer(), nullable=True))
    op.create_table(
        "decision_chunk",
        sa.Column("chunk_id", sa.String(length=36), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("requests", sa.LargeBinary(), nullable=False),
        sa.Column("responses", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("chunk_id", name="pk_decision_chunk"),
    )
    if op.get_bind().dialect.name == "postgresql":  # the function of the first migration
        op.execute(
            "CREATE TRIGGER decision_chunk_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
            "ON decision_chunk FOR EACH STATEMENT EXECUTE FUNCTION decision_append_only()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER decision_chunk_no_{action.lower()} BEFORE {action} ON decision_chunk "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER decision_chunk_append_only ON decision_chunk")
    op.drop_table("decision_chunk")
    op.drop_column("decision", "chunk_item")
    op.drop_column("decision", "chunk_id")

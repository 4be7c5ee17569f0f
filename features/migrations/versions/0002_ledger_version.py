"""ledger version: one number every write raises

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # Starts from the imports already logged: any number would do, as long as writes raise it.
    op.execute("INSERT INTO ledger_version (id, version) SELECT 1, count(*) FROM import_log")


def downgrade() -> None:
    op.drop_table("ledger_version")

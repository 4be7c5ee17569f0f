"""ledger touch: the subjects each write touched

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_touch",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("version", "kind", "subject", name="pk_ledger_touch"),
    )
    # Books held before this migration know no touches: they read the ledger again.
    op.execute(
        "INSERT INTO ledger_touch (version, kind, subject) "
        "SELECT version, 'all', '' FROM ledger_version"
    )


def downgrade() -> None:
    op.drop_table("ledger_touch")

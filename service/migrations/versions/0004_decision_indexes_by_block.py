"""decision indexes by customer and SIREN within blocks of 65,536 entries

Revision ID: s0004
Revises: s0003
Create Date: 2026-12-07 07:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "s0004"
down_revision = "s0003"
branch_labels = None
depends_on = None

_BY = ("customer_id", "siren")
# service.tables.DECISION_BLOCK; in parentheses, as PostgreSQL wants an index expression
_BLOCK = "(entry / 65536)"


def upgrade() -> None:
    # New decisions land in the last block's part of each index instead of one page per
    # subject across the whole index: writing a batch no longer grows with the log.
    for column in _BY:
        op.drop_index(f"ix_decision_{column}", table_name="decision")
        op.create_index(
            f"ix_decision_block_{column}", "decision", [sa.text(_BLOCK), column, "entry"]
        )


def downgrade() -> None:
    for column in _BY:
        op.drop_index(f"ix_decision_block_{column}", table_name="decision")
        op.create_index(f"ix_decision_{column}", "decision", [column, "entry"])

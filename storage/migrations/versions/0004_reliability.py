"""reliability: replied_at on consultation (exactly-once replies on redelivered updates)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consultation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("replied_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    # Rows recorded before this revision were answered at the time (or are past saving):
    # never re-send them on a redelivery.
    op.execute("UPDATE consultation SET replied_at = created_at WHERE replied_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("consultation", schema=None) as batch_op:
        batch_op.drop_column("replied_at")

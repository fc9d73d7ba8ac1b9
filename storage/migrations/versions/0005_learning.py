"""learning from use: draft kinds (new entry, new phrasing, not-for) and their source consultation

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("faqdraft", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="entry")
        )
        batch_op.add_column(sa.Column("consultation_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_faqdraft_kind", ["kind"])


def downgrade() -> None:
    with op.batch_alter_table("faqdraft", schema=None) as batch_op:
        batch_op.drop_index("ix_faqdraft_kind")
        batch_op.drop_column("consultation_id")
        batch_op.drop_column("kind")

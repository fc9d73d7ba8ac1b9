"""HTTP API channel: API keys (hashed) and the stored replies behind idempotent message ids

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "apikey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("key_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "apiresponse",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("update_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("update_key"),
    )
    with op.batch_alter_table("apiresponse", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_apiresponse_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("apiresponse", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_apiresponse_created_at"))
    op.drop_table("apiresponse")
    op.drop_table("apikey")

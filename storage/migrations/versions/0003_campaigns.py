"""campaigns

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column("push_key", sqlmodel.sql.sqltypes.AutoString(length=96), nullable=False),
        sa.Column("scheduled_for", sa.Date(), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=96), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("villages", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("due_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("targeted", sa.Integer(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign", "push_key", "scheduled_for", name="uq_campaign_run"),
    )
    with op.batch_alter_table("campaign_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_run_campaign"), ["campaign"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaign_run_state"), ["state"], unique=False)

    op.create_table(
        "campaign_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("villager_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["campaign_run.id"],
        ),
        sa.ForeignKeyConstraint(
            ["villager_id"],
            ["villager.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "villager_id", name="uq_campaign_delivery"),
    )
    with op.batch_alter_table("campaign_delivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_delivery_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaign_delivery_state"), ["state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_campaign_delivery_villager_id"), ["villager_id"], unique=False
        )

    op.create_table(
        "campaign_click",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["campaign_delivery.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("delivery_id", "kind", name="uq_campaign_click"),
    )
    with op.batch_alter_table("campaign_click", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_click_delivery_id"), ["delivery_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("campaign_click", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_click_delivery_id"))

    op.drop_table("campaign_click")
    with op.batch_alter_table("campaign_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_delivery_villager_id"))
        batch_op.drop_index(batch_op.f("ix_campaign_delivery_state"))
        batch_op.drop_index(batch_op.f("ix_campaign_delivery_run_id"))

    op.drop_table("campaign_delivery")
    with op.batch_alter_table("campaign_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_run_state"))
        batch_op.drop_index(batch_op.f("ix_campaign_run_campaign"))

    op.drop_table("campaign_run")

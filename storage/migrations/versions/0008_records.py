"""Offline work records (hotline, walk-in, legal opinions, publicity events) and the dispute
register (cases and their mediation steps)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offlinerecord",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("village_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column("opinion_for", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("place", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("event_kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("materials", sa.Integer(), nullable=False),
        sa.Column("banners", sa.Integer(), nullable=False),
        sa.Column("attendees", sa.Integer(), nullable=False),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("offlinerecord", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offlinerecord_day"), ["day"], unique=False)
        batch_op.create_index(batch_op.f("ix_offlinerecord_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_offlinerecord_village_code"), ["village_code"], unique=False
        )

    op.create_table(
        "disputecase",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("village_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("parties", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("mediator", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=True),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("opened_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("satisfaction", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("closed_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("closed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalation.id"],
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["offlinerecord.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("disputecase", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_disputecase_escalation_id"), ["escalation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_disputecase_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_disputecase_opened_on"), ["opened_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_disputecase_record_id"), ["record_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_disputecase_state"), ["state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_disputecase_village_code"), ["village_code"], unique=False
        )

    op.create_table(
        "disputestep",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dispute_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dispute_id"],
            ["disputecase.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("disputestep", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_disputestep_dispute_id"), ["dispute_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("disputestep", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disputestep_dispute_id"))
    op.drop_table("disputestep")
    with op.batch_alter_table("disputecase", schema=None) as batch_op:
        for column in ("village_code", "state", "record_id", "opened_on", "kind", "escalation_id"):
            batch_op.drop_index(batch_op.f(f"ix_disputecase_{column}"))
    op.drop_table("disputecase")
    with op.batch_alter_table("offlinerecord", schema=None) as batch_op:
        for column in ("village_code", "kind", "day"):
            batch_op.drop_index(batch_op.f(f"ix_offlinerecord_{column}"))
    op.drop_table("offlinerecord")

"""escalation workflow

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "escalationmessage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalation.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chat_id", "message_id", name="uq_escalation_message"),
    )
    with op.batch_alter_table("escalationmessage", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_escalationmessage_escalation_id"), ["escalation_id"], unique=False
        )

    op.create_table(
        "escalationturn",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalation.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("escalationturn", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_escalationturn_escalation_id"), ["escalation_id"], unique=False
        )

    op.create_table(
        "faqdraft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("short", sa.Text(), nullable=False),
        sa.Column("variants", sa.Text(), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("next_steps", sa.Text(), nullable=False),
        sa.Column("topic_key", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=True),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("entry_id", sqlmodel.sql.sqltypes.AutoString(length=96), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalation.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("faqdraft", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_faqdraft_escalation_id"), ["escalation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_faqdraft_state"), ["state"], unique=False)

    with op.batch_alter_table("escalation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("level", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column(
                "assigned_at",
                sqlmodel.sql.sqltypes.UTCDateTime(),
                nullable=False,
                server_default=sa.func.current_timestamp(),
            )
        )
        batch_op.add_column(
            sa.Column("reminded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("notified_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("needs_call", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("thread_open", sa.Boolean(), nullable=False, server_default=sa.true())
        )

    with op.batch_alter_table("villager", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.add_column(
            sa.Column("phone_consent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("villager", schema=None) as batch_op:
        batch_op.drop_column("phone_consent_at")
        batch_op.drop_column("phone")

    with op.batch_alter_table("escalation", schema=None) as batch_op:
        batch_op.drop_column("thread_open")
        batch_op.drop_column("needs_call")
        batch_op.drop_column("notified_at")
        batch_op.drop_column("reminded_at")
        batch_op.drop_column("assigned_at")
        batch_op.drop_column("level")

    with op.batch_alter_table("faqdraft", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_faqdraft_state"))
        batch_op.drop_index(batch_op.f("ix_faqdraft_escalation_id"))

    op.drop_table("faqdraft")
    with op.batch_alter_table("escalationturn", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalationturn_escalation_id"))

    op.drop_table("escalationturn")
    with op.batch_alter_table("escalationmessage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalationmessage_escalation_id"))

    op.drop_table("escalationmessage")

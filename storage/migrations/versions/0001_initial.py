"""initial tables

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "villager",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("channel_user_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("chat_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("village_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("subscribed", sa.Boolean(), nullable=False),
        sa.Column("elder_mode", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("consent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("forgotten_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "channel_user_id", name="uq_villager_channel_user"),
    )
    with op.batch_alter_table("villager", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_villager_village_code"), ["village_code"], unique=False
        )

    op.create_table(
        "consultation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("villager_id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("village_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("raw_text", sa.Text(), nullable=False),
        sa.Column("normalized_text", sa.Text(), nullable=False),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("faq_id", sqlmodel.sql.sqltypes.AutoString(length=96), nullable=True),
        sa.Column("topic_key", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("candidates", sa.Text(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("update_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["villager_id"],
            ["villager.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("update_key"),
    )
    with op.batch_alter_table("consultation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consultation_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_consultation_decision"), ["decision"], unique=False)
        batch_op.create_index(batch_op.f("ix_consultation_topic_key"), ["topic_key"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_consultation_village_code"), ["village_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_consultation_villager_id"), ["villager_id"], unique=False
        )

    op.create_table(
        "escalation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consultation_id", sa.Integer(), nullable=False),
        sa.Column("villager_id", sa.Integer(), nullable=False),
        sa.Column("village_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("advisor_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("claimed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("first_response_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("closed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultation.id"],
        ),
        sa.ForeignKeyConstraint(
            ["villager_id"],
            ["villager.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("escalation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_escalation_advisor_id"), ["advisor_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_escalation_consultation_id"), ["consultation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_escalation_state"), ["state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_escalation_village_code"), ["village_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_escalation_villager_id"), ["villager_id"], unique=False
        )

    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consultation_id", sa.Integer(), nullable=False),
        sa.Column("villager_id", sa.Integer(), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultation.id"],
        ),
        sa.ForeignKeyConstraint(
            ["villager_id"],
            ["villager.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("consultation_id", "target", name="uq_feedback_target"),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_feedback_consultation_id"), ["consultation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_feedback_villager_id"), ["villager_id"], unique=False)

    op.create_table(
        "escalationevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("from_state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("to_state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalation.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("escalationevent", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_escalationevent_escalation_id"), ["escalation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("escalationevent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalationevent_escalation_id"))

    op.drop_table("escalationevent")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_villager_id"))
        batch_op.drop_index(batch_op.f("ix_feedback_consultation_id"))

    op.drop_table("feedback")
    with op.batch_alter_table("escalation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalation_villager_id"))
        batch_op.drop_index(batch_op.f("ix_escalation_village_code"))
        batch_op.drop_index(batch_op.f("ix_escalation_state"))
        batch_op.drop_index(batch_op.f("ix_escalation_consultation_id"))
        batch_op.drop_index(batch_op.f("ix_escalation_advisor_id"))

    op.drop_table("escalation")
    with op.batch_alter_table("consultation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consultation_villager_id"))
        batch_op.drop_index(batch_op.f("ix_consultation_village_code"))
        batch_op.drop_index(batch_op.f("ix_consultation_topic_key"))
        batch_op.drop_index(batch_op.f("ix_consultation_decision"))
        batch_op.drop_index(batch_op.f("ix_consultation_created_at"))

    op.drop_table("consultation")
    with op.batch_alter_table("villager", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_villager_village_code"))

    op.drop_table("villager")

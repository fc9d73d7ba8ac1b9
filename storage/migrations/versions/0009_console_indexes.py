"""Indexes for the console's pages over a year of consultations (`lawbot bench-web`)

* `ix_consultation_question`: every question aggregate of the report filters on the decision
  (IN the question decisions) and a created_at range and reads only villager, village, topic and
  channel, so one covering index answers them with index-only range scans;
* `ix_escalation_created_at`: the escalation aggregates filter on the escalation's created_at.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

QUESTION_COLUMNS = [
    "decision",
    "created_at",
    "villager_id",
    "village_code",
    "topic_key",
    "channel",
]


def upgrade() -> None:
    op.create_index("ix_consultation_question", "consultation", QUESTION_COLUMNS, unique=False)
    op.create_index("ix_escalation_created_at", "escalation", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_escalation_created_at", table_name="escalation")
    op.drop_index("ix_consultation_question", table_name="consultation")

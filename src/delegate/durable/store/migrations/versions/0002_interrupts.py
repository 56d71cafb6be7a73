"""Interrupts: the questions a run puts to a person, and their answers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

One row per interrupt in ``interrupts``, under ``runs`` like the other tables; ``(run_id,
interrupt_id)`` is unique (asking the same question again finds the stored row), and
``(status, deadline)`` is indexed for finding the pending ones whose deadline passed. A run
waiting for an answer has the status ``waiting``: ``runs.status`` is free text, so that needs
no change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(sa.Text(), "sqlite")  # as in 0001: TEXT keeps numbers exact
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "interrupts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("interrupt_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("task_id", sa.String(), nullable=False),
        sa.Column("payload", JSON_DOC, nullable=False),
        sa.Column("schema", JSON_DOC, nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("answer", JSON_DOC, nullable=True),
        sa.Column("answered_by", sa.String(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("answered_at", TIME, nullable=True),
        sa.Column("deadline", TIME, nullable=True),
        sa.Column("on_timeout", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_interrupts"),
        sa.UniqueConstraint("run_id", "interrupt_id", name="uq_interrupts_run_id_interrupt_id"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_interrupts_run_id",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_interrupts_status_deadline", "interrupts", ["status", "deadline"])


def downgrade() -> None:
    op.drop_index("ix_interrupts_status_deadline", table_name="interrupts")
    op.drop_table("interrupts")

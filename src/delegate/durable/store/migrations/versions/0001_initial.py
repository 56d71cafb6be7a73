"""The first schema: runs, and what each run is made of, plus the response cache.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

One row per run in ``runs`` (its owner and heartbeat included); ``plan_versions``,
``outcomes``, ``model_calls`` and ``events`` hang off it; ``response_cache`` is shared by all
runs. JSON columns are ``JSON`` on PostgreSQL and ``TEXT`` on SQLite: a column declared
``JSON`` there would get numeric affinity and turn a stored ``1.0`` or a huge integer into a
different number.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(sa.Text(), "sqlite")
TIME = sa.DateTime(timezone=True)


def _run_id() -> sa.Column:
    return sa.Column("run_id", sa.String(), nullable=False)


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=f"fk_{table}_run_id",
                                   ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("objective", sa.Text(), nullable=False),
        sa.Column("request", JSON_DOC, nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("result", JSON_DOC, nullable=True),
        sa.Column("owner_token", sa.String(), nullable=True),
        sa.Column("owner_host", sa.String(), nullable=True),
        sa.Column("owner_pid", sa.Integer(), nullable=True),
        sa.Column("heartbeat_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_created_at", "runs", ["created_at"])

    op.create_table(
        "plan_versions",
        _run_id(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("plan", JSON_DOC, nullable=False),
        sa.Column("change", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "version", name="pk_plan_versions"),
        _run_fk("plan_versions"),
    )

    op.create_table(
        "outcomes",
        _run_id(),
        sa.Column("task_id", sa.String(), nullable=False),
        sa.Column("outcome", JSON_DOC, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "task_id", name="pk_outcomes"),
        _run_fk("outcomes"),
    )

    op.create_table(
        "model_calls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _run_id(),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(), nullable=False),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("request_hash", sa.String(), nullable=False),
        sa.Column("request", JSON_DOC, nullable=False),
        sa.Column("response", JSON_DOC, nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_seconds", sa.Float(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_calls"),
        _run_fk("model_calls"),
    )
    op.create_index("ix_model_calls_run_id_seq", "model_calls", ["run_id", "seq"])
    op.create_index("ix_model_calls_request_hash", "model_calls", ["request_hash"])

    op.create_table(
        "events",
        _run_id(),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("data", JSON_DOC, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name="pk_events"),
        _run_fk("events"),
    )

    op.create_table(
        "response_cache",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("response", JSON_DOC, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("hits", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_response_cache"),
    )


def downgrade() -> None:
    for table in ("response_cache", "events", "model_calls", "outcomes", "plan_versions",
                  "runs"):
        op.drop_table(table)

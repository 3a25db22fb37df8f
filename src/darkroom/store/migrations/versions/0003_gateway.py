"""The gateway: the ledger records costs, the model that served a request and the upstream's request id;
keys may be limited to some models and have a monthly budget in dollars.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Float = sa.Float(precision=53)


def upgrade() -> None:
    with op.batch_alter_table("usage") as usage:
        usage.add_column(sa.Column("cost_usd", Float, nullable=True))
        usage.add_column(sa.Column("served_by", sa.String(256), nullable=True))
        usage.add_column(sa.Column("upstream_request_id", sa.String(128), nullable=True))
    with op.batch_alter_table("api_keys") as keys:
        keys.add_column(sa.Column("models", sa.Text, nullable=True))
        keys.add_column(sa.Column("monthly_budget_usd", Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as keys:
        keys.drop_column("monthly_budget_usd")
        keys.drop_column("models")
    with op.batch_alter_table("usage") as usage:
        usage.drop_column("upstream_request_id")
        usage.drop_column("served_by")
        usage.drop_column("cost_usd")

"""The ledger records moderation blocks: `usage.moderation` = "<stage>:<category>,<category>..."

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("usage", sa.Column("moderation", sa.String(200), nullable=True))


def downgrade() -> None:
    op.drop_column("usage", "moderation")

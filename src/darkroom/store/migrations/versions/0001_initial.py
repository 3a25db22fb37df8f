"""The first schema: API keys, rate buckets, monthly quota counters, the usage ledger, kept images.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Float = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("admin", sa.Boolean, nullable=False),
        sa.Column("rpm", sa.Integer, nullable=True),
        sa.Column("images_per_minute", sa.Integer, nullable=True),
        sa.Column("monthly_images", sa.Integer, nullable=True),
        sa.Column("created_at", Float, nullable=False),
        sa.Column("revoked_at", Float, nullable=True),
    )
    op.create_table(
        "rate_buckets",
        sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("tokens", Float, nullable=False),
        sa.Column("updated_at", Float, nullable=False),
    )
    op.create_table(
        "quota_usage",
        sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("images", sa.Integer, nullable=False),
    )
    op.create_table(
        "usage",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", Float, nullable=False),
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("key_name", sa.String(100), nullable=True),
        sa.Column("path", sa.String(64), nullable=False),
        sa.Column("model", sa.String(100), nullable=True),
        sa.Column("engine", sa.String(32), nullable=True),
        sa.Column("operation", sa.String(16), nullable=True),
        sa.Column("n", sa.Integer, nullable=True),
        sa.Column("size", sa.String(16), nullable=True),
        sa.Column("quality", sa.String(16), nullable=True),
        sa.Column("output_format", sa.String(8), nullable=True),
        sa.Column("stream", sa.Boolean, nullable=True),
        sa.Column("images", sa.Integer, nullable=False),
        sa.Column("input_tokens", sa.Integer, nullable=True),
        sa.Column("output_tokens", sa.Integer, nullable=True),
        sa.Column("total_tokens", sa.Integer, nullable=True),
        sa.Column("queue_ms", Float, nullable=True),
        sa.Column("engine_ms", Float, nullable=True),
        sa.Column("encode_ms", Float, nullable=True),
        sa.Column("total_ms", Float, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
    )
    op.create_index("ix_usage_created_at", "usage", ["created_at"])
    op.create_index("ix_usage_key_name", "usage", ["key_name"])
    op.create_table(
        "stored_images",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("key_name", sa.String(100), nullable=True),
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("object_name", sa.String(128), nullable=False),
        sa.Column("created_at", Float, nullable=False),
        sa.Column("expires_at", Float, nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("size", sa.String(16), nullable=False),
        sa.Column("output_format", sa.String(8), nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_stored_images_key_name", "stored_images", ["key_name"])
    op.create_index("ix_stored_images_expires_at", "stored_images", ["expires_at"])


def downgrade() -> None:
    for table in ("stored_images", "usage", "quota_usage", "rate_buckets", "api_keys"):
        op.drop_table(table)

"""The metadata store's tables (SQLAlchemy Core). Migrations in `migrations/` create and change them.

    api_keys       issued keys: name, SHA-256 of the key (never the key), limits, admin flag, revoked_at,
                   the models it may use, its monthly budget in dollars
    rate_buckets   one token bucket per key and kind ("requests", "images"): tokens left, last refill
    quota_usage    images charged per key and calendar month (UTC), for `monthly_images`
    usage          the ledger: one row per image request (who, what, tokens, cost, timings, status)
    stored_images  images kept by `store_all`, with their request's metadata and owner

Times are Unix seconds as floats: the same on SQLite and PostgreSQL, and cheap to compare.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
Float = sa.Float(precision=53)  # double precision on PostgreSQL, REAL on SQLite

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("key_prefix", sa.String(16), nullable=False),
    sa.Column("admin", sa.Boolean, nullable=False, default=False),
    sa.Column("rpm", sa.Integer, nullable=True),
    sa.Column("images_per_minute", sa.Integer, nullable=True),
    sa.Column("monthly_images", sa.Integer, nullable=True),
    sa.Column("created_at", Float, nullable=False),
    sa.Column("revoked_at", Float, nullable=True),
    sa.Column("models", sa.Text, nullable=True),  # a JSON list of model names; NULL: every model (0003)
    sa.Column("monthly_budget_usd", Float, nullable=True),  # 429 insufficient_quota once spent (0003)
)

rate_buckets = sa.Table(
    "rate_buckets", metadata,
    sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("tokens", Float, nullable=False),
    sa.Column("updated_at", Float, nullable=False),
)

quota_usage = sa.Table(
    "quota_usage", metadata,
    sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("month", sa.String(7), primary_key=True),  # YYYY-MM, UTC
    sa.Column("images", sa.Integer, nullable=False, default=0),
)

usage = sa.Table(
    "usage", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", Float, nullable=False, index=True),
    sa.Column("request_id", sa.String(40), nullable=False),
    sa.Column("key_name", sa.String(100), nullable=True, index=True),
    sa.Column("path", sa.String(64), nullable=False),
    sa.Column("model", sa.String(100), nullable=True),
    sa.Column("engine", sa.String(32), nullable=True),
    sa.Column("operation", sa.String(16), nullable=True),
    sa.Column("n", sa.Integer, nullable=True),
    sa.Column("size", sa.String(16), nullable=True),
    sa.Column("quality", sa.String(16), nullable=True),
    sa.Column("output_format", sa.String(8), nullable=True),
    sa.Column("stream", sa.Boolean, nullable=True),
    sa.Column("images", sa.Integer, nullable=False, default=0),
    sa.Column("input_tokens", sa.Integer, nullable=True),
    sa.Column("output_tokens", sa.Integer, nullable=True),
    sa.Column("total_tokens", sa.Integer, nullable=True),
    sa.Column("queue_ms", Float, nullable=True),
    sa.Column("engine_ms", Float, nullable=True),
    sa.Column("encode_ms", Float, nullable=True),
    sa.Column("total_ms", Float, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("moderation", sa.String(200), nullable=True),  # a block: "input:sexual" (migration 0002)
    sa.Column("cost_usd", Float, nullable=True),  # priced from usage (pricing.py); NULL: unknown (0003)
    sa.Column("served_by", sa.String(256), nullable=True),  # the model that answered (a route's target)
    sa.Column("upstream_request_id", sa.String(128), nullable=True),  # an upstream model's request id
)

stored_images = sa.Table(
    "stored_images", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("key_name", sa.String(100), nullable=True, index=True),
    sa.Column("request_id", sa.String(40), nullable=False),
    sa.Column("object_name", sa.String(128), nullable=False),
    sa.Column("created_at", Float, nullable=False),
    sa.Column("expires_at", Float, nullable=False, index=True),
    sa.Column("model", sa.String(100), nullable=False),
    sa.Column("operation", sa.String(16), nullable=False),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("size", sa.String(16), nullable=False),
    sa.Column("output_format", sa.String(8), nullable=False),
    sa.Column("seed", sa.BigInteger, nullable=False),
)

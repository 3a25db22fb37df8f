"""Alembic's environment: Darkroom runs migrations itself (`store/database.py`), on a connection it passes
in `config.attributes["connection"]`; `alembic -x url=... upgrade head` also works for operators."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from darkroom.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    with sa.create_engine(url).connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()

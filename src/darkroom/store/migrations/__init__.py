"""Alembic migrations of the metadata store, run by `store.database.open_database` at every start."""

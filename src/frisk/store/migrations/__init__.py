"""Alembic migrations of the ledger, run in code by ``frisk.store.migrate`` (no alembic.ini)."""

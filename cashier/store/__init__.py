"""The till's durable local store: SQLite with Alembic migrations (see :mod:`cashier.store.db`)."""

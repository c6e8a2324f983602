"""Alembic environment for the till's database (run by :func:`cashier.store.db.open_store`)."""

from __future__ import annotations

from alembic import context

from cashier.store.db import make_engine
from cashier.store.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url is not None
engine = make_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()

"""Alembic environment: runs on the connection ``lgl_sync.store.migrate`` hands over."""

from alembic import context

from lgl_sync.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

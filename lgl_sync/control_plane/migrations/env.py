"""Alembic environment: runs on the connection ``lgl_sync.control_plane.migrate`` hands over."""

from alembic import context

from lgl_sync.control_plane.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

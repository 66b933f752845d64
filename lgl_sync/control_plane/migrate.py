"""Alembic migrations, applied by ``lgl-sync db upgrade``."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


_alembic = threading.RLock()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Brings the database to ``revision``; safe to run again, keeps every existing row."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's migration context is one per process (a module-level proxy): two threads
    # migrating at once trample each other's.
    with _alembic, engine.begin() as connection:
        # The connection is handed over directly so the URL (and its password) never passes
        # through Alembic's config parser or its logs.
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

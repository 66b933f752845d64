"""One code path for both backends: Supabase's Postgres in production, SQLite on a laptop."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url


def database_url() -> str:
    """``LGL_DATABASE_URL``, else a SQLite file under DAGSTER_HOME."""
    configured = os.environ.get("LGL_DATABASE_URL")
    if configured:
        return configured
    from lgl_sync.ops.instance import dagster_home

    return f"sqlite:///{Path(dagster_home()) / 'lgl_sync.db'}"


def normalise_url(url: str) -> str:
    """Accepts Supabase's ``postgres://`` and ``postgresql://`` forms (direct or pooler)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    return url


def redacted(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def create_engine(url: str | None = None) -> Engine:
    """An engine for the control-plane database; SQLite waits on locks instead of failing."""
    url = normalise_url(url or database_url())
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(connection, _record) -> None:  # pragma: no cover - trivial
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def aware(value: datetime) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite hands back naive ones)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)

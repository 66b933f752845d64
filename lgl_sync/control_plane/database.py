"""One code path for both backends: Supabase's Postgres in production, SQLite on a laptop."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from lgl_sync import settings


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
    """An engine for the control-plane database, with every wait bounded: opening a
    connection (``LGL_DB_CONNECT_TIMEOUT_SECONDS``), and each statement or lock wait
    (``LGL_DB_STATEMENT_TIMEOUT_SECONDS``). A stalled database ends the run with an error
    instead of hanging it."""
    url = normalise_url(url or database_url())
    statement_seconds = settings.db_statement_timeout()
    if url.startswith("sqlite"):
        return _sqlite_engine(url, statement_seconds)
    connect_seconds = settings.db_connect_timeout()
    engine = sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_timeout=connect_seconds,
        # Many parameter sets in one statement (an upsert of a first sync's 100,000 SKUs) go
        # as pages of 1,000 per round trip; psycopg2's own executemany sends one per row, 2.7x
        # slower here.
        executemany_mode="values_plus_batch",
        executemany_batch_page_size=1000,
        connect_args={
            "connect_timeout": connect_seconds,
            # A peer that vanished (a dropped NAT entry, a failed-over pooler) is noticed.
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        },
    )

    @sa.event.listens_for(engine, "begin")
    def _timeouts(connection) -> None:
        # Per transaction (SET LOCAL), so they hold through Supabase's transaction pooler too,
        # where session settings and startup options do not survive.
        milliseconds = int(statement_seconds * 1000)
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {milliseconds}")
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = {milliseconds}")
        connection.exec_driver_sql(
            f"SET LOCAL idle_in_transaction_session_timeout = {milliseconds * 2}"
        )

    return engine


def _sqlite_engine(url: str, statement_seconds: float) -> Engine:
    engine = sa.create_engine(
        url, connect_args={"timeout": statement_seconds, "check_same_thread": False}
    )

    @sa.event.listens_for(engine, "connect")
    def _pragmas(connection, _record) -> None:  # pragma: no cover - trivial
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(statement_seconds * 1000)}")
        cursor.close()

    return engine


def aware(value: datetime) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite hands back naive ones)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)

"""`lgl-sync db upgrade` adopts the old system's Supabase database without losing a row.

Contract: on a real Postgres database created with the old schema and seeded with rows, the
upgrade keeps every row and value, adds the ledger tables and LGL Sync's new columns, and a
second run changes nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import sqlalchemy as sa

OLD_SCHEMA = Path(__file__).with_name("fixtures") / "supabase_schema.sql"


def _snapshot(url: str) -> dict[str, list]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        shot = {
            table: [
                tuple(row)
                for row in connection.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1"))
            ]
            for table in ("retailers", "sync_jobs", "activity_logs", "email_notifications")
        }
    engine.dispose()
    return shot


def _upgrade(url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).with_name("lgl-sync")), "db", "upgrade"],
        env={**os.environ, "LGL_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_upgrade_keeps_every_old_row_and_adds_what_is_missing(postgres_url):
    with psycopg2.connect(postgres_url) as connection, connection.cursor() as cursor:
        cursor.execute(OLD_SCHEMA.read_text())
    before = _snapshot(postgres_url)
    assert [len(v) for v in before.values()] == [4, 50, 120, 1]

    first = _upgrade(postgres_url)
    assert first.returncode == 0, first.stderr
    assert "password" not in first.stdout.lower() or "***" in first.stdout

    after = _snapshot(postgres_url)
    for table, rows in before.items():
        # Old columns keep their values; new columns are appended after them.
        assert [row[: len(rows[0])] for row in after[table]] == rows, table
    inspector = sa.inspect(sa.create_engine(postgres_url))
    assert {"order_links", "fulfillment_links", "inventory_writes", "alembic_version"} <= set(
        inspector.get_table_names()
    )
    columns = {c["name"] for c in inspector.get_columns("retailers")}
    assert {"inventory_safety_buffer", "activate_missing_inventory"} <= columns

    second = _upgrade(postgres_url)
    assert second.returncode == 0, second.stderr
    assert _snapshot(postgres_url) == after
    # LGL Sync's own tables have row-level security on (no policies): Supabase's public roles
    # reach nothing there, the owner LGL Sync connects as is unaffected.
    with psycopg2.connect(postgres_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, relrowsecurity FROM pg_class WHERE relname = ANY(%s)",
            (
                [
                    "order_links",
                    "fulfillment_links",
                    "store_credentials",
                    "asset_handoffs",
                    "retailers",
                ],
            ),
        )
        secured = dict(cursor.fetchall())
        cursor.execute("SELECT count(*) FROM order_links")  # still readable by its owner
    assert secured["order_links"] and secured["fulfillment_links"] and secured["store_credentials"]
    assert secured["asset_handoffs"]  # customers' addresses in flight: nobody else reads them
    assert secured["retailers"] is False  # adopted from Supabase: left as it was

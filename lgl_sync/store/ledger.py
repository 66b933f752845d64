"""The exactly-once ledgers: one row per write to Shopify, guarded by unique keys.

Each ``claim_*`` inserts the row for a write *before* the write is made. The database's unique
constraint decides between two concurrent claimants: exactly one gets ``True``; the other gets
``False`` ("already recorded") and must not write.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from lgl_sync.store.tables import fulfillment_links, inventory_writes, order_links


def _insert_once(connection: Connection, table: sa.Table, values: dict[str, Any]) -> bool:
    dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
    # Explicit timestamps: SQLite's CURRENT_TIMESTAMP has no fraction, which would make a
    # later compare-and-set on updated_at compare unlike strings.
    now = datetime.now(UTC)
    values = {"created_at": now, "updated_at": now, **values}
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing()
    return connection.execute(statement).rowcount == 1


def claim_order(
    engine: Engine,
    *,
    retailer_id: str,
    source_order_id: str,
    source_order_name: str | None = None,
    run_id: str | None = None,
) -> bool:
    """Records that this source order is being imported; False if it was recorded before."""
    with engine.begin() as connection:
        return _insert_once(
            connection,
            order_links,
            {
                "retailer_id": retailer_id,
                "source_order_id": source_order_id,
                "source_order_name": source_order_name,
                "status": "pending",
                "run_id": run_id,
            },
        )


def order_link(engine: Engine, retailer_id: str, source_order_id: str) -> dict | None:
    with engine.connect() as connection:
        row = (
            connection.execute(
                sa.select(order_links).where(
                    order_links.c.retailer_id == retailer_id,
                    order_links.c.source_order_id == source_order_id,
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


def update_order_link(
    engine: Engine, retailer_id: str, source_order_id: str, **values: Any
) -> None:
    with engine.begin() as connection:
        connection.execute(
            order_links.update()
            .where(
                order_links.c.retailer_id == retailer_id,
                order_links.c.source_order_id == source_order_id,
            )
            .values(**values, updated_at=datetime.now(UTC))
        )


def claim_fulfillment(
    engine: Engine,
    *,
    lgl_fulfillment_id: str,
    retailer_id: str,
    lgl_order_id: str,
    run_id: str | None = None,
) -> bool:
    """Records that this LGL fulfillment is being pushed; False if recorded before."""
    with engine.begin() as connection:
        return _insert_once(
            connection,
            fulfillment_links,
            {
                "lgl_fulfillment_id": lgl_fulfillment_id,
                "retailer_id": retailer_id,
                "lgl_order_id": lgl_order_id,
                "status": "pending",
                "run_id": run_id,
            },
        )


def claim_inventory_write(
    engine: Engine,
    *,
    idempotency_key: str,
    retailer_id: str,
    batch: int,
    items: int,
    run_id: str | None = None,
) -> bool:
    """Records an inventory batch before it is sent; False if that key was recorded before."""
    with engine.begin() as connection:
        return _insert_once(
            connection,
            inventory_writes,
            {
                "idempotency_key": idempotency_key,
                "retailer_id": retailer_id,
                "batch": batch,
                "items": items,
                "status": "pending",
                "run_id": run_id,
            },
        )


def take_over_order(
    engine: Engine,
    *,
    retailer_id: str,
    source_order_id: str,
    from_run: str | None,
    from_updated_at: Any,
    to_run: str | None,
) -> bool:
    """Moves a stale pending claim to this run, only if nobody changed it since it was read
    (compare-and-set on run id and timestamp); False means another run got there first."""
    with engine.begin() as connection:
        result = connection.execute(
            order_links.update()
            .where(
                order_links.c.retailer_id == retailer_id,
                order_links.c.source_order_id == source_order_id,
                order_links.c.run_id.is_(None)
                if from_run is None
                else order_links.c.run_id == from_run,
                order_links.c.updated_at == from_updated_at,
            )
            .values(run_id=to_run, status="pending", updated_at=datetime.now(UTC))
        )
    return result.rowcount == 1


def fulfillment_link(engine: Engine, lgl_fulfillment_id: str) -> dict | None:
    with engine.connect() as connection:
        row = (
            connection.execute(
                sa.select(fulfillment_links).where(
                    fulfillment_links.c.lgl_fulfillment_id == lgl_fulfillment_id
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


def fulfillment_links_of(engine: Engine, retailer_id: str) -> dict[str, dict]:
    """Every fulfillment link of a retailer, by LGL fulfillment id (one query per run)."""
    with engine.connect() as connection:
        rows = (
            connection.execute(
                sa.select(fulfillment_links).where(fulfillment_links.c.retailer_id == retailer_id)
            )
            .mappings()
            .all()
        )
    return {row["lgl_fulfillment_id"]: dict(row) for row in rows}


def update_fulfillment_link(engine: Engine, lgl_fulfillment_id: str, **values: Any) -> None:
    with engine.begin() as connection:
        connection.execute(
            fulfillment_links.update()
            .where(
                fulfillment_links.c.lgl_fulfillment_id == lgl_fulfillment_id,
            )
            .values(**values, updated_at=datetime.now(UTC))
        )


def take_over_fulfillment(
    engine: Engine,
    *,
    lgl_fulfillment_id: str,
    from_run: str | None,
    from_updated_at: Any,
    to_run: str | None,
) -> bool:
    """Compare-and-set move of a stale claim to this run (see take_over_order)."""
    with engine.begin() as connection:
        result = connection.execute(
            fulfillment_links.update()
            .where(
                fulfillment_links.c.lgl_fulfillment_id == lgl_fulfillment_id,
                fulfillment_links.c.run_id.is_(None)
                if from_run is None
                else fulfillment_links.c.run_id == from_run,
                fulfillment_links.c.updated_at == from_updated_at,
            )
            .values(run_id=to_run, status="pending", updated_at=datetime.now(UTC))
        )
    return result.rowcount == 1


def lgl_order_for(engine: Engine, retailer_id: str, lgl_order_id: str) -> str | None:
    """The source order an LGL order was imported from, per the import ledger."""
    with engine.connect() as connection:
        return connection.execute(
            sa.select(order_links.c.source_order_id).where(
                order_links.c.retailer_id == retailer_id, order_links.c.lgl_order_id == lgl_order_id
            )
        ).scalar()


def finish_inventory_write(engine: Engine, idempotency_key: str, status: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            inventory_writes.update()
            .where(
                inventory_writes.c.idempotency_key == idempotency_key,
            )
            .values(status=status, updated_at=datetime.now(UTC))
        )

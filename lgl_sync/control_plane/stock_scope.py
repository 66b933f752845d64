"""What an inventory run scoped to the SKUs a webhook named needs beside Dagster's handoffs.

- ``lgl_stock_reads``: LGL's available per inventory item as a scoped run read it, with the time
  the read began. A full sync still working from an older snapshot takes these instead of the
  snapshot's (``fresher_than``), so it never writes back a quantity a webhook already replaced.
  Each new snapshot deletes the reads it supersedes.
- ``retailer_stock_items``: each retailer's inventory item per SKU at its LGL location, as its
  last full sync read it. A scoped run reads exactly those items by id: Shopify's search index
  lags, ids do not.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lgl_sync.control_plane.records import CHUNK, PAGE, _insert, upsert_many
from lgl_sync.control_plane.tables import lgl_stock_reads, retailer_stock_items


def record_lgl_reads(
    engine: Engine, rows: Iterable[tuple[str, str, int]], read_at: datetime
) -> int:
    """(inventory item id, sku, available) read at ``read_at``; an older read never replaces a
    newer one. Returns the rows written."""
    values = [
        {"inventory_item_id": item, "sku": sku, "available": int(n), "read_at": read_at}
        for item, sku, n in rows
    ]
    written = 0
    with engine.begin() as connection:
        for start in range(0, len(values), CHUNK):
            statement = _insert(connection, lgl_stock_reads).values(values[start : start + CHUNK])
            written += connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["inventory_item_id"],
                    set_={
                        "sku": statement.excluded.sku,
                        "available": statement.excluded.available,
                        "read_at": statement.excluded.read_at,
                    },
                    where=lgl_stock_reads.c.read_at < statement.excluded.read_at,
                )
            ).rowcount
    return written


def fresher_than(engine: Engine, at: datetime) -> pd.DataFrame:
    """The reads begun after ``at``: (sku, inventory_item_id, available)."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                lgl_stock_reads.c.sku,
                lgl_stock_reads.c.inventory_item_id,
                lgl_stock_reads.c.available,
            ).where(lgl_stock_reads.c.read_at > at)
        ).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["sku", "inventory_item_id", "available"])


def prune_lgl_reads(engine: Engine, before: datetime) -> int:
    """Deletes the reads a snapshot begun at ``before`` supersedes."""
    with engine.begin() as connection:
        return connection.execute(
            lgl_stock_reads.delete().where(lgl_stock_reads.c.read_at < before)
        ).rowcount


def remember_items(
    engine: Engine, retailer_id: str, items: dict[str, str], lgl_items: dict[str, str]
) -> int:
    """The retailer's item per SKU from a full read, with LGL's item of the SKU (changes
    only). Returns the changes."""
    mine = retailer_stock_items.c.retailer_id == retailer_id
    with engine.begin() as connection:
        known = {
            sku: (item, lgl_item)
            for sku, item, lgl_item in connection.execute(
                sa.select(
                    retailer_stock_items.c.sku,
                    retailer_stock_items.c.inventory_item_id,
                    retailer_stock_items.c.lgl_item_id,
                ).where(mine)
            )
        }
        gone = [sku for sku in known if sku not in items]
        for start in range(0, len(gone), CHUNK):
            connection.execute(
                retailer_stock_items.delete().where(
                    mine, retailer_stock_items.c.sku.in_(gone[start : start + CHUNK])
                )
            )
        changed = [
            (sku, item, lgl_items.get(sku))
            for sku, item in items.items()
            if known.get(sku) != (item, lgl_items.get(sku))
        ]
        del known
        for start in range(0, len(changed), PAGE):  # never all 100,000 as dicts at once
            upsert_many(
                connection,
                retailer_stock_items,
                [
                    {"retailer_id": retailer_id, "sku": s, "inventory_item_id": i, "lgl_item_id": g}
                    for s, i, g in changed[start : start + PAGE]
                ],
                keys=["retailer_id", "sku"],
                update=["inventory_item_id", "lgl_item_id"],
            )
    return len(gone) + len(changed)


def carriers(engine: Engine, lgl_item_ids: Iterable[str]) -> dict[str, set[str]]:
    """Per retailer, which of these LGL items its last full sync found it carrying."""
    wanted = sorted(set(lgl_item_ids) - {None})
    found: dict[str, set[str]] = {}
    with engine.connect() as connection:
        for start in range(0, len(wanted), CHUNK):
            for retailer_id, lgl_item in connection.execute(
                sa.select(
                    retailer_stock_items.c.retailer_id, retailer_stock_items.c.lgl_item_id
                ).where(retailer_stock_items.c.lgl_item_id.in_(wanted[start : start + CHUNK]))
            ):
                found.setdefault(retailer_id, set()).add(lgl_item)
    return found


def retailer_items(engine: Engine, retailer_id: str, skus: Iterable[str] | None) -> dict[str, str]:
    """The retailer's item per SKU its last full sync found (of ``skus``; None: all)."""
    mine = retailer_stock_items.c.retailer_id == retailer_id
    columns = (retailer_stock_items.c.sku, retailer_stock_items.c.inventory_item_id)
    if skus is None:
        with engine.connect() as connection:
            return dict(connection.execute(sa.select(*columns).where(mine)).all())
    wanted = sorted(set(skus))
    found: dict[str, str] = {}
    with engine.connect() as connection:
        for start in range(0, len(wanted), CHUNK):
            found.update(
                connection.execute(
                    sa.select(
                        retailer_stock_items.c.sku, retailer_stock_items.c.inventory_item_id
                    ).where(
                        retailer_stock_items.c.retailer_id == retailer_id,
                        retailer_stock_items.c.sku.in_(wanted[start : start + CHUNK]),
                    )
                ).all()
            )
    return found


def carried(engine: Engine, retailer_id: str) -> int:
    """How many SKUs the retailer's last full sync found (the mass-zero guard's whole)."""
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).where(retailer_stock_items.c.retailer_id == retailer_id)
        ).scalar_one()

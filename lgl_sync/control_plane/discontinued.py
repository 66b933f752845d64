"""SKUs LGL no longer sells: its product archived, or the SKU deleted from the LGL store.

Each is recorded once, by the first retailer sync that finds it, and that sync tells a person;
the others find it recorded and say nothing. A SKU LGL sells again is forgotten, so that a
second discontinuation is told again.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lgl_sync.control_plane.records import CHUNK, _insert
from lgl_sync.control_plane.tables import lgl_discontinued as table


def record(engine: Engine, found: dict[str, str]) -> dict[str, str]:
    """Records ``found`` (sku -> archived | deleted); returns those not recorded before."""
    skus = sorted(found)
    new: dict[str, str] = {}
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for start in range(0, len(skus), CHUNK):
            chunk = skus[start : start + CHUNK]
            known = set(
                connection.execute(sa.select(table.c.sku).where(table.c.sku.in_(chunk))).scalars()
            )
            rows = [{"sku": s, "reason": found[s], "since": now} for s in chunk if s not in known]
            if rows:
                inserted = connection.execute(
                    _insert(connection, table)
                    .values(rows)
                    .on_conflict_do_nothing()
                    .returning(table.c.sku)
                ).scalars()
                new.update({sku: found[sku] for sku in inserted})
    return new


def forget(engine: Engine, skus: set[str]) -> int:
    """SKUs LGL sells again (active at LGL): a later discontinuation is new."""
    wanted = sorted(skus)
    gone = 0
    with engine.begin() as connection:
        for start in range(0, len(wanted), CHUNK):
            gone += connection.execute(
                table.delete().where(table.c.sku.in_(wanted[start : start + CHUNK]))
            ).rowcount
    return gone


def recorded(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(sa.select(table.c.sku)).scalars())

"""Each retailer's units in paid orders not yet in the LGL store, as last read.

Every retailer's inventory target subtracts every retailer's unimported units (LGL's stock is one
pool). When one retailer's orders cannot be read, the others still subtract its last known units
(with their age) instead of failing or forgetting them, and that retailer itself is not synced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lgl_sync.control_plane.database import aware
from lgl_sync.control_plane.tables import unimported_units as table


@dataclass(frozen=True)
class KnownUnits:
    """A retailer's unimported units as last read, and whether the latest read failed."""

    retailer_id: str
    units: dict[str, int]
    read_at: datetime | None
    failed_at: datetime | None
    error: str | None

    @property
    def stale(self) -> bool:
        return self.failed_at is not None


def _row(row: sa.Row) -> KnownUnits:
    return KnownUnits(
        row.retailer_id,
        {str(k): int(v) for k, v in (row.units or {}).items()},
        aware(row.read_at) if row.read_at else None,
        aware(row.failed_at) if row.failed_at else None,
        row.error,
    )


def known(engine: Engine, retailer_id: str) -> KnownUnits | None:
    with engine.connect() as connection:
        row = connection.execute(sa.select(table).where(table.c.retailer_id == retailer_id)).first()
    return _row(row) if row else None


def known_all(engine: Engine) -> list[KnownUnits]:
    """Every retailer's units as last read (one query)."""
    with engine.connect() as connection:
        return [_row(row) for row in connection.execute(sa.select(table))]


def record_read(engine: Engine, retailer_id: str, units: dict[str, int]) -> None:
    """A fresh read: these are the retailer's unimported units now."""
    with engine.begin() as connection:
        connection.execute(table.delete().where(table.c.retailer_id == retailer_id))
        connection.execute(
            table.insert().values(retailer_id=retailer_id, units=units, read_at=datetime.now(UTC))
        )


def record_failure(engine: Engine, retailer_id: str, error: str) -> KnownUnits:
    """The read failed: the last known units stay, marked stale; returns them."""
    now = datetime.now(UTC)
    with engine.begin() as connection:
        updated = connection.execute(
            table.update()
            .where(table.c.retailer_id == retailer_id)
            .values(failed_at=now, error=error[:500])
        ).rowcount
        if not updated:
            connection.execute(
                table.insert().values(
                    retailer_id=retailer_id, units={}, failed_at=now, error=error[:500]
                )
            )
    return known(engine, retailer_id)

"""How far each retailer's orders have been read: candidates are selected by change, not by age.

A run reads orders whose ``updated_at`` is past the mark (less an overlap for the search index's
lag), so an order paid, routed or released hours after it was placed is still imported. The
first run reads by ``created_at`` over the lookback, and fixes the horizon (that run less
``LGL_MAX_ORDER_AGE_HOURS``): no order placed before it is ever imported. A slower sweep by
``created_at`` repeats the first read's shape every ``LGL_SWEEP_MINUTES`` for what an index lag
longer than the overlap hid. The mark moves
only after the import step has run (``commit``), to the time the read began.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lgl_sync.control_plane.database import aware
from lgl_sync.control_plane.tables import order_watermarks as table


@dataclass(frozen=True)
class Watermark:
    retailer_id: str
    horizon: datetime
    mark: datetime | None
    swept_at: datetime | None

    def sweep_due(self, now: datetime, every: timedelta) -> bool:
        return self.swept_at is None or now - self.swept_at >= every


def _aware(value: datetime | None) -> datetime | None:
    return aware(value) if value else None


def get(engine: Engine, retailer_id: str) -> Watermark | None:
    with engine.connect() as connection:
        row = connection.execute(sa.select(table).where(table.c.retailer_id == retailer_id)).first()
    if row is None:
        return None
    return Watermark(row.retailer_id, aware(row.horizon), _aware(row.mark), _aware(row.swept_at))


def propose(
    engine: Engine, retailer_id: str, *, read_at: datetime, horizon: datetime, swept: bool
) -> Watermark:
    """Records a read that began at ``read_at`` (the horizon is set once, on the first)."""
    with engine.begin() as connection:
        values = {"proposed": read_at, **({"swept_at": read_at} if swept else {})}
        updated = connection.execute(
            table.update().where(table.c.retailer_id == retailer_id).values(**values)
        ).rowcount
        if not updated:
            connection.execute(
                table.insert().values(retailer_id=retailer_id, horizon=horizon, **values)
            )
    return get(engine, retailer_id)


def commit(engine: Engine, retailer_id: str) -> None:
    """The import step ran over the proposed read: every change before it has been seen."""
    with engine.begin() as connection:
        connection.execute(
            table.update()
            .where(table.c.retailer_id == retailer_id, table.c.proposed.is_not(None))
            .values(mark=table.c.proposed, proposed=None)
        )


def changes_mark(engine: Engine, retailer_id: str) -> datetime | None:
    """How far imported orders' changes have been applied (None before the first time)."""
    with engine.connect() as connection:
        value = connection.execute(
            sa.select(table.c.changes_mark).where(table.c.retailer_id == retailer_id)
        ).scalar()
    return _aware(value)


def set_changes_mark(engine: Engine, retailer_id: str, read_at: datetime) -> None:
    with engine.begin() as connection:
        connection.execute(
            table.update().where(table.c.retailer_id == retailer_id).values(changes_mark=read_at)
        )

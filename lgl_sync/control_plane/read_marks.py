"""How far each retailer's reads of the shared LGL store have got.

Every retailer's pushback and duplicate check read the one LGL store; re-reading a whole
lookback each run made them 95 % of its API budget (issue 24). A run now reads what changed
since its mark (less an overlap for the search index's lag), and a full read over the lookback
repeats every ``full_every`` for anything an incremental read could miss (a change Shopify did
not date). The mark moves only once the run's work is done (``commit``), to when its read began.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lgl_sync.control_plane.database import aware
from lgl_sync.control_plane.tables import lgl_read_marks as table

PUSHBACK = "pushback"
DUPLICATES = "duplicates"
RETURNS = "returns"  # the retailer's orders with a return (its own store, not LGL's)


@dataclass(frozen=True)
class ReadPlan:
    since: datetime  # read what changed from here on
    full: bool  # the whole lookback, not only changes
    first: bool = False  # no read has been done before


def _where(retailer_id: str, read: str):
    return sa.and_(table.c.retailer_id == retailer_id, table.c.read == read)


def plan(
    engine: Engine,
    retailer_id: str,
    read: str,
    *,
    now: datetime,
    start: datetime,
    overlap: timedelta,
    full_every: timedelta,
) -> ReadPlan:
    """What this run reads (from ``start`` when a full read is due), recorded as proposed."""
    with engine.begin() as connection:
        row = connection.execute(sa.select(table).where(_where(retailer_id, read))).first()
        mark = aware(row.mark) if row is not None and row.mark else None
        full_at = aware(row.full_at) if row is not None and row.full_at else None
        full = mark is None or full_at is None or now - full_at >= full_every
        values = {"proposed": now, "proposed_full": full}
        if row is None:
            connection.execute(table.insert().values(retailer_id=retailer_id, read=read, **values))
        else:
            connection.execute(table.update().where(_where(retailer_id, read)).values(**values))
    return ReadPlan(start if full else max(start, mark - overlap), full, mark is None)


def commit(engine: Engine, retailer_id: str, read: str) -> None:
    """The run's work over its proposed read is done: every change before it has been seen."""
    with engine.begin() as connection:
        row = connection.execute(sa.select(table).where(_where(retailer_id, read))).first()
        if row is None or row.proposed is None:
            return
        connection.execute(
            table.update()
            .where(_where(retailer_id, read))
            .values(
                mark=row.proposed,
                full_at=row.proposed if row.proposed_full else row.full_at,
                proposed=None,
                proposed_full=False,
            )
        )

"""One-shot permissions a person gives for a write the guards would refuse.

``lgl-sync inventory allow-zero RETAILER`` lets the next inventory run of a retailer set more of
its SKUs to 0 than ``LGL_MAX_ZERO_SHARE`` allows; the run that uses it uses it up.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lgl_sync.control_plane.tables import inventory_allowances as table


def allow_zero(engine: Engine, retailer_id: str) -> None:
    """Grants (again) one run's permission to zero many SKUs."""
    with engine.begin() as connection:
        connection.execute(table.delete().where(table.c.retailer_id == retailer_id))
        connection.execute(
            table.insert().values(retailer_id=retailer_id, granted_at=datetime.now(UTC))
        )


def use_zero_allowance(engine: Engine, retailer_id: str, run_id: str | None) -> bool:
    """Uses the retailer's unused permission, if there is one (compare-and-set: once only)."""
    with engine.begin() as connection:
        result = connection.execute(
            table.update()
            .where(table.c.retailer_id == retailer_id, table.c.used_at.is_(None))
            .values(used_at=datetime.now(UTC), used_by_run=run_id)
        )
    return result.rowcount == 1


def zero_allowance_pending(engine: Engine, retailer_id: str) -> bool:
    with engine.connect() as connection:
        return (
            connection.execute(
                sa.select(table.c.retailer_id).where(
                    table.c.retailer_id == retailer_id, table.c.used_at.is_(None)
                )
            ).first()
            is not None
        )

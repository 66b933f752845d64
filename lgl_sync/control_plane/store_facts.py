"""Facts about a store that rarely change (the LGL store's currency, whether its custom-ID
definition exists), remembered for a day: an import run reads them only when they are older,
where reading them every run cost the shared LGL store 6 points a retailer a cycle."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from lgl_sync.control_plane.database import aware
from lgl_sync.control_plane.tables import store_facts

MAX_AGE = timedelta(hours=24)


def remembered(
    engine: Engine, store: str, name: str, read: Callable[[], str | None], max_age=MAX_AGE
) -> str | None:
    """The fact ``name`` of ``store``: as remembered when read less than ``max_age`` ago, else
    ``read()`` now (and remembered, unless it is None: a fact not yet true is read again)."""
    key = (store_facts.c.store == store, store_facts.c.name == name)
    with engine.connect() as connection:
        row = connection.execute(sa.select(store_facts).where(*key)).first()
    now = datetime.now(UTC)
    if row is not None and now - aware(row.read_at) < max_age:
        return row.value
    value = read()
    if value is not None:  # two runs may read it at once: the last one's answer stays
        with engine.begin() as connection:
            dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
            statement = dialect.insert(store_facts).values(
                store=store, name=name, value=value, read_at=now
            )
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["store", "name"], set_={"value": value, "read_at": now}
                )
            )
    return value


def forget(engine: Engine, store: str, name: str) -> None:
    """Read it again next time (what was remembered proved wrong)."""
    with engine.begin() as connection:
        connection.execute(
            sa.delete(store_facts).where(store_facts.c.store == store, store_facts.c.name == name)
        )

"""One run at a time per retailer and flow, whatever launched it: a lock held while a run writes.

Defence in depth beside the run queue (``dagster/partition`` limits) and the fenced claims of the
ledger. On Postgres it is a session advisory lock on a connection held for the step: it ends with
the session, so a killed run never leaves it behind. Supabase's transaction pooler (port 6543)
hands each transaction a different server session, which silently breaks session locks, so that
port is refused. On SQLite (one machine) it is an ``flock`` on a file beside the database, which
the operating system releases when the process ends.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lgl_sync import settings
from lgl_sync.flows import Flow

TRANSACTION_POOLER_PORT = 6543


class FlowBusyError(Exception):
    """Another run of this retailer and flow holds the lock."""


def lock_key(retailer_id: str, flow: Flow) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock``."""
    digest = hashlib.blake2b(f"lgl-sync:{retailer_id}:{flow.value}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


@contextmanager
def flow_lock(engine: Engine, retailer_id: str, flow: Flow) -> Iterator[None]:
    """Holds the lock of one retailer and flow, or raises FlowBusyError at once (the run queue
    makes a second run rare; it must not wait for, or race, the first)."""
    if not settings.run_locks():
        yield
        return
    if engine.dialect.name == "sqlite":
        with _file_lock(engine, retailer_id, flow):
            yield
        return
    if engine.url.port == TRANSACTION_POOLER_PORT:
        raise settings.SettingError(
            "LGL_DATABASE_URL uses Supabase's transaction pooler (port 6543), where advisory "
            "locks silently do not hold: use the direct connection or the session pooler (port "
            "5432), or set LGL_RUN_LOCKS=false"
        )
    with _advisory_lock(engine, lock_key(retailer_id, flow), f"{retailer_id} {flow.value}"):
        yield


@contextmanager
def _advisory_lock(engine: Engine, key: int, what: str) -> Iterator[None]:
    connection = engine.connect()
    try:
        got = connection.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar_one()
        # Session-level: the lock outlives this transaction, which ends now so the held
        # connection is idle, not "idle in transaction" (that has a timeout).
        connection.commit()
        if not got:
            raise FlowBusyError(f"another run of {what} is running (it holds the lock)")
        try:
            yield
        finally:
            connection.execute(sa.select(sa.func.pg_advisory_unlock(key)))
            connection.commit()
    finally:
        connection.close()


@contextmanager
def _file_lock(engine: Engine, retailer_id: str, flow: Flow) -> Iterator[None]:
    database = engine.url.database
    if not database or database == ":memory:":
        yield  # one process owns an in-memory database: nothing to exclude
        return
    folder = Path(f"{database}.locks")
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(f"{retailer_id}:{flow.value}".encode()).hexdigest()[:24]
    descriptor = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FlowBusyError(
                f"another run of {retailer_id} {flow.value} is running (it holds the lock)"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)

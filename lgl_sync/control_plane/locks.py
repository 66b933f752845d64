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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lgl_sync import settings
from lgl_sync.flows import Flow
from lgl_sync.shopify.throttle import Clock, default_clock

TRANSACTION_POOLER_PORT = 6543


class FlowBusyError(Exception):
    """Another run of this retailer and flow holds the lock."""


def lock_key(retailer_id: str, flow: Flow) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock``."""
    digest = hashlib.blake2b(f"lgl-sync:{retailer_id}:{flow.value}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


RETRY_EVERY = 0.5  # seconds between two attempts while waiting for a lock


@contextmanager
def flow_lock(
    engine: Engine, retailer_id: str, flow: Flow, wait: float = 0.0, clock: Clock | None = None
) -> Iterator[None]:
    """Holds the lock of one retailer and flow, or raises FlowBusyError: at once by default
    (the run queue makes a second run rare; it must not wait for, or race, the first), or
    after trying for ``wait`` seconds on ``clock`` (a run holding several retailers' locks in
    turn, each for a moment, and the runs that meet it)."""
    if not settings.run_locks():
        yield
        return
    if engine.url.port == TRANSACTION_POOLER_PORT and engine.dialect.name != "sqlite":
        raise settings.SettingError(
            "LGL_DATABASE_URL uses Supabase's transaction pooler (port 6543), where advisory "
            "locks silently do not hold: use the direct connection or the session pooler (port "
            "5432), or set LGL_RUN_LOCKS=false"
        )
    clock = clock or default_clock()
    deadline = clock.monotonic() + wait
    while True:
        try:
            release = _acquire(engine, retailer_id, flow)
            break
        except FlowBusyError:
            if clock.monotonic() + RETRY_EVERY > deadline:
                raise
        clock.sleep(RETRY_EVERY)
    try:
        yield
    finally:
        release()


def _acquire(engine: Engine, retailer_id: str, flow: Flow) -> Callable[[], None]:
    """Takes the lock or raises FlowBusyError; returns what releases it."""
    what = f"{retailer_id} {flow.value}"
    if engine.dialect.name == "sqlite":
        return _file_lock(engine, retailer_id, flow, what)
    return _advisory_lock(engine, lock_key(retailer_id, flow), what)


def _advisory_lock(engine: Engine, key: int, what: str) -> Callable[[], None]:
    connection = engine.connect()
    try:
        got = connection.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar_one()
        # Session-level: the lock outlives this transaction, which ends now so the held
        # connection is idle, not "idle in transaction" (that has a timeout).
        connection.commit()
    except BaseException:
        connection.close()
        raise
    if not got:
        connection.close()
        raise FlowBusyError(f"another run of {what} is running (it holds the lock)")

    def release() -> None:
        try:
            connection.execute(sa.select(sa.func.pg_advisory_unlock(key)))
            connection.commit()
        finally:
            connection.close()

    return release


def _file_lock(engine: Engine, retailer_id: str, flow: Flow, what: str) -> Callable[[], None]:
    database = engine.url.database
    if not database or database == ":memory:":
        return lambda: None  # one process owns an in-memory database: nothing to exclude
    folder = Path(f"{database}.locks")
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(f"{retailer_id}:{flow.value}".encode()).hexdigest()[:24]
    descriptor = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise FlowBusyError(f"another run of {what} is running (it holds the lock)") from None

    def release() -> None:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            os.close(descriptor)

    return release

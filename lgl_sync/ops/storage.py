"""Dagster's Postgres storage, its connections kept in a small pool in every process.

Dagster's own Postgres storage opens a new connection for every statement (SQLAlchemy's
``NullPool``) everywhere but in its webserver: each of a run's 30-odd events and reads paid a
TCP connect, authentication and a new server backend. In the 50-retailer benchmark that was a
third of a run's samples (py-spy), and the server's CPU on the same two cores. This storage is
Dagster's, with the pooled engines Dagster's webserver gives itself (``optimize_for_webserver``:
one connection held per store, a few more when threads need them), in the daemon, in every run
and in the webserver alike. ``lgl-sync instance`` configures it when DAGSTER_PG_URL is set
(``storage: custom:`` in dagster.yaml).

A pooled connection must never cross a fork: a child forked from a process that holds one
(``bench/product.py``'s runs) sets its inherited pools aside at once, never using or closing the
parent's sockets, and opens its own. (The deployment's launcher forks runs from a process that
has opened no instance: each run's instance is made after the fork.)
"""

from __future__ import annotations

import os
import weakref
from typing import Any

from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

# Dagster's own settings for its webserver's pool, but no statement timeout: Dagster sets none
# for the daemon and runs (a long migration or reindex must not be cut).
POOL_RECYCLE_SECONDS = 3600
MAX_OVERFLOW = 4
NO_STATEMENT_TIMEOUT = 0

_pooled: weakref.WeakSet = weakref.WeakSet()
_inherited: list = []  # in a forked child, the parent's pools: never closed, never collected


class PooledPostgresStorage(DagsterPostgresStorage):
    """``DagsterPostgresStorage`` with each of its stores' connections pooled."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The instance keeps the three stores, not this object: they are what a fork resets.
        for store in (self._run_storage, self._event_log_storage, self._schedule_storage):
            store.optimize_for_webserver(NO_STATEMENT_TIMEOUT, POOL_RECYCLE_SECONDS, MAX_OVERFLOW)
            _pooled.add(store)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )


def _after_fork_in_child() -> None:
    """In a forked child: the pools start empty, the parent's sockets left alone. The old pools
    stay referenced for the child's life: a connection psycopg2 collects is closed, which would
    end the parent's session on the server too."""
    for store in list(_pooled):
        # The engine optimize_for_webserver made (Dagster keeps it in ``_engine``).
        _inherited.append(store._engine.pool)
        store._engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)


def storage_config(url_env: str = "DAGSTER_PG_URL") -> dict:
    """The ``storage`` block of dagster.yaml: this storage, its URL read from ``url_env`` at
    load time (never written to disk)."""
    return {
        "custom": {
            "module": __name__,
            "class": PooledPostgresStorage.__name__,
            "config": {"postgres_url": {"env": url_env}},
        }
    }

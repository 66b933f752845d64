"""The Dagster instance: SQLite under DAGSTER_HOME by default, Postgres with DAGSTER_PG_URL."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from lgl_sync.ops.storage import storage_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Shipped in the package (a wheel install keeps it): the instance's run queue, per-retailer
# limits, run monitoring and log handler.
TEMPLATE = Path(__file__).with_name("dagster.yaml")


def dagster_home() -> Path:
    """$DAGSTER_HOME, or ``.dagster_home`` in the project (created when missing)."""
    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def instance_config(pg_url: str | None) -> dict:
    """The project's dagster.yaml, plus Postgres storage when ``pg_url`` is given."""
    config = yaml.safe_load(TEMPLATE.read_text()) or {}
    if not config:  # never an empty instance: no run queue, no limits, no log handler
        raise RuntimeError(f"{TEMPLATE} is missing or empty: reinstall lgl-sync")
    if pg_url:
        # The URL is read from the environment at load time, so it is never written to disk.
        # Dagster's Postgres storage with pooled connections (lgl_sync/ops/storage.py).
        config["storage"] = storage_config("DAGSTER_PG_URL")
    return config


def prepare_dagster_home(home: Path | None = None, pg_url: str | None = None) -> Path:
    """Writes ``dagster.yaml`` into the instance directory and returns the directory."""
    home = home or dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    pg_url = pg_url if pg_url is not None else os.environ.get("DAGSTER_PG_URL")
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config(pg_url), sort_keys=False))
    return home

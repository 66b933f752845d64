"""Commands for deploying LGL Sync: the Dagster instance it runs on."""

from __future__ import annotations

import click

from lgl_sync.ops.instance import prepare_dagster_home


@click.command()
def instance() -> None:
    """Write $DAGSTER_HOME/dagster.yaml (Postgres storage when DAGSTER_PG_URL is set)."""
    home = prepare_dagster_home()
    click.echo(f"Dagster instance configured in {home}")


COMMANDS = [instance]

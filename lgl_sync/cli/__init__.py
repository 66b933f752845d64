"""The ``lgl-sync`` command line: one module per audience, registered here (as Dagster's own
``_cli/__init__.py`` registers its command groups).

- ``operators.py``: retailers, the control-plane database, status and health;
- ``trace.py``: one order traced through both stores (``orders show``);
- ``ledger.py``: the ledger rebuilt from both stores after a restore (``ledger rebuild``);
- ``deployment.py``: the Dagster instance;
- ``reports.py``: reports from the history the sync keeps;
- ``developers.py``: the sandbox, the demo and `dagster dev` against the sandbox. The sandbox is
  a development install (``pip install -e ./sandbox``), so these commands exist only where it
  is installed.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import click

from lgl_sync import settings
from lgl_sync.cli import connect, deployment, ledger, operators, reports, trace, web, webhooks
from lgl_sync.ops.logs import configure


@click.group()
@click.version_option(package_name="lgl-sync", prog_name="lgl-sync")
@click.option(
    "--log-level",
    default=lambda: os.environ.get("LOG_LEVEL", "INFO"),
    show_default="LOG_LEVEL or INFO",
)
def main(log_level: str) -> None:
    """LGL Sync: retailers' Shopify stores <-> the LGL warehouse store."""
    level = (log_level or "").upper()
    if level not in LEVELS:
        _refuse(f"LOG_LEVEL must be one of {', '.join(LEVELS)}, not {log_level[:40]!r}")
    try:
        configure(level)
    except OSError as exc:
        name = "LOG_DIR" if os.environ.get("LOG_DIR") else "DAGSTER_HOME"
        _refuse(f"{name}: the log directory {exc.filename} cannot be created ({exc.strerror})")
    found = settings.problems()
    if found:  # every bad value, one line each, before any command acts on one of them
        _refuse("\nError: ".join(found))


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _refuse(message: str) -> None:
    """A bad environment value: one line naming the variable, exit 2, no traceback."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


for command in (
    *operators.COMMANDS,
    *deployment.COMMANDS,
    *reports.COMMANDS,
    *web.COMMANDS,
    *webhooks.COMMANDS,
    *ledger.COMMANDS,
):
    main.add_command(command)
operators.retailer.add_command(connect.retailer_connect)
operators.orders.add_command(trace.orders_show)

if importlib.util.find_spec("shopify_sandbox") is not None:
    from lgl_sync.cli import developers

    for command in developers.COMMANDS:
        main.add_command(command)

"""Turning expected failures into one line and exit status 1, never a traceback."""

from __future__ import annotations

import functools
import sys

import click
import sqlalchemy.exc
import yaml

from lgl_sync.control_plane.database import database_url, redacted
from lgl_sync.retailer import RetailerError
from lgl_sync.secrets import SecretError
from lgl_sync.settings import SettingError
from lgl_sync.shopify.errors import ShopifyError


def fail_cleanly(action):
    """Wraps a command: bad input, Shopify and database errors become a one-line message."""

    @functools.wraps(action)
    def run(*args, **kwargs):
        try:
            return action(*args, **kwargs)
        except SettingError as exc:  # a bad environment value: one line, exit 2
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)
        except RetailerError as exc:
            raise click.ClickException(
                "invalid retailer:\n  " + "\n  ".join(exc.problems)
            ) from None
        except (SecretError, ShopifyError) as exc:
            raise click.ClickException(str(exc)) from None
        except yaml.YAMLError as exc:
            raise click.ClickException(f"the file is not valid YAML: {exc}") from None
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise click.ClickException(
                f"database error on {redacted(database_url())}: {type(exc).__name__}: "
                f"{str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0][:300]}"
            ) from None

    return run

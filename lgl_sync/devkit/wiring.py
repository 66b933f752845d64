"""Points LGL Sync at a served sandbox: the retailers in a control plane, the environment the
Dagster definitions read, and the resources for in-process runs. Used by the demo, by
``lgl-sync dev --sandbox`` and by tests that launch runs in subprocesses."""

from __future__ import annotations

import os

from shopify_sandbox.engine import Sandbox

from lgl_sync.control_plane.retailers import Retailer, add_retailer
from lgl_sync.devkit.world import LGL_HANDLE, RETAILER_LGL_LOCATION, token_for
from lgl_sync.retailer import token_variable


def token_env(handle: str) -> str:
    """The environment variable that holds a sandbox retailer's token."""
    return token_variable(handle)


def register_retailers(engine, sandbox: Sandbox, base_url: str) -> dict[str, str]:
    """Adds every retailer store of the sandbox to the control plane; returns the token
    variables to set."""
    env = {}
    for handle, store in sandbox.stores.items():
        if handle == LGL_HANDLE:
            continue
        name = store.name
        location = next(
            loc for loc in store.locations.values() if loc.name == RETAILER_LGL_LOCATION
        )
        env[token_env(handle)] = token_for(handle)
        add_retailer(
            engine,
            Retailer.parse(
                {
                    "id": handle,
                    "name": name,
                    "domain": f"{base_url}/stores/{handle}",
                    "api_token": token_env(handle),
                    "target_location_id": str(location.id),
                    "location_model": "fulfillment_service"
                    if location.fulfillment_service
                    else "merchant_managed",
                    "billing_email": f"accounts@{handle}.example",
                    "billing_address1": "1 Commerce St",
                    "billing_city": "Austin",
                    "billing_zip": "78701",
                    "billing_country": "US",
                }
            ),
        )
    return env


def sandbox_environment(sandbox: Sandbox, base_url: str, database_url: str) -> dict[str, str]:
    """The environment the Dagster definitions need to run against the sandbox."""
    from lgl_sync.control_plane.database import create_engine
    from lgl_sync.control_plane.migrate import upgrade

    # The sandbox is served on this machine: its stores have local URLs.
    os.environ["LGL_ALLOW_LOCAL_STORES"] = "true"
    engine = create_engine(database_url)
    upgrade(engine)
    env = register_retailers(engine, sandbox, base_url)
    engine.dispose()
    env.update(
        {
            "SHOPIFY_LGL_DOMAIN": f"{base_url}/stores/{LGL_HANDLE}",
            "SHOPIFY_LGL_TOKEN": token_for(LGL_HANDLE),
            "LGL_DATABASE_URL": database_url,
            "LGL_ALLOW_LOCAL_STORES": "true",
        }
    )
    return env

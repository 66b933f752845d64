"""The one Definitions object of LGL Sync: everything is imported here, nothing defined."""

from __future__ import annotations

import os

import dagster as dg

from lgl_sync.defs.inventory import lgl_inventory_snapshot
from lgl_sync.defs.resources import ShopifyStoreResource
from lgl_sync.shopify.client import DEFAULT_API_VERSION

defs = dg.Definitions(
    assets=[lgl_inventory_snapshot],
    resources={
        "lgl_shopify": ShopifyStoreResource(
            domain=dg.EnvVar("SHOPIFY_LGL_DOMAIN"),
            token=dg.EnvVar("SHOPIFY_LGL_TOKEN"),
            api_version=os.environ.get("SHOPIFY_API_VERSION", DEFAULT_API_VERSION),
            location_id=os.environ.get("SHOPIFY_LGL_LOCATION_ID") or None,
        ),
    },
)

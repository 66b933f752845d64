"""LGL Sync's inbound HTTP: one ASGI app (``app.py``) for Shopify's OAuth callback, and the
routes later issues add beside it (webhooks, metrics)."""

"""The orders flow, in three roles: rules.py (plain data in, decisions out), reads.py
(Shopify -> typed records) and writer.py (the exactly-once writes)."""

"""Shopify's tracking companies, and LGL's carrier names mapped onto them.

Shopify builds a tracking link only for a ``trackingInfo.company`` spelt exactly as in its list
(case-sensitive, FACTS.md §4 "trackingInfo"): "ups" or "FedEx Ground" leave the customer with a
bare number. ``carriers.json`` is that list, generated from the description of
``FulfillmentTrackingInfo.company`` in Shopify's schema (``python -m lgl_sync.shopify.carriers
PATH_TO_SCHEMA``); ``shopify_carrier`` maps a name onto it.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from functools import cache
from pathlib import Path

LIST = Path(__file__).with_name("carriers.json")


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-zà-ÿ]+", " ", name.casefold()).strip()


@cache
def known() -> frozenset[str]:
    """Every tracking company Shopify lists, for any country."""
    data = json.loads(LIST.read_text())
    return frozenset(data["global"]).union(*data["by_country"].values())


@cache
def _by_key() -> dict[str, str]:
    return {_key(name): name for name in sorted(known())}


def shopify_carrier(name: str | None, aliases: dict[str, str] | None = None) -> str | None:
    """Shopify's exact spelling of the carrier ``name`` names, or None when it is not one.

    In order: an alias (``LGL_CARRIER_ALIASES``: "FedEx Ground=FedEx"), the name itself, the
    name in any case or punctuation ("ups", "Fed-Ex"), then the longest listed name its words
    begin with ("UPS SurePost" is "UPS", "DHL Express Worldwide" is "DHL Express")."""
    if not name or not name.strip():
        return None
    for alias, target in (aliases or {}).items():
        if _key(alias) == _key(name):
            return target
    if name in known():
        return name
    key = _key(name)
    for candidate in (key, key + " en"):  # "Japan Post" is listed as "Japan Post (EN)"
        if candidate in _by_key():
            return _by_key()[candidate]
    prefixes = [k for k in _by_key() if key.startswith(k + " ")]
    return _by_key()[max(prefixes, key=len)] if prefixes else None


def parse_schema_description(text: str) -> dict:
    """The global list and the per-country lists from the field's description."""
    head, _, countries = text.partition("specific countries:")
    names = [m.strip() for m in re.findall(r"^\s*\*\s+([^*\n][^\n]*)$", head, re.M)]
    by_country = {}
    for country, body in re.findall(
        r"\*\s+\*\*([^*]+)\*\*:\s*(.+?)(?=\n\s*\*\s+\*\*|\Z)", countries, re.S
    ):
        items = [i.strip().rstrip(".") for i in " ".join(body.split()).split(",")]
        by_country[country.strip()] = [i for i in items if i]
    return {"global": names, "by_country": by_country}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m lgl_sync.shopify.carriers PATH_TO_SCHEMA(.json[.gz])")
        return 2
    path = Path(argv[1])
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    schema = json.loads(raw)
    types = (schema.get("data") or schema)["__schema"]["types"]
    info = next(t for t in types if t["name"] == "FulfillmentTrackingInfo")
    description = next(f["description"] for f in info["fields"] if f["name"] == "company")
    LIST.write_text(
        json.dumps(parse_schema_description(description), indent=1, ensure_ascii=False) + "\n"
    )
    print(f"wrote {LIST}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

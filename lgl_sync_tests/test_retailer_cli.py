"""`lgl-sync retailer …`: definitions are checked before anything is written.

Contract: every malformed definition is rejected with a message naming the field and exit
status 1, never a traceback; a valid one is added, listed and shown without revealing a token;
`validate` checks a retailer against its live store (here the sandbox): token, scopes, locations,
LGL reachability and SKU coverage with the missing SKUs listed.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from shopify_sandbox.models import gid

from lgl_sync.cli import main
from lgl_sync.control_plane import credentials
from lgl_sync.control_plane.database import create_engine
from lgl_sync.control_plane.tables import asset_handoffs, retailers, store_credentials
from lgl_sync.devkit.world import RETAILER_LGL_LOCATION, token_for
from lgl_sync.retailer import token_variable
from lgl_sync.secrets import SecretError, decrypt_secret, resolve_token, seal, unseal

VALID = {
    "id": "nationwide-plants",
    "name": "Nationwide Plants",
    "domain": "nationwide-plants.myshopify.com",
    "api_token": "SHOPIFY_NATIONWIDE_PLANTS_TOKEN",
    "target_location_id": "84385005803",
    "billing_email": "billing@np.example",
    "billing_address1": "1 Plant Way",
    "billing_city": "Austin",
    "billing_zip": "78701",
    "billing_country": "US",
}


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("LGL_DATABASE_URL", f"sqlite:///{tmp_path / 'control.db'}")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0

    def run(*args: str, definition: dict | None = None, **kwargs):
        if definition is not None:
            path = tmp_path / "retailer.yaml"
            path.write_text(yaml.safe_dump(definition))
            args = (*args, "--file", str(path))
        return runner.invoke(main, list(args), **kwargs)

    return run


MALFORMED = [
    ({"id": None}, "id"),  # missing slug
    ({"id": "Nationwide Plants"}, "id"),  # not a slug
    ({"id": "-np"}, "id"),  # leading dash
    ({"name": ""}, "name"),  # empty name
    ({"domain": None}, "domain"),  # missing domain
    ({"domain": "nationwide plants"}, "domain"),  # not a domain
    ({"domain": "ftp://np.example"}, "domain"),  # wrong scheme
    ({"domain": "np.example.com"}, "domain"),  # not a myshopify domain
    ({"api_token": None}, "api_token"),  # missing token
    ({"api_token": "shpat_" + "0" * 32}, "api_token"),  # plaintext token refused
    ({"api_token": "my token"}, "api_token"),  # neither env name nor encrypted
    ({"target_location_id": "gid://shopify/Order/1"}, "target_location_id"),  # wrong kind
    ({"target_location_id": "abc"}, "target_location_id"),  # not an id
    ({"target_location_id": None}, "target_location_id"),  # required while enabled
    ({"lgl_location_id": "12x"}, "lgl_location_id"),  # malformed
    ({"lookback_hours": 0}, "lookback_hours"),  # out of range
    ({"lookback_hours": 10_000}, "lookback_hours"),  # out of range
    ({"lookback_hours": "six"}, "lookback_hours"),  # wrong type
    ({"fulfillment_lookback_hours": -1}, "fulfillment_lookback_hours"),  # out of range
    ({"billing_city": None}, "billing_city"),  # incomplete billing address
    ({"billing_email": "not-an-email"}, "billing_email"),  # malformed email
    ({"enabled": "sometimes"}, "enabled"),  # not a boolean
    ({"inventory_safety_buffer": -3}, "inventory_safety_buffer"),  # negative buffer
    ({"colour": "green"}, "colour"),  # not a retailers column
    ({"api_token": "SHOPIFY_LGL_TOKEN"}, "api_token"),  # the LGL store's own token
    ({"api_token": "SHOPIFY_EPIC_GARDENING_TOKEN"}, "api_token"),  # another retailer's token
    ({"api_token": "LGL_SECRET_KEY"}, "api_token"),  # another secret entirely
    ({"api_token": "DAGSTER_PG_URL"}, "api_token"),  # a database password
    ({"id": "lgl", "api_token": "SHOPIFY_LGL_TOKEN"}, "id"),  # the LGL store's slug
    ({"id": "n" * 65}, "id"),  # too long
    ({"domain": "https://evil.example.com"}, "domain"),  # any other host
    ({"domain": "nationwide-plants.myshopify.com.evil.example"}, "domain"),  # suffix trick
    ({"domain": "https://np.myshopify.com@evil.example"}, "domain"),  # credentials trick
    ({"domain": "http://10.0.0.5:8787/stores/np"}, "domain"),  # a host on the network
    ({"name": "Nationwide\r\nBcc: someone@evil.example"}, "name"),  # header injection
    ({"name": "Plants \u202egnp.exe"}, "name"),  # bidirectional override
    ({"name": "N" * 201}, "name"),  # too long
    ({"name": "tab\there"}, "name"),  # a control character
    ({"billing_address1": "1 Way\nLine 2"}, "billing_address1"),  # a line break
    ({"billing_city": "A" * 101}, "billing_city"),  # too long
    ({"billing_phone": "555\x00"}, "billing_phone"),  # a NUL
    ({"billing_zip": "7" * 21}, "billing_zip"),  # too long
    ({"inventory_safety_buffer": 1_000_000}, "inventory_safety_buffer"),  # absurd buffer
    ({"lookback_hours": -50}, "lookback_hours"),  # would silently import nothing
    ({"fulfillment_lookback_hours": 100_000}, "fulfillment_lookback_hours"),  # out of range
    ({"name": ["Nationwide", "Plants"]}, "name"),  # a list, not a value
    ({"domain": {"host": "np.myshopify.com"}}, "domain"),  # a mapping, not a value
]

RAW_FILES = [
    (b"id: nationwide-plants\nid: epic-gardening\nname: N\n", "id: is given twice"),
    (b"id: nationwide-plants\nname: Caf\xe9\n", "not UTF-8"),  # Latin-1 bytes
    (b"[" * 5000 + b"]" * 5000, "nests too deeply"),  # a nesting bomb
    (b"name: " + b"N" * (5 * 1024 * 1024) + b"\n", "larger than"),  # a 5 MB name
    (b"id: !!python/object/apply:os.system ['true']\n", "not valid YAML"),  # code tag
    (b"name: *nowhere\n", "not valid YAML"),  # an alias to nothing
    (b"1: one\nid: nationwide-plants\n", "column name must be text"),  # a number as key
    (b"\xff\xfe\x00\x00", "not UTF-8"),  # binary
]


@pytest.mark.parametrize(("change", "field"), MALFORMED)
def test_malformed_definition_is_rejected_naming_the_field(cli, change, field):
    # None removes the key from the definition.
    definition = {k: v for k, v in {**VALID, **change}.items() if v is not None}
    result = cli("retailer", "add", definition=definition)
    assert result.exit_code == 1, result.output
    assert field in result.output
    assert "Traceback" not in result.output
    assert "0" * 32 not in result.output
    assert cli("retailer", "list").output.count("nationwide-plants") == 0


@pytest.mark.parametrize(("raw", "reason"), RAW_FILES)
def test_a_hostile_file_is_refused_with_its_reason_and_nothing_written(cli, tmp_path, raw, reason):
    path = tmp_path / "hostile.yaml"
    path.write_bytes(raw)
    result = cli("retailer", "add", "--file", str(path))
    assert result.exit_code == 1, result.output
    assert reason in result.output and "Traceback" not in result.output
    assert len(result.output) < 2000  # the refusal does not echo a 5 MB value back
    assert "nationwide-plants" not in cli("retailer", "list").output


def test_there_are_at_least_forty_refused_definitions():
    assert len(MALFORMED) + len(RAW_FILES) >= 40


def test_a_local_store_url_is_refused_without_the_sandbox_setting(cli, monkeypatch):
    monkeypatch.setenv("LGL_ALLOW_LOCAL_STORES", "false")
    result = cli("retailer", "add", definition={**VALID, "domain": "http://127.0.0.1:8787/s/np"})
    assert result.exit_code == 1 and "LGL_ALLOW_LOCAL_STORES" in result.output


@pytest.mark.parametrize("content", ["- just\n- a list\n", "id: [unclosed\n", ""])
def test_files_that_are_not_a_definition_are_rejected_cleanly(cli, tmp_path, content):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    result = cli("retailer", "add", "--file", str(path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip()


def test_valid_definition_is_added_listed_shown_and_toggled(cli):
    assert cli("retailer", "add", definition=VALID).exit_code == 0
    again = cli("retailer", "add", definition=VALID)
    assert again.exit_code == 1 and "exists already" in again.output
    listing = cli("retailer", "list").output
    assert "nationwide-plants" in listing and "never" in listing
    shown = yaml.safe_load(cli("retailer", "show", "nationwide-plants").output)
    assert shown["target_location_id"] == "gid://shopify/Location/84385005803"
    assert cli("retailer", "disable", "nationwide-plants").exit_code == 0
    assert yaml.safe_load(cli("retailer", "show", "nationwide-plants").output)["enabled"] is False
    assert cli("retailer", "enable", "nobody").exit_code == 1
    assert cli("retailer", "remove", "nationwide-plants", "--yes").exit_code == 0
    assert cli("retailer", "show", "nationwide-plants").exit_code == 1


def test_encrypted_token_is_accepted_and_never_shown(cli, monkeypatch):
    key = cli("retailer", "new-key").output.strip()
    monkeypatch.setenv("LGL_SECRET_KEY", key)
    secret = "shpat_" + "ab" * 16
    encrypted = cli("retailer", "encrypt-token", input=secret).output.strip()
    assert encrypted.startswith("enc:v1:") and secret not in encrypted
    assert cli("retailer", "add", definition={**VALID, "api_token": encrypted}).exit_code == 0
    shown = cli("retailer", "show", "nationwide-plants").output
    assert "(encrypted)" in shown and encrypted not in shown


def test_the_secret_key_rotates_without_losing_a_stored_secret(cli, monkeypatch):
    old, new = (cli("retailer", "new-key").output.strip() for _ in range(2))
    monkeypatch.setenv("LGL_SECRET_KEY", old)
    secret = "shpat_" + "cd" * 16
    encrypted = cli("retailer", "encrypt-token", input=secret).output.strip()
    assert cli("retailer", "add", definition={**VALID, "api_token": encrypted}).exit_code == 0
    engine = create_engine(os.environ["LGL_DATABASE_URL"])
    domain = VALID["domain"].removeprefix("https://")
    credentials.save(
        engine,
        domain,
        grant="client_credentials",
        client_id="client-id",
        client_secret="app-secret-1",
        answer={"access_token": "shpat_" + "ef" * 16, "expires_in": 3600},
    )
    with engine.begin() as connection:
        connection.execute(
            sa.insert(asset_handoffs).values(
                asset_key="retailer_paid_orders",
                partition_key="nationwide-plants",
                run_id="r1",
                value=seal(b"2 Elm St"),
                created_at=datetime.now(UTC),
            )
        )

    monkeypatch.setenv("LGL_SECRET_KEY", f"{new},{old}")  # the new key first, the old after
    assert resolve_token(encrypted) == secret  # both decrypt while the rotation runs
    rotated = cli("retailer", "rotate-key")
    assert rotated.exit_code == 0, rotated.output
    assert "1 retailer tokens, 1 store credentials, 1 asset handoffs" in rotated.output
    assert secret not in rotated.output and "app-secret-1" not in rotated.output

    monkeypatch.setenv("LGL_SECRET_KEY", new)  # the old key dropped: nothing is lost
    with engine.connect() as connection:
        token = connection.execute(sa.select(retailers.c.api_token)).scalar_one()
        row = connection.execute(sa.select(store_credentials)).mappings().one()
        handoff = connection.execute(sa.select(asset_handoffs.c.value)).scalar_one()
    assert token != encrypted and resolve_token(token) == secret
    assert decrypt_secret(row["client_secret"]) == "app-secret-1"
    assert decrypt_secret(row["access_token"]) == "shpat_" + "ef" * 16
    assert unseal(bytes(handoff)) == b"2 Elm St"
    monkeypatch.setenv("LGL_SECRET_KEY", old)  # and the old key alone no longer reads them
    with pytest.raises(SecretError):
        resolve_token(token)
    monkeypatch.setenv("LGL_SECRET_KEY", f"{new},not-a-key")
    with pytest.raises(SecretError, match="key 2 of 2 is not a valid Fernet key"):
        resolve_token(token)


def _sandbox_definition(sandbox, handle: str) -> dict:
    store = sandbox.store(handle)
    location = next(loc for loc in store.locations.values() if loc.name == RETAILER_LGL_LOCATION)
    return {
        **VALID,
        "id": handle,
        "domain": sandbox.domain(handle),
        "api_token": token_variable(handle),
        "target_location_id": str(location.id),
    }


def test_validate_checks_the_live_store_and_reports_sku_coverage(cli, sandbox, monkeypatch):
    handle = "nationwide-plants"
    monkeypatch.setenv(token_variable(handle), token_for(handle))
    monkeypatch.setenv("SHOPIFY_LGL_DOMAIN", sandbox.domain("lgl"))
    monkeypatch.setenv("SHOPIFY_LGL_TOKEN", token_for("lgl"))
    result = cli("retailer", "add", "--check", definition=_sandbox_definition(sandbox, handle))
    assert result.exit_code == 0, result.output
    store = sandbox.store(handle)
    lgl_skus = {v.sku for v in sandbox.store("lgl").variants.values()}
    at_lgl = {
        store.inventory_items[v.inventory_item_id].sku
        for v in store.variants.values()
        if any(
            loc.name == RETAILER_LGL_LOCATION
            for loc in (
                store.locations[i] for i in store.inventory_items[v.inventory_item_id].levels
            )
        )
    }
    missing = sorted(at_lgl - lgl_skus)
    assert f"{len(at_lgl) - len(missing)}/{len(at_lgl)}" in result.output
    assert missing and all(f"missing in LGL store: {sku}" in result.output for sku in missing)
    assert cli("retailer", "validate", handle).exit_code == 0


def test_validate_names_missing_scopes_and_unknown_locations(cli, sandbox, monkeypatch):
    handle = "epic-gardening"
    monkeypatch.setenv(token_variable(handle), token_for(handle))
    monkeypatch.setenv("SHOPIFY_LGL_DOMAIN", sandbox.domain("lgl"))
    monkeypatch.setenv("SHOPIFY_LGL_TOKEN", token_for("lgl"))
    sandbox.store(handle).scopes.remove("write_inventory")
    definition = {**_sandbox_definition(sandbox, handle), "lgl_location_id": "999"}
    result = cli("retailer", "add", "--check", definition=definition)
    assert result.exit_code == 1
    assert "sync_inventory is enabled but the token lacks write_inventory" in result.output
    assert "lgl_location_id gid://shopify/Location/999 is not a location" in result.output
    assert "Traceback" not in result.output
    assert gid("Location", 999) in result.output


def test_update_round_trips_with_export_and_shows_the_difference(cli, tmp_path):
    assert cli("retailer", "add", definition=VALID).exit_code == 0
    exported = cli("retailer", "export", VALID["id"])
    assert exported.exit_code == 0
    definition = yaml.safe_load(exported.output)
    normalised = {**VALID, "target_location_id": gid("Location", VALID["target_location_id"])}
    assert {k: definition[k] for k in VALID} == normalised  # every column out, as stored
    unchanged = cli("retailer", "update", "--yes", definition=definition)
    assert unchanged.exit_code == 0 and "nothing to change" in unchanged.output
    definition.update(lookback_hours=12, billing_city="Dallas")
    refused = cli("retailer", "update", definition={**definition, "domain": "np.example.com"})
    assert refused.exit_code != 0 and "domain" in refused.output  # validated before any diff
    declined = cli("retailer", "update", definition=definition, input="n\n")
    assert declined.exit_code != 0 and "billing_city: 'Austin' -> 'Dallas'" in declined.output
    assert yaml.safe_load(cli("retailer", "export", VALID["id"]).output)["billing_city"] == "Austin"
    updated = cli("retailer", "update", "--yes", definition=definition)
    assert updated.exit_code == 0 and "2 field(s)" in updated.output
    again = yaml.safe_load(cli("retailer", "export", VALID["id"]).output)
    assert again == definition
    nobody = {**definition, "id": "nobody-here", "api_token": "SHOPIFY_NOBODY_HERE_TOKEN"}
    missing = cli("retailer", "update", "--yes", definition=nobody)
    assert missing.exit_code != 0 and "retailer add" in missing.output


def test_version_is_printed(cli):
    result = cli("--version")
    assert result.exit_code == 0 and result.output.startswith("lgl-sync, version ")


def test_a_retailer_importing_orders_needs_a_billing_address(cli):
    no_billing = {k: v for k, v in VALID.items() if not k.startswith("billing_")}
    refused = cli("retailer", "add", definition=no_billing)
    assert refused.exit_code != 0 and "billing address is required" in refused.output
    assert cli("retailer", "add", definition={**no_billing, "import_orders": False}).exit_code == 0
    turned_on = cli("retailer", "update", "--yes", definition={**no_billing, "import_orders": True})
    assert turned_on.exit_code != 0 and "billing address is required" in turned_on.output


BAD_VALUES = [
    ("LOG_LEVEL", "loud"),
    ("LOG_DIR", "/proc/no-such-dir"),
    ("DAGSTER_HOME", "/proc/no-such"),
    ("LGL_MAX_PAGES", "many"),
    ("LGL_MAX_SLEEP_SECONDS", "-3"),
    ("SHOPIFY_READ_TIMEOUT_SECONDS", "0"),
    ("LGL_TAKEOVER_SECONDS", "soon"),
    ("LGL_ALLOW_LOCAL_STORES", "perhaps"),
    ("LGL_HELD_REMINDER_HOURS", "1,x"),
    ("LGL_MAX_ZERO_SHARE", "2"),
    ("LGL_UNSUBMITTED_HOURS", "0"),
    ("LGL_TOKEN_UPKEEP_DAYS", "365"),
    ("SLACK_WEBHOOK_URL", "https://evil.example/services/T/B/secretpath"),
    ("LGL_FRESH_ORDERS_MINUTES", "ten"),
    ("SHOPIFY_API_VERSION", "2026-13"),
    ("LGL_SCHEDULES", "sometimes"),
    ("NOTIFY_TIMEZONE", "Mars/Olympus"),
    ("NOTIFY_QUIET_HOURS", "late"),
    ("EMAIL_TO", "ops at lgl"),
    ("LGL_DATABASE_URL", "mysql://db/lgl"),
    ("LOG_MAX_BYTES", "big"),
]


@pytest.mark.parametrize("variable, value", BAD_VALUES)
def test_a_bad_environment_value_is_one_line_naming_it_with_exit_2(
    tmp_path, monkeypatch, variable, value
):
    monkeypatch.setenv("LGL_DATABASE_URL", f"sqlite:///{tmp_path / 'control.db'}")
    monkeypatch.delenv("LOG_DIR", raising=False)
    monkeypatch.setenv(variable, value)
    for command in (["retailer", "list"], ["health"], ["status"]):  # any command
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1 and variable in result.output
        assert "Traceback" not in result.output and "secretpath" not in result.output


def test_the_annotated_example_retailer_file_is_accepted_and_round_trips(cli):
    example = Path(__file__).resolve().parents[1] / "docs" / "examples" / "retailer.yaml"
    added = cli("retailer", "add", "--file", str(example))
    assert added.exit_code == 0, added.output
    exported = cli("retailer", "export", "nationwide-plants")
    assert exported.exit_code == 0
    again = yaml.safe_load(exported.output)
    for key, value in yaml.safe_load(example.read_text()).items():
        assert str(again[key]).removeprefix("gid://shopify/Location/") == str(value), key

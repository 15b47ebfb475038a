"""``apikey create|list|revoke``: API keys of the HTTP service (stored hashed)."""

from __future__ import annotations

import click

from ..render.apikeys import KEY_COLUMNS, key_record, keys_table
from .aliases import AliasedGroup
from .output import echo, emit_records, format_option
from .state import CliState, pass_state


@click.group("apikey", cls=AliasedGroup, aliases={"ls": "list", "rm": "revoke"})
def apikey_group() -> None:
    """API keys for the HTTP service (usage ingestion, quota and read API)."""


@apikey_group.command("create")
@click.option(
    "--customer",
    "customer_id",
    metavar="ID",
    help="Bind the key to this customer (default: the current customer).",
)
@click.option("--admin", is_flag=True, help="An admin key: may act on every customer.")
@click.option("--name", help="A label to recognise the key by.")
@pass_state
def apikey_create(state: CliState, customer_id: str | None, admin: bool, name: str | None) -> None:
    """Create a key and print it once (only its hash is stored)."""
    billing = state.billing
    if admin and customer_id:
        raise click.UsageError("--admin and --customer cannot be combined")
    if not admin and customer_id is None:
        customer_id = billing.customers.current_id()
    created = billing.apikeys.create(customer_id=customer_id, admin=admin, name=name)
    echo(f"API key created: {created.key.key_id} ({created.key.scope})")
    echo(created.secret)
    click.echo("Store this key now: it is not shown again.", err=True)


@apikey_group.command("list")
@format_option()
@pass_state
def apikey_list(state: CliState, output_format: str) -> None:
    """List keys (ids, scope and dates; never the keys themselves)."""
    keys = state.billing.apikeys.list()
    records = [key_record(k) for k in keys]
    table = keys_table(keys) if output_format == "table" else None
    emit_records(records, output_format, columns=KEY_COLUMNS, table=table)


@apikey_group.command("revoke")
@click.argument("key_id")
@pass_state
def apikey_revoke(state: CliState, key_id: str) -> None:
    """Revoke a key: every request with it is refused from now on."""
    key = state.billing.apikeys.revoke(key_id)
    echo(f"API key revoked: {key.key_id}")


COMMANDS = [apikey_group]

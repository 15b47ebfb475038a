"""``apikey create|list|revoke``: API keys of the HTTP service (stored hashed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .aliases import AliasedGroup
from .render import echo, emit_records, format_option, table_text
from .state import CliState, pass_state

if TYPE_CHECKING:
    from ..services.apikeys import ApiKey

KEY_COLUMNS = ("key_id", "scope", "name", "created_at", "revoked_at")


def key_record(key: ApiKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "scope": key.scope,
        "name": key.name,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


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
    table = None
    if output_format == "table":
        rows = [
            [k.key_id, k.scope, k.name or "-", _when(k.created_at), _when(k.revoked_at)]
            for k in keys
        ]
        table = (
            table_text(["Key ID", "Scope", "Name", "Created", "Revoked"], rows, banner=["API KEYS"])
            if rows
            else "No API keys"
        )
    emit_records(records, output_format, columns=KEY_COLUMNS, table=table)


@apikey_group.command("revoke")
@click.argument("key_id")
@pass_state
def apikey_revoke(state: CliState, key_id: str) -> None:
    """Revoke a key: every request with it is refused from now on."""
    key = state.billing.apikeys.revoke(key_id)
    echo(f"API key revoked: {key.key_id}")


COMMANDS = [apikey_group]

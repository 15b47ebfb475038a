"""``doctor`` and ``migrate``: the operator's checks and schema upgrades."""

from __future__ import annotations

import click

from ..render.diagnostics import CHECK_COLUMNS, check_record, checks_text
from .output import echo, emit_records, format_option
from .state import CliState, pass_state


@click.command("doctor")
@format_option()
@pass_state
def doctor(state: CliState, output_format: str) -> None:
    """Validate configuration and test the database, Stripe and ClickHouse connections (and
    the event shipper's lag and the last reconcile)."""
    from ..billing import Billing

    billing = Billing.from_env(customer_id=state.customer_id, migrate=False)
    try:
        checks = billing.diagnostics.run_all()
    finally:
        billing.close()
    failed = [check for check in checks if not check.ok]
    table = checks_text(checks) if output_format == "table" else None
    records = [check_record(c) for c in checks]
    emit_records(records, output_format, columns=CHECK_COLUMNS, table=table)
    if failed:
        raise click.exceptions.Exit(1)


@click.command("migrate")
@pass_state
def migrate(state: CliState) -> None:
    """Create or upgrade the database schema, apply plans.toml, and (with
    BILLING_CLICKHOUSE_URL) create the ClickHouse tables and the event capture."""
    from ..billing import Billing

    billing = Billing.from_env(customer_id=state.customer_id, migrate=False)
    events_line = None
    try:
        before, after = billing.upgrade_schema()
        applied = billing.apply_plans_file(force=True)
        if billing.events.configured:
            queued, new = billing.events.migrate()
            events_line = f"ClickHouse event store ready ({billing.events.clickhouse.location})"
            if new:
                events_line += f"; event capture installed, {queued:,} stored events queued"
        elif billing.events.disable_capture():
            events_line = "Event capture removed (BILLING_CLICKHOUSE_URL is not set)"
    finally:
        billing.close()
    if before == after:
        echo(f"Database schema is up to date ({after})")
    else:
        echo(f"Database schema upgraded: {before or 'empty'} -> {after}")
    if applied:
        echo(f"Applied plans.toml: {', '.join(applied)}")
    if events_line:
        echo(events_line)


COMMANDS = [doctor, migrate]

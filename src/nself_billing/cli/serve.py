"""``serve``: the HTTP service (webhooks, usage ingestion, quota API, portal) on uvicorn."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from .render import echo
from .state import CliState, pass_state

if TYPE_CHECKING:
    from ..billing import Billing


@contextmanager
def outbox_worker(billing: Billing, *, idle_seconds: float = 5.0) -> Iterator[bool]:
    """With the Stripe provider, drain the usage outbox to Stripe's meters in a background
    thread while the server runs (stopped and joined on exit); yields whether it runs."""
    if not billing.stripe.enabled:
        yield False
        return
    stop = threading.Event()
    thread = threading.Thread(
        target=billing.outbox.run_worker,
        args=(stop,),
        kwargs={"idle_seconds": idle_seconds},
        name="nself-usage-outbox",
        daemon=True,
    )
    thread.start()
    try:
        yield True
    finally:
        stop.set()
        thread.join(timeout=30)


@contextmanager
def events_worker(billing: Billing, *, idle_seconds: float = 1.0) -> Iterator[bool]:
    """With BILLING_CLICKHOUSE_URL, ship usage events to ClickHouse in a background thread
    while the server runs (stopped and joined on exit); yields whether it runs."""
    if not billing.events.configured:
        yield False
        return
    stop = threading.Event()
    thread = threading.Thread(
        target=billing.events.run_worker,
        args=(stop,),
        kwargs={"idle_seconds": idle_seconds},
        name="nself-event-shipper",
        daemon=True,
    )
    thread.start()
    try:
        yield True
    finally:
        stop.set()
        thread.join(timeout=30)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8400,
    show_default=True,
    help="TCP port (0 picks a free one).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes (each with its own database pool).",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="warning",
    show_default=True,
    help="uvicorn's access and error log level.",
)
@pass_state
def serve(state: CliState, host: str, port: int, workers: int, log_level: str) -> None:
    """Run the HTTP service (Stripe webhooks, usage API, quota API, portal)."""
    import uvicorn

    billing = state.billing  # opens the database and migrates once, before any worker starts
    echo(f"Serving nself-billing on http://{host}:{port} (docs at /docs); Ctrl-C to stop")
    # one drainer, in this process, whatever the number of HTTP workers
    with outbox_worker(billing) as draining, events_worker(billing) as shipping:
        if draining:
            echo("Usage outbox: sending recorded usage to Stripe in the background")
        if shipping:
            echo("Event shipper: moving recorded usage to ClickHouse in the background")
        if workers == 1:
            from ..http.app import create_app

            uvicorn.run(
                create_app(billing),
                host=host,
                port=port,
                log_level=log_level,
                loop="auto",
                http="auto",
                access_log=False,
                server_header=False,
            )
            return
        if not draining and not shipping:
            state.close()  # the workers open their own pools; the drainer keeps this one
        uvicorn.run(
            "nself_billing.http.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            server_header=False,
        )


COMMANDS = [serve]

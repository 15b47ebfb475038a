"""``serve``: the HTTP service (webhooks, usage ingestion, quota API, portal) on uvicorn."""

from __future__ import annotations

import socket
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


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything is announced: a port in use (or an address
    this host does not have) is one ``Error:`` line and exit 1, as every other command."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except OSError as error:
        raise click.ClickException(f"Cannot listen on {host}:{port}: {error.strerror}") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        hint = " (another process uses it: stop it, or choose --port)" if port else ""
        raise click.ClickException(
            f"Cannot listen on {host}:{port}: {error.strerror or error}{hint}"
        ) from None
    return sock


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

    from ..http.server import uvicorn_options

    billing = state.billing  # opens the database and migrates once, before any worker starts
    sock = listening_socket(host, port)
    port = sock.getsockname()[1]
    if workers > 1:
        sock.close()  # uvicorn's supervisor binds it again for its workers
    options = uvicorn_options(billing.settings.http_max_header_bytes)
    echo(f"Serving nself-billing on http://{host}:{port} (docs at /docs); Ctrl-C to stop")
    # one drainer, in this process, whatever the number of HTTP workers
    with outbox_worker(billing) as draining:
        if draining:
            echo("Usage outbox: sending recorded usage to Stripe in the background")
        if workers == 1:
            from ..http.app import create_app

            config = uvicorn.Config(
                create_app(billing),
                host=host,
                port=port,
                log_level=log_level,
                loop="auto",
                **options,
            )
            with sock:
                uvicorn.Server(config).run(sockets=[sock])
            return
        if not draining:
            state.close()  # the workers open their own pools; the drainer keeps this one
        uvicorn.run(
            "nself_billing.http.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            **options,
        )


COMMANDS = [serve]

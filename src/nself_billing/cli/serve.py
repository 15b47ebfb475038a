"""``serve``: the HTTP service (webhooks, usage ingestion, quota API, portal) on uvicorn."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .output import echo
from .state import CliState, pass_state

if TYPE_CHECKING:
    from ..billing import Billing


@contextmanager
def background(
    run_worker: Callable[..., object], *, name: str, idle_seconds: float, join_seconds: float
) -> Iterator[None]:
    """Run ``run_worker(stop, idle_seconds=...)`` in a daemon thread while the block runs, then
    set ``stop`` and join it for at most ``join_seconds`` (the drainer, notifier and shipper of
    ``serve`` each run so)."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_worker,
        args=(stop,),
        kwargs={"idle_seconds": idle_seconds},
        name=name,
        daemon=True,
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=join_seconds)


@contextmanager
def outbox_worker(billing: Billing, *, idle_seconds: float = 5.0) -> Iterator[bool]:
    """With the Stripe provider, drain the usage outbox to Stripe's meters in a background
    thread while the server runs (stopped and joined on exit); yields whether it runs."""
    if not billing.stripe.enabled:
        yield False
        return
    with background(
        billing.outbox.run_worker,
        name="nself-usage-outbox",
        idle_seconds=idle_seconds,
        join_seconds=30,
    ):
        yield True


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


@contextmanager
def notify_worker(billing: Billing, *, idle_seconds: float = 1.0) -> Iterator[None]:
    """Deliver notifications (webhooks, email) in a background thread while the server runs;
    a slow or dead endpoint holds up only that thread, never a request."""
    with background(
        billing.notify.run_worker,
        name="nself-notify",
        idle_seconds=idle_seconds,
        join_seconds=billing.settings.notify_timeout + 5,
    ):
        yield


@contextmanager
def metrics_directory() -> Iterator[None]:
    """prometheus_client's multiprocess mode: every worker writes its counters to files in
    PROMETHEUS_MULTIPROC_DIR, which /metrics adds up. A directory of our own (made here, removed
    at exit) unless the operator set one; either way it starts empty, so a restart starts the
    counters from zero as Prometheus expects."""
    chosen = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    made = None
    if chosen:
        Path(chosen).mkdir(parents=True, exist_ok=True)
        for stale in Path(chosen).glob("*.db"):
            stale.unlink(missing_ok=True)
    else:
        made = tempfile.mkdtemp(prefix="nself-billing-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    try:
        yield
    finally:
        if made is not None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
            shutil.rmtree(made, ignore_errors=True)


@contextmanager
def events_worker(billing: Billing, *, idle_seconds: float = 1.0) -> Iterator[bool]:
    """With BILLING_CLICKHOUSE_URL, ship usage events to ClickHouse in a background thread
    while the server runs (stopped and joined on exit); yields whether it runs."""
    if not billing.events.configured:
        yield False
        return
    with background(
        billing.events.run_worker,
        name="nself-event-shipper",
        idle_seconds=idle_seconds,
        join_seconds=30,
    ):
        yield True


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
    sock = listening_socket(host, port)
    port = sock.getsockname()[1]
    if workers > 1:
        sock.close()  # uvicorn's supervisor binds it again for its workers
    # the metrics directory exists before the HTTP modules (and their metrics) are imported
    with metrics_directory():
        from ..http.server import uvicorn_options

        options = uvicorn_options(billing.settings.http_max_header_bytes)
        echo(f"Serving nself-billing on http://{host}:{port} (docs at /docs); Ctrl-C to stop")
        # one drainer, one notifier and one shipper, in this process, whatever the number of
        # HTTP workers
        with (
            notify_worker(billing),
            outbox_worker(billing) as draining,
            events_worker(billing) as shipping,
        ):
            if draining:
                echo("Usage outbox: sending recorded usage to Stripe in the background")
            if shipping:
                echo("Event shipper: moving recorded usage to ClickHouse in the background")
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
            from ..http.server import serve_workers

            serve_workers(
                "nself_billing.http.app:app_from_env",
                host=host,
                port=port,
                workers=workers,
                log_level=log_level,
                **options,
            )


COMMANDS = [serve]

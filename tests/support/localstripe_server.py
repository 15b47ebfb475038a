"""Run localstripe (PyPI) in this process, on a loopback port, for the end-to-end smoke test.

localstripe is a Stripe-compatible fake server built on aiohttp. It supports customers, card
payment methods, legacy Plans, single-item subscriptions, invoices and signed webhooks; it does
not support Prices, Subscription Schedules, the Billing Portal, Billing Meters or idempotency
keys (those are covered by the recorded-fixture tests of the adapter).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def running_localstripe() -> Iterator[str]:
    """Yield the base URL (``http://127.0.0.1:<port>``) of a fresh localstripe."""
    from aiohttp import web

    with warnings.catch_warnings():
        # localstripe registers plain functions as aiohttp handlers (deprecated in aiohttp)
        warnings.simplefilter("ignore", DeprecationWarning)
        from localstripe import resources, server

    # localstripe pickles its whole store to /tmp/localstripe.pickle on every write; a test
    # server keeps its store in memory only (and several test workers would share that file)
    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    resources.store.clear()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(server.app, access_log=None)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.SockSite(runner, sock).start())
    thread = threading.Thread(target=loop.run_forever, name="localstripe", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:

        async def shutdown() -> None:
            # webhook deliveries still sleeping in localstripe: cancel them quietly
            current = asyncio.current_task()
            pending = [t for t in asyncio.all_tasks() if t is not current]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()

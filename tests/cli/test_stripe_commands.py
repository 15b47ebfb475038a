"""The Stripe commands through the real entry point: exit codes and exact lines."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def stripe_vars(closed_port: int) -> dict[str, str]:
    """Stripe configured, pointing at a port nobody listens on (no network in tests)."""
    return {
        "STRIPE_SECRET_KEY": "sk_test_cli_secret_value",
        "STRIPE_API_BASE": f"http://127.0.0.1:{closed_port}/v1",
        "STRIPE_WEBHOOK_SECRET": "whsec_cli",
    }


def test_sync_needs_the_stripe_provider(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("tenant", "billing", "sync")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: Usage sync needs the Stripe provider (set STRIPE_SECRET_KEY "
        "or BILLING_PROVIDER=stripe)\n"
    )


def test_sync_status_reports_the_outbox(cli, stripe_vars) -> None:  # type: ignore[no-untyped-def]
    result = cli("tenant", "billing", "sync", "--status", extra_env=stripe_vars)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "Pending: 0\nSent: 0\nFailed: 0\nExpired (older than 35 days, not sent): 0\n"
    )


def test_sync_with_nothing_pending_sends_nothing(cli, stripe_vars) -> None:  # type: ignore[no-untyped-def]
    result = cli("tenant", "billing", "sync", "--format", "json", extra_env=stripe_vars)
    assert result.exit_code == 0, result.stderr
    assert '"pending": 0' in result.stdout


def test_an_unreachable_stripe_is_one_error_line_without_the_key(  # type: ignore[no-untyped-def]
    cli, stripe_vars
) -> None:
    result = cli("tenant", "billing", "webhook", "list", extra_env=stripe_vars)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Stripe API error: could not reach Stripe (network ")
    assert "Connection refused" in result.stderr  # the whole line, cause included
    assert len(result.stderr.splitlines()) == 1
    assert "sk_test_cli_secret_value" not in result.stderr + result.stdout


def test_webhook_test_reports_an_unreachable_receiver(  # type: ignore[no-untyped-def]
    cli, stripe_vars, closed_port
) -> None:
    url = f"http://127.0.0.1:{closed_port}/api/webhooks/stripe"
    result = cli("tenant", "billing", "webhook", "test", "--url", url, extra_env=stripe_vars)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:3] == [
        "Testing webhook endpoint",
        f"Webhook URL: {url}",
        "Configure this URL in your Stripe Dashboard",
    ]
    assert result.stderr.startswith(f"Error: Webhook receiver not reachable at {url}")


def test_webhook_events_limit_is_checked(cli, stripe_vars) -> None:  # type: ignore[no-untyped-def]
    result = cli("tenant", "billing", "webhook", "events", "0", extra_env=stripe_vars)
    assert result.exit_code == 2


def test_webhook_test_without_a_secret_prints_the_spec_lines_and_warns(cli, stripe_vars) -> None:  # type: ignore[no-untyped-def]
    result = cli(
        "tenant",
        "billing",
        "webhook",
        "test",
        extra_env=stripe_vars | {"STRIPE_WEBHOOK_SECRET": ""},
    )
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "Testing webhook endpoint",
        "Webhook URL: http://127.0.0.1:8400/api/webhooks/stripe",
        "Configure this URL in your Stripe Dashboard",
    ]
    assert result.stderr == (
        "Warning: STRIPE_WEBHOOK_SECRET is not set: no signed test event was sent "
        "(set it to the endpoint's signing secret from the Stripe Dashboard)\n"
    )


def test_webhook_test_prints_the_receivers_answer(cli, stripe_vars) -> None:  # type: ignore[no-untyped-def]
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import stripe

    received: list[bool] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            stripe.WebhookSignature.verify_header(
                body, self.headers["Stripe-Signature"], "whsec_cli", 300
            )
            received.append(True)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"test")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/api/webhooks/stripe"
    try:
        result = cli(
            "tenant",
            "billing",
            "webhook",
            "test",
            "invoice.paid",
            "--url",
            url,
            extra_env=stripe_vars | {"NSELF_BASE_URL": "https://example.com"},
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "Testing webhook endpoint",
        "Webhook URL: https://example.com/api/webhooks/stripe",
        "Configure this URL in your Stripe Dashboard",
    ]
    assert lines[3].startswith("Sent invoice.paid test event evt_nself_test_")
    assert lines[4] == "Receiver answered: HTTP 200 test"
    assert received == [True]

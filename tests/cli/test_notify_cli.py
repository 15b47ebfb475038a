"""``notify``: endpoints, test events, deliveries, retry, send and the email test, through the
real entry point against real loopback servers."""

from __future__ import annotations

import json
import re

from ..support.receivers import receiver, smtp_env, smtp_server


def _add(cli, url: str, *extra: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    result = cli("tenant", "billing", "notify", "endpoint", "add", url, *extra)
    assert result.exit_code == 0, result.output
    first, secret = result.stdout.splitlines()
    endpoint_id = re.search(r"(we_[0-9a-f]{24})", first).group(1)  # type: ignore[union-attr]
    assert secret.startswith("whsec_")
    assert "not shown again" in result.stderr
    return endpoint_id, secret


def test_an_endpoint_is_added_listed_disabled_and_removed(cli):
    endpoint_id, secret = _add(
        cli,
        "https://hooks.example.com/billing",
        "--events",
        "invoice.paid,quota.exceeded",
        "--description",
        "ops",
    )
    listed = cli("tenant", "billing", "notify", "endpoint", "list", "--format", "json")
    (record,) = json.loads(listed.stdout)
    assert record["endpoint_id"] == endpoint_id
    assert record["events"] == "invoice.paid,quota.exceeded"
    assert record["status"] == "enabled"
    assert secret not in listed.stdout
    assert secret not in cli("tenant", "billing", "notify", "endpoint", "list").stdout

    assert cli("tenant", "billing", "notify", "endpoint", "disable", endpoint_id).exit_code == 0
    listed = cli("tenant", "billing", "notify", "endpoint", "list", "--format", "json")
    assert json.loads(listed.stdout)[0]["status"] == "disabled"
    removed = cli("tenant", "billing", "notify", "endpoint", "remove", endpoint_id)
    assert removed.stdout == f"Notification endpoint removed: {endpoint_id}\n"
    again = cli("tenant", "billing", "notify", "endpoint", "remove", endpoint_id)
    assert (again.exit_code, again.stderr) == (
        1,
        f"Error: Notification endpoint not found: {endpoint_id}\n",
    )


def test_bad_input_is_one_error_line(cli):
    bad_url = cli("tenant", "billing", "notify", "endpoint", "add", "ftp://example.com")
    assert bad_url.exit_code == 1
    assert bad_url.stderr.startswith("Error: Invalid endpoint URL")
    bad_event = cli(
        "tenant", "billing", "notify", "endpoint", "add", "http://x.example", "--events", "nope"
    )
    assert bad_event.exit_code == 1
    assert bad_event.stderr.startswith("Error: Unknown event type: nope")
    assert cli("tenant", "billing", "notify", "retry", "abc").exit_code == 2


def test_notify_test_sends_a_signed_sample_to_the_endpoints(cli):
    with receiver() as hooks:
        _, hooks.secret = _add(cli, hooks.url, "--events", "invoice.paid")
        result = cli("tenant", "billing", "notify", "test")
        sample = cli("tenant", "billing", "notify", "test", "invoice.paid")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == "Notifications: 1 sent, 0 to retry, 0 failed"
    assert sample.exit_code == 0
    assert hooks.types == ["notification.test", "invoice.paid"]
    assert hooks.bad_signatures == 0


def test_a_failed_test_is_an_error_then_deliveries_shows_it_and_retry_sends_it(cli):
    with receiver(500) as hooks:
        _add(cli, hooks.url)
        failed = cli("tenant", "billing", "notify", "test")
        assert failed.exit_code == 1
        assert "0 sent, 1 to retry" in failed.stdout
        pending = cli(
            "tenant", "billing", "notify", "deliveries", "--status", "pending", "--format", "json"
        )
        (row,) = json.loads(pending.stdout)
        assert (row["last_status"], row["attempts"]) == (500, 1)
        assert row["last_error"] == "HTTP 500"
        assert cli("tenant", "billing", "notify", "send").stdout == (
            "Notifications: 0 sent, 0 to retry, 0 failed\n"  # waiting for its backoff
        )
        retried = cli("tenant", "billing", "notify", "retry", str(row["id"]))
    assert retried.exit_code == 0, retried.output
    assert retried.stdout.splitlines()[-1] == "Notifications: 0 sent, 0 to retry, 0 failed"
    assert len(hooks.received) == 1


def test_retry_sends_a_failed_delivery_again(cli, env):
    from nself_billing import Billing
    from nself_billing.store import notify as notify_store

    with receiver() as hooks:
        _add(cli, hooks.url)
        cli(
            "tenant",
            "billing",
            "customer",
            "create",
            "--email",
            "a@example.com",
            "--name",
            "R",
            "--id",
            "cus_r",
        )
        cli("tenant", "billing", "notify", "send")
        billing = Billing.from_env(env)
        try:
            (sent,) = billing.notify.deliveries(status="sent")
            with billing.context.db.write() as conn:
                notify_store.fail_one(conn, sent.id, error="lost", status=None)
        finally:
            billing.close()
        failed = cli("tenant", "billing", "notify", "deliveries", "--status", "failed")
        assert "lost" in failed.stdout
        retried = cli("tenant", "billing", "notify", "retry", str(sent.id))
    assert retried.stdout.splitlines() == [
        f"Delivery {sent.id} queued again",
        "Notifications: 1 sent, 0 to retry, 0 failed",
    ]
    assert hooks.event_ids == [sent.event_id, sent.event_id]


def test_email_test_reaches_the_smtp_server(cli):
    with smtp_server() as (mailbox, port):
        result = cli(
            "tenant",
            "billing",
            "notify",
            "email",
            "test",
            "ops@example.com",
            extra_env=smtp_env(port),
        )
    assert result.stdout == "Test email sent to ops@example.com\n"
    assert mailbox.messages[0]["To"] == "ops@example.com"
    unconfigured = cli("tenant", "billing", "notify", "email", "test", "ops@example.com")
    assert unconfigured.exit_code == 1
    assert unconfigured.stderr.startswith("Error: SMTP is not configured")


def test_a_cli_error_is_a_line_of_the_billing_log(cli, root):
    cli(
        "tenant",
        "billing",
        "customer",
        "create",
        "--email",
        "a@example.com",
        "--name",
        "L",
        "--id",
        "cus_l",
    )
    cli("tenant", "billing", "--customer", "cus_missing", "customer", "show")
    lines = [
        json.loads(line) for line in (root / ".nself/billing/billing.log").read_text().splitlines()
    ]
    created = next(line for line in lines if line.get("event") == "customer.created")
    assert created["actor"].startswith("cli:")
    error = next(line for line in lines if line.get("event") == "error")
    assert error["level"] == "error"
    assert "cus_missing" in error["message"]

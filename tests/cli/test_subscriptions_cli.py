"""``subscription``, ``cycle``, ``invoice``, ``payment`` and ``customer portal`` end to end."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from nself_billing import Billing
from nself_billing.domain.periods import add_months, start_of_day

B = ("tenant", "billing")


@pytest.fixture
def starter(cli):
    created = cli(
        *B,
        "customer",
        "create",
        "--email",
        "a@example.com",
        "--name",
        "Ann",
        "--id",
        "cus_ann",
        "--plan",
        "starter",
    )
    assert created.exit_code == 0, created.stderr
    return "cus_ann"


def test_upgrade_downgrade_and_show(cli, starter):
    upgraded = cli(*B, "subscription", "upgrade", "pro")
    assert upgraded.exit_code == 0, upgraded.stderr
    lines = upgraded.stdout.splitlines()
    assert lines[0] == "Subscription upgraded: starter -> pro (effective immediately)"
    assert lines[1].startswith("Prorated charge: $") and "(invoice in_" in lines[1]
    assert lines[2] == "Quota limits: pro plan, from now"
    same = cli(*B, "subscription", "upgrade", "pro")
    assert (same.exit_code, same.stderr) == (1, "Error: Already on the pro plan\n")
    lower = cli(*B, "subscription", "upgrade", "free")
    assert lower.exit_code == 1
    downgraded = cli(*B, "subscription", "downgrade", "starter")
    assert downgraded.exit_code == 0
    assert downgraded.stdout.startswith("Downgrade scheduled: pro -> starter on ")
    shown = cli(*B, "subscription", "current").stdout.splitlines()
    assert shown[2] == "Plan: pro"
    assert shown[-1].startswith("Scheduled Change: starter on ")
    higher = cli(*B, "subscription", "downgrade", "enterprise")
    assert (higher.exit_code, higher.stderr.startswith("Error: Cannot downgrade")) == (1, True)
    unknown = cli(*B, "subscription", "upgrade", "gold")
    assert (unknown.exit_code, unknown.stderr) == (1, "Error: Plan not found: gold\n")


def test_cancel_and_reactivate(cli, starter):
    not_scheduled = cli(*B, "subscription", "reactivate")
    assert (not_scheduled.exit_code, not_scheduled.stderr) == (
        1,
        "Error: Subscription is not scheduled for cancellation\n",
    )
    canceled = cli(*B, "subscription", "cancel")
    assert canceled.exit_code == 0
    assert canceled.stdout.startswith("Subscription will cancel at period end: ")
    shown = json.loads(cli(*B, "subscription", "show", "--format=json").stdout)[0]
    assert shown["cancel_at_period_end"] is True
    assert cli(*B, "subscription", "reactivate").stdout.startswith("Subscription reactivated: ")
    final = cli(*B, "subscription", "cancel", "--immediate")
    assert final.exit_code == 0
    assert final.stdout.startswith("Subscription canceled immediately: sub_")
    assert "Final invoice: in_" in final.stdout
    gone = cli(*B, "subscription", "reactivate")
    assert gone.exit_code == 1
    assert cli(*B, "subscription", "show").stderr == "Error: No active subscription\n"


def test_cycle_invoice_and_payment_flow(cli, env, starter, root):
    # the CLI uses the wall clock: move the period into the past so that it has just ended
    start = start_of_day(datetime.now(UTC)) - timedelta(days=35)
    end = add_months(start, 1)
    with Billing.from_env(env) as billing:
        billing.queries.run(
            "UPDATE billing_subscriptions SET current_period_start = :s,"
            " current_period_end = :e, anchor_at = :s",
            {"s": start, "e": end},
        )
    first = cli(*B, "cycle")
    assert first.exit_code == 0, first.stderr
    assert first.stdout.splitlines()[0].startswith("Billing cycle: closed ")
    [billed] = [line for line in first.stdout.splitlines() if line.startswith("Invoice ")]
    last_day = end - timedelta(days=1)
    assert billed.endswith(f": cus_ann $29.00 for {start:%Y-%m-%d} to {last_day:%Y-%m-%d}")
    again = cli(*B, "cycle")
    assert again.stdout == "Billing cycle: nothing due\n"
    listed = cli(*B, "invoice", "list")
    lines = listed.stdout.splitlines()
    assert lines[0] == "Recent Invoices"
    # the spec's four columns, then the invoice number
    invoice_id, _day, amount, status, number = lines[1].split(" ")
    assert (amount, status, number) == ("$29.00", "open", "INV-000001")
    shown = cli(*B, "invoice", "show", invoice_id).stdout.splitlines()
    assert shown[:2] == [
        f"Invoice: {invoice_id} (number INV-000001)",
        "invoice_id | total_amount | status | period_start | period_end | created_at",
    ]
    assert shown[2].startswith(
        f"{invoice_id} | 29.00 | open | {start:%Y-%m-%d} | {end:%Y-%m-%d} | "
    )
    assert shown[-2] == "Total: $29.00"
    assert shown[-1].startswith("Due: 20")  # 30 days after it was issued
    no_method = cli(*B, "invoice", "pay", invoice_id)
    assert no_method.exit_code == 1
    added = cli(*B, "payment", "add", "--brand", "visa", "--last4", "4242", "--exp", "12/2030")
    assert added.stdout.startswith("Payment method added: pm_")
    assert added.stdout.rstrip().endswith("(visa •••• 4242, expires 12/2030, default)")
    paid = cli(*B, "invoice", "pay", invoice_id)
    assert paid.stdout.startswith(f"Invoice paid: {invoice_id} $29.00 with pm_")
    assert cli(*B, "invoice", "pay", invoice_id).stdout == (
        f"Invoice already paid: {invoice_id} ($29.00)\n"
    )
    downloaded = cli(*B, "invoice", "download", invoice_id)
    pdf = root / ".nself" / "billing" / "exports" / f"{invoice_id}.pdf"
    assert downloaded.stdout == (f"Downloading invoice: {invoice_id}\nInvoice downloaded: {pdf}\n")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    for command in ("show", "download", "pay"):
        missing = cli(*B, "invoice", command, "in_missing")
        assert (missing.exit_code, missing.stderr.splitlines()[-1]) == (
            1,
            "Error: Invoice not found: in_missing",
        )


def test_payment_methods(cli, starter):
    instructions = cli(*B, "payment", "add")
    assert instructions.exit_code == 0
    assert instructions.stdout.splitlines()[:3] == [
        "Add Payment Method",
        "Please use the customer portal to add payment methods securely:",
        "nself tenant billing customer portal",
    ]
    first = cli(*B, "payment", "add", "--token", "tok_ref_1").stdout.split()[3]
    second = cli(
        *B, "payment", "add", "--brand", "amex", "--last4", "0005", "--exp", "01/31"
    ).stdout.split()[3]
    listed = cli(*B, "payment", "list").stdout.splitlines()
    assert listed[0] == "Payment Methods"
    assert listed[1] == f"{first}  token tok_ref_1  (default)"
    assert listed[2] == f"{second}  amex •••• 0005, expires 01/2031"
    assert cli(*B, "payment", "default", second).stdout.startswith(
        f"Default payment method: {second}"
    )
    assert cli(*B, "payment", "remove", first).stdout == f"Payment method removed: {first}\n"
    only = cli(*B, "payment", "remove", second)
    assert (only.exit_code, only.stderr) == (
        1,
        "Error: Cannot remove the default payment method: it is the only one (add another first)\n",
    )
    card = cli(*B, "payment", "add", "--token", "4111111111111111")
    assert card.exit_code == 1 and "card number" in card.stderr
    assert "4111111111111111" not in cli(*B, "payment", "list", "--format=json").stdout
    missing = cli(*B, "payment", "default", "pm_missing")
    assert (missing.exit_code, missing.stderr) == (
        1,
        "Error: Payment method not found: pm_missing\n",
    )


def test_customer_portal_prints_a_signed_link(cli, starter):
    result = cli(*B, "customer", "portal", extra_env={"NSELF_BASE_URL": "https://b.example"})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "Customer Portal URL:"
    assert lines[1].startswith("https://b.example/portal?token=")
    assert lines[2].startswith("Portal session created (expires ")


def test_cycle_json_output(cli, starter):
    result = cli(*B, "cycle", "--format=json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "closed": 0,
        "invoices": [],
        "total": "0",
        "downgraded": 0,
        "canceled": 0,
        "adjustments": 0,
        "failures": [],
        "skipped_reason": None,
    }


def test_invoice_formats(cli, starter):
    cli(*B, "subscription", "upgrade", "pro")
    listed = cli(*B, "invoice", "list", "--format=csv").stdout.splitlines()
    assert listed[0] == (
        "invoice_id,kind,status,total_amount,currency,period_start,period_end,created_at,paid_at,"
        "number,due_at"
    )
    invoice_id = listed[1].split(",")[0]
    assert listed[1].split(",")[9] == "INV-000001"
    [shown] = json.loads(cli(*B, "invoice", "show", invoice_id, "--format=json").stdout)
    assert (shown["kind"], shown["number"]) == ("proration", "INV-000001")
    assert shown["due_at"] is not None
    [line] = shown["lines"]
    assert line["kind"] == "proration" and line["amount"] == shown["total_amount"]
    assert cli(*B, "invoice", "list", "--limit", "1").stdout.count("\n") == 2


def _ended_period(env):  # type: ignore[no-untyped-def]
    """Move the subscription's period into the past (the CLI reads the wall clock)."""
    start = start_of_day(datetime.now(UTC)) - timedelta(days=35)
    end = add_months(start, 1)
    with Billing.from_env(env) as billing:
        billing.queries.run(
            "UPDATE billing_subscriptions SET current_period_start = :s,"
            " current_period_end = :e, anchor_at = :s",
            {"s": start, "e": end},
        )
    return start, end


def test_a_change_after_the_period_ended_says_what_it_billed(cli, env, starter):
    start, end = _ended_period(env)
    downgraded = cli(*B, "subscription", "downgrade", "free")
    assert downgraded.exit_code == 0, downgraded.stderr
    closed, *rest = downgraded.stdout.splitlines()
    invoice_id = closed.split()[4]
    last_day = end - timedelta(days=1)
    assert closed == (
        f"Period closed first: invoice {invoice_id} $29.00 for "
        f"{start:%Y-%m-%d} to {last_day:%Y-%m-%d} (open)"
    )
    assert rest[0].startswith("Downgrade scheduled: starter -> free on ")
    listed = cli(*B, "invoice", "list").stdout.splitlines()
    assert listed[1].startswith(f"{invoice_id} ") and " $29.00 open" in listed[1]
    assert cli(*B, "cycle").stdout == "Billing cycle: nothing due\n"


def test_a_period_is_shown_by_its_first_and_last_day(cli, env, starter):
    shown = json.loads(cli(*B, "subscription", "show", "--format=json").stdout)[0]
    start = datetime.fromisoformat(shown["period_start"])
    end = datetime.fromisoformat(shown["period_end"])  # exclusive: the next period's start
    last_day = end - timedelta(days=1)
    text = cli(*B, "subscription", "show").stdout.splitlines()
    assert f"Current Period: {start:%Y-%m-%d} to {last_day:%Y-%m-%d}" in text
    usage = cli(*B, "usage").stdout
    assert f"Period: {start:%Y-%m-%d} to {last_day:%Y-%m-%d}" in usage


def test_a_customer_without_a_plan_or_cancelled_now_can_be_subscribed_again(cli):
    created = cli(*B, "customer", "create", "--email", "b@example.com", "--name", "Bo")
    assert created.exit_code == 0, created.stderr
    none = cli(*B, "subscription", "show")
    assert (none.exit_code, none.stderr) == (1, "Error: No active subscription\n")
    started = cli(*B, "subscription", "start", "starter")
    assert started.exit_code == 0, started.stderr
    assert started.stdout.startswith("Subscription started: ")
    assert started.stdout.endswith(" (starter, active)\n")
    twice = cli(*B, "subscription", "start", "pro")
    assert twice.exit_code == 1 and "already has an active subscription" in twice.stderr
    assert cli(*B, "subscription", "cancel", "--immediate").exit_code == 0
    again = cli(*B, "subscription", "start", "pro", "--interval", "year")
    assert again.exit_code == 0, again.stderr
    assert cli(*B, "subscription", "show").stdout.splitlines()[2] == "Plan: pro"
    unknown = cli(*B, "subscription", "start", "gold")
    assert (unknown.exit_code, unknown.stderr) == (1, "Error: Plan not found: gold\n")

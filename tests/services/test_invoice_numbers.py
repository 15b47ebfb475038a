"""Invoice numbers: sequential and gap-free per prefix, given in the transaction that finalizes
the invoice, on both backends and under concurrent writers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from nself_billing import Billing
from nself_billing.domain.invoicing import Invoice, InvoiceStatus
from nself_billing.domain.seller import InvoiceTerms
from nself_billing.errors import ConfigError, Conflict, NotFound
from nself_billing.settings import Settings
from nself_billing.store import invoices as invoice_store
from nself_billing.store.tables import invoice_counters, invoices


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def numbers(billing: Billing) -> list[str]:
    with billing.context.db.read() as conn:
        return sorted(n for n in conn.execute(select(invoices.c.number)).scalars() if n is not None)


def test_each_finalized_invoice_gets_the_next_number_and_a_due_date(billing, clock):
    billing.customers.create(email="a@example.com", name="A", customer_id="cus_a")
    billing.subscriptions.start("cus_a", "starter")
    clock.advance(days=3)
    change = billing.subscriptions.upgrade("cus_a", "pro")  # a prorated invoice now
    assert change.invoice is not None
    upgrade = billing.invoices.get("cus_a", change.invoice.invoice_id)
    assert upgrade.number == "INV-000001"
    assert upgrade.due_at == clock.now + timedelta(days=30)
    clock.now = utc(2026, 2, 15, 1)
    [closed] = billing.cycle.run().invoice_ids
    invoice = billing.invoices.get("cus_a", closed)
    assert (invoice.number, invoice.due_at) == ("INV-000002", utc(2026, 3, 17, 1))
    assert [i.number for i in billing.invoices.list("cus_a")] == ["INV-000002", "INV-000001"]


def test_the_prefix_and_the_due_days_come_from_configuration(env, clock):
    configured = {**env, "BILLING_INVOICE_PREFIX": "ACME2026", "BILLING_INVOICE_DUE_DAYS": "14"}
    with Billing.from_env(configured, clock=clock) as billing:
        billing.customers.create(email="a@example.com", name="A", customer_id="cus_a")
        billing.subscriptions.start("cus_a", "pro")
        ended = billing.subscriptions.cancel("cus_a", immediate=True)
        assert ended.invoice is not None
        final = billing.invoices.get("cus_a", ended.invoice.invoice_id)
        assert final.number == "ACME2026-000001"
        assert final.due_at == clock.now + timedelta(days=14)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BILLING_INVOICE_PREFIX", "in"),
        ("BILLING_INVOICE_PREFIX", "INV-"),
        ("BILLING_INVOICE_PREFIX", "ABCDEFGHIJKLM"),
        ("BILLING_INVOICE_DUE_DAYS", "-1"),
        ("BILLING_INVOICE_DUE_DAYS", "soon"),
        ("BILLING_INVOICE_DUE_DAYS", "400"),
    ],
)
def test_a_bad_prefix_or_due_days_is_a_configuration_error(tmp_path, variable, value):
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({"NSELF_ROOT": str(tmp_path), variable: value})


def _invoice(customer_id: str, source: str, now: datetime) -> invoice_store.NewInvoice:
    from nself_billing.providers.local import new_id

    invoice = Invoice(
        invoice_id=new_id("in", 16),
        customer_id=customer_id,
        subscription_id=None,
        kind="subscription",
        status=InvoiceStatus.OPEN.value,
        currency="usd",
        total=Decimal("1.00"),
        period_start=now,
        period_end=now,
        created_at=now,
    )
    return invoice_store.NewInvoice(invoice, source)


def test_a_number_taken_by_a_transaction_that_rolls_back_is_given_again(billing, clock):
    billing.customers.create(email="a@example.com", name="A", customer_id="cus_a")
    terms = InvoiceTerms("INV", 30)
    db = billing.context.db
    with pytest.raises(RuntimeError), db.write() as conn:
        invoice_store.add(conn, _invoice("cus_a", "x:1", clock.now), now=clock.now, terms=terms)
        raise RuntimeError("the rest of the use case failed")
    with db.write() as conn:
        invoice_store.add(conn, _invoice("cus_a", "x:2", clock.now), now=clock.now, terms=terms)
        # an invoice already made (same source) takes no number
        invoice_store.add(conn, _invoice("cus_a", "x:2", clock.now), now=clock.now, terms=terms)
    assert numbers(billing) == ["INV-000001"]
    with db.read() as conn:
        assert conn.execute(select(invoice_counters.c.last_number)).scalar_one() == 1


def test_each_prefix_is_its_own_sequence(billing, clock):
    billing.customers.create(email="a@example.com", name="A", customer_id="cus_a")
    with billing.context.db.write() as conn:
        for n, prefix in enumerate(["INV", "INV", "ACME", "INV"]):
            new = _invoice("cus_a", f"x:{n}", clock.now)
            invoice_store.add(conn, new, now=clock.now, terms=InvoiceTerms(prefix, 30))
    assert numbers(billing) == ["ACME-000001", "INV-000001", "INV-000002", "INV-000003"]


@pytest.mark.slow
def test_concurrent_finalization_numbers_one_to_n_without_gaps(env, clock):
    """Upgrades (each closes an ended period, then invoices its prorated difference) in four
    threads, each with its own connections, while a fifth runs the billing cycle over the
    same subscriptions: every invoice has one number, and the numbers are 1..N."""
    customers = [f"cus_{n:02d}" for n in range(16)]
    with Billing.from_env(env, clock=clock) as setup:
        for customer in customers:
            setup.customers.create(email=f"{customer}@example.com", customer_id=customer)
            setup.subscriptions.start(customer, "starter")
    clock.advance(days=34)  # every first period has ended
    barrier = threading.Barrier(5)
    errors: list[BaseException] = []

    def upgrade(mine: list[str]) -> None:
        with Billing.from_env(env, clock=clock) as billing:
            barrier.wait()
            for customer in mine:
                for _attempt in range(20):
                    try:
                        billing.subscriptions.upgrade(customer, "pro")
                        break
                    except Conflict:  # the cycle moved the subscription meanwhile
                        continue

    def cycle() -> None:
        with Billing.from_env(env, clock=clock) as billing:
            barrier.wait()
            billing.cycle.run(batch_size=3)

    def guarded(target, *args) -> None:  # type: ignore[no-untyped-def]
        try:
            target(*args)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [
        threading.Thread(target=guarded, args=(upgrade, customers[n::4])) for n in range(4)
    ] + [threading.Thread(target=guarded, args=(cycle,))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    with Billing.from_env(env, clock=clock) as billing:
        with billing.context.db.read() as conn:
            rows = conn.execute(select(invoices.c.number, invoices.c.kind)).all()
        kinds = sorted(kind for _, kind in rows)
        # one closed period and one prorated upgrade per customer
        assert kinds == ["proration"] * 16 + ["subscription"] * 16
        assert sorted(number for number, _ in rows) == [f"INV-{n:06d}" for n in range(1, 33)]
        for customer in customers:
            assert billing.subscriptions.current(customer).plan_name == "pro"


def test_an_invoice_can_be_named_by_its_number(billing, clock, cli):
    for customer in ("cus_a", "cus_b"):
        billing.customers.create(email=f"{customer}@example.com", customer_id=customer)
        billing.subscriptions.start(customer, "starter")
    clock.advance(days=3)
    billing.subscriptions.upgrade("cus_a", "pro")  # INV-000001
    billing.subscriptions.upgrade("cus_b", "pro")  # INV-000002
    [mine] = billing.invoices.list("cus_a")
    assert billing.invoices.get("cus_a", "INV-000001").invoice_id == mine.invoice_id
    billing.payment_methods.add("cus_a", brand="visa", last4="4242", expiry="12/2030")
    paid = billing.invoices.pay("cus_a", "INV-000001")
    assert (paid.already_paid, paid.invoice.invoice_id, paid.invoice.status) == (
        False,
        mine.invoice_id,
        "paid",
    )
    assert billing.invoices.pay("cus_a", mine.invoice_id).already_paid is True
    with pytest.raises(NotFound):
        billing.invoices.get("cus_a", "INV-000002")  # the other customer's
    shown = cli("tenant", "billing", "--customer", "cus_a", "invoice", "show", "INV-000001")
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == f"Invoice: {mine.invoice_id} (number INV-000001)"


def test_exports_carry_the_number_and_the_due_date(billing, clock, cli, tmp_path):
    import csv
    import json

    billing.customers.create(email="a@example.com", customer_id="cus_a")
    billing.subscriptions.start("cus_a", "starter")
    clock.advance(days=3)
    billing.subscriptions.upgrade("cus_a", "pro")
    base = ("tenant", "billing", "--customer", "cus_a", "export", "invoices")
    as_json, as_csv = tmp_path / "i.json", tmp_path / "i.csv"
    assert cli(*base, "--format=json", f"--output={as_json}").exit_code == 0
    assert cli(*base, "--format=csv", f"--output={as_csv}").exit_code == 0
    [exported] = json.loads(as_json.read_text())
    assert exported["number"] == "INV-000001" and exported["due_at"].startswith("20")
    with as_csv.open() as stream:
        [row] = csv.DictReader(stream)
    assert row["number"] == "INV-000001" and row["due_at"].startswith("20")

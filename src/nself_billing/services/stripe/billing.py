"""The billing use cases on Stripe: Stripe is the truth, our tables its mirror.

Each use case calls Stripe first (with an idempotency key derived from the operation), then
refreshes the mirror in one transaction. Reads also refresh the mirror, so objects created in the
Stripe Dashboard are seen. The shared commands (customer, subscription, invoice, payment) call
these through the Stripe engines (``services/stripe/engines.py``), chosen once in bootstrap.py
(see docs/STRIPE.md, "Engines").
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ...domain.customers import Customer
from ...domain.plans import EnforcementMode, Plan, Quota
from ...domain.subscriptions import trial_of
from ...errors import BillingError, ConfigError, Conflict, InvalidInput, NotFound, ProviderError
from ...providers.port import CatalogEntry as CatalogEntry  # what plan_sync() returns
from ...providers.port import (
    CatalogPlan,
    ProviderCustomer,
    RemoteBilling,
    RemoteInvoice,
    RemotePaymentMethod,
    RemoteSubscription,
)
from ...settings import DEFAULT_WEBHOOK_URL
from ...store import catalog as catalog_store
from ...store import customers as customer_store
from ...store import outbox as outbox_store
from ...store import provider_operations as operations
from ...store import stripe_mirror as mirror
from ...store import webhook_events as received
from ..context import Context
from .usage_outbox import OutboxService
from .webhook_events import TEST_EVENT_PREFIX

WEBHOOK_PATH = "/api/webhooks/stripe"


@dataclass(frozen=True)
class WebhookTestResult:
    url: str
    event_id: str
    event_type: str
    status: int
    body: str


class StripeBillingService:
    """``outbox`` sends a customer's pending usage before an immediate cancellation."""

    def __init__(self, ctx: Context, *, outbox: OutboxService) -> None:
        self._ctx = ctx
        self._outbox = outbox

    @property
    def remote(self) -> RemoteBilling:
        provider = self._ctx.provider
        if not isinstance(provider, RemoteBilling):
            raise ConfigError(
                "This needs the Stripe provider (set STRIPE_SECRET_KEY or BILLING_PROVIDER=stripe)"
            )
        return provider

    @property
    def enabled(self) -> bool:
        return isinstance(self._ctx.provider, RemoteBilling)

    @contextmanager
    def _operation(self, operation: str, target: str) -> Iterator[str]:
        """The idempotency key of one write, journaled in ``billing_provider_operations``.

        A re-run after a crash, or after an answer that left the outcome unknown (network,
        409, 429, 5xx), reuses the key, so Stripe replays its first answer instead of acting
        twice; once the outcome is known (success or a definite refusal such as a declined
        card) the journal entry is closed, and asking again later (cancel, reactivate,
        cancel) is a new request."""
        with self._ctx.db.write() as conn:
            key = operations.open_operation(conn, operation, target, now=self._ctx.clock())
        try:
            yield key
        except ProviderError as error:
            if not _outcome_unknown(error):
                self._close(key)
            raise
        except BillingError:
            self._close(key)
            raise
        self._close(key)

    def _close(self, key: str) -> None:
        with self._ctx.db.write() as conn:
            operations.close_operation(conn, key, now=self._ctx.clock())

    # --- customers -------------------------------------------------------------------------

    def customer(self, customer_id: str) -> ProviderCustomer:
        found = self.remote.retrieve_customer(customer_id)
        with self._ctx.db.write() as conn:
            mirror.upsert_customer(
                conn,
                found.customer_id,
                email=found.email,
                name=found.name,
                phone=found.phone,
                now=self._ctx.clock(),
            )
        return found

    def create_customer(
        self, *, email: str | None, name: str | None, phone: str | None, project: str | None
    ) -> Customer:
        """Create the customer in Stripe, then its mirror row, under one journaled key: a
        re-run after a failure anywhere in between replays Stripe's answer (the same
        customer) and adopts the row if it was written. Keyed by what is asked, so two
        tenants sharing an email, or a corrected name, are separate customers at once."""
        target = _digest([email, name, phone, project])
        with self._operation("customer-create", target) as key:
            made = self._ctx.provider.create_customer(
                email=email, name=name, phone=phone, project_name=project, idempotency_key=key
            )
            now = self._ctx.clock()
            with self._ctx.db.write() as conn:
                existing = customer_store.get(conn, made.customer_id)
                if existing is not None:
                    return existing
                customer = Customer(made.customer_id, email, name, phone, project, None)
                customer_store.add(conn, customer, now=now)
        return replace(customer, created_at=now)

    def portal_url(self, customer_id: str) -> str:
        return self.remote.portal_url(customer_id, return_url=self._ctx.settings.base_url)

    # --- subscriptions ---------------------------------------------------------------------

    def _mirror_subscription(
        self, sub: RemoteSubscription, scheduled_plan: str | None = None
    ) -> RemoteSubscription:
        now = self._ctx.clock()
        with self._ctx.db.write() as conn:
            # the ordering state first, as a webhook delivery takes it: the same lock order
            # keeps a read and a concurrent delivery of the same object from deadlocking
            received.stamp_object(
                conn, object_id=sub.subscription_id, object_type="subscription", at=now
            )
            mirror.upsert_subscription(conn, sub, provider_time=now, now=now)
            if scheduled_plan is not None:
                mirror.set_scheduled_plan(conn, sub.subscription_id, scheduled_plan)
        return sub

    def subscriptions(self, customer_id: str) -> list[RemoteSubscription]:
        found = self.remote.list_subscriptions(customer_id)
        for sub in found:
            self._mirror_subscription(sub)
        return found

    def current_subscription(self, customer_id: str) -> RemoteSubscription:
        live = [
            s
            for s in self.subscriptions(customer_id)
            if s.status in ("active", "trialing", "past_due", "unpaid", "incomplete")
        ]
        if not live:
            raise NotFound("No active subscription")
        return live[0]

    def start(
        self, customer_id: str, plan_name: str, *, interval: str = "month", trial_days: int = 0
    ) -> RemoteSubscription:
        """Subscribe the customer on Stripe (the plan's Price by lookup key, plus its metered
        overage Prices on a monthly plan) and mirror the subscription."""
        self._plan(plan_name)
        remote = self.remote
        with self._operation("subscribe", f"{customer_id}:{plan_name}:{interval}") as key:
            subscription_id = self._ctx.provider.create_subscription(
                customer_id=customer_id,
                plan_name=plan_name,
                interval=interval,
                # the local engine's trial: its end at 00:00 UTC, then the anniversary cycle
                trial=trial_of(self._ctx.clock(), trial_days, interval),
                idempotency_key=key,
            )
        # the latest invoice tells where the customer pays when the first payment needs them
        return self._mirror_subscription(
            remote.retrieve_subscription(subscription_id, with_invoice=True)
        )

    def payment_url(self, customer_id: str) -> str | None:
        """Where the customer pays the first invoice of a subscription that waits for it
        (status ``incomplete``: the card asked for authentication, or there is none)."""
        live = [s for s in self.remote.list_subscriptions(customer_id) if s.status == "incomplete"]
        if not live:
            return None
        return self.remote.retrieve_subscription(
            live[0].subscription_id, with_invoice=True
        ).payment_url

    def upgrade(self, customer_id: str, plan_name: str) -> RemoteSubscription:
        return self._change_plan(customer_id, plan_name, downgrade=False)

    def downgrade(self, customer_id: str, plan_name: str) -> RemoteSubscription:
        """Scheduled for the period's end (Stripe's subscription schedule)."""
        return self._change_plan(customer_id, plan_name, downgrade=True)

    def _change_plan(
        self, customer_id: str, plan_name: str, *, downgrade: bool
    ) -> RemoteSubscription:
        """One journaled plan change of the current subscription, mirrored: an upgrade at once,
        a downgrade scheduled (its plan recorded as the scheduled one)."""
        sub = self.current_subscription(customer_id)
        self._plan(plan_name)
        operation = "downgrade" if downgrade else "upgrade"
        send = self.remote.schedule_downgrade if downgrade else self.remote.upgrade_subscription
        with self._operation(operation, f"{sub.subscription_id}:{plan_name}") as key:
            changed = send(
                sub.subscription_id, plan_name=plan_name, interval=sub.interval, idempotency_key=key
            )
        return self._mirror_subscription(changed, scheduled_plan=plan_name if downgrade else None)

    def cancel(self, customer_id: str, *, immediate: bool = False) -> RemoteSubscription:
        sub = self.current_subscription(customer_id)
        if immediate:
            self._send_pending_usage(customer_id)
        mode = "now" if immediate else "period-end"
        with self._operation(f"cancel-{mode}", sub.subscription_id) as key:
            changed = self.remote.cancel_subscription(
                sub.subscription_id, immediate=immediate, idempotency_key=key
            )
        return self._mirror_subscription(changed)

    def reactivate(self, customer_id: str) -> RemoteSubscription:
        sub = self.current_subscription(customer_id)
        if not sub.cancel_at_period_end:
            raise Conflict("The subscription is not scheduled for cancellation")
        with self._operation("reactivate", sub.subscription_id) as key:
            changed = self.remote.reactivate_subscription(
                sub.subscription_id,
                idempotency_key=key,
                clear_cancel_at=sub.cancel_at is not None,
            )
        return self._mirror_subscription(changed)

    def _send_pending_usage(self, customer_id: str) -> None:
        """Before an immediate cancellation: Stripe bills on the final invoice only the usage
        its meters hold, so the customer's pending events go first. A failure stops the
        cancellation (nothing is cancelled with usage left behind)."""
        result = self._outbox.drain(customer_id=customer_id, max_retries=2)
        with self._ctx.db.read() as conn:
            left = outbox_store.pending_for(conn, customer_id)
        if result.stopped_by or left:
            reason = result.stopped_by or f"{left} events still pending"
            raise ProviderError(
                "Stripe API error: the customer's pending usage could not be sent, so the "
                f"subscription was not cancelled ({reason})"
            )

    def _plan(self, plan_name: str) -> None:
        from ...errors import PlanNotFound

        with self._ctx.db.read() as conn:
            if catalog_store.get_plan(conn, plan_name) is None:
                raise PlanNotFound(plan_name)

    # --- invoices --------------------------------------------------------------------------

    def _mirror_invoices(self, found: list[RemoteInvoice]) -> None:
        now = self._ctx.clock()
        with self._ctx.db.write() as conn:
            for invoice in sorted(found, key=lambda i: i.invoice_id):
                received.stamp_object(
                    conn, object_id=invoice.invoice_id, object_type="invoice", at=now
                )
                mirror.upsert_invoice(conn, invoice, provider_time=None, now=now)

    def invoices(self, customer_id: str, *, limit: int = 10) -> list[RemoteInvoice]:
        found = self.remote.list_invoices(customer_id, limit=limit)
        self._mirror_invoices(found)
        return found

    def invoice(self, invoice_id: str) -> RemoteInvoice:
        found = self.remote.retrieve_invoice(invoice_id)
        self._mirror_invoices([found])
        return found

    def pay_invoice(self, invoice_id: str) -> RemoteInvoice:
        with self._operation("pay", invoice_id) as key:
            paid = self.remote.pay_invoice(invoice_id, idempotency_key=key)
        self._mirror_invoices([paid])
        return paid

    def download_invoice(self, invoice_id: str, directory: Path | None = None) -> Path:
        target_dir = directory or self._ctx.settings.export_dir
        if not invoice_id.replace("_", "").isalnum():
            raise InvalidInput(f"Invalid invoice id: {invoice_id}")
        body = self.remote.download_invoice_pdf(invoice_id)
        target_dir.mkdir(parents=True, exist_ok=True)
        path = target_dir / f"{invoice_id}.pdf"
        partial = path.with_suffix(".pdf.part")
        partial.write_bytes(body)
        partial.replace(path)
        return path

    # --- payment methods -------------------------------------------------------------------

    def payment_methods(self, customer_id: str) -> list[RemotePaymentMethod]:
        found = self.remote.list_payment_methods(customer_id)
        with self._ctx.db.write() as conn:
            mirror.replace_payment_methods(conn, customer_id, found, now=self._ctx.clock())
        return found

    def add_payment_method_url(self, customer_id: str) -> str:
        """A Billing Portal link that opens on the payment-method form: card numbers are typed
        into Stripe's page, never into our tool."""
        return self.remote.portal_url(
            customer_id, return_url=self._ctx.settings.base_url, flow="payment_method_update"
        )

    def remove_payment_method(self, customer_id: str, payment_method_id: str) -> None:
        with self._operation("pm-detach", f"{customer_id}:{payment_method_id}") as key:
            self.remote.detach_payment_method(customer_id, payment_method_id, idempotency_key=key)
        with self._ctx.db.write() as conn:
            mirror.detach_payment_method(conn, payment_method_id, at=self._ctx.clock())

    def set_default_payment_method(self, customer_id: str, payment_method_id: str) -> None:
        with self._operation("pm-default", f"{customer_id}:{payment_method_id}") as key:
            self.remote.set_default_payment_method(
                customer_id, payment_method_id, idempotency_key=key
            )
        with self._ctx.db.write() as conn:
            mirror.set_default_payment_method(conn, customer_id, payment_method_id)

    # --- plan catalog ----------------------------------------------------------------------

    def plan_sync(self) -> list[CatalogEntry]:
        """Products, Prices and Meters for every plan of our catalog, found or created; the
        Stripe ids are stored on ``billing_plans``. Safe to run again."""
        with self._ctx.db.read() as conn:
            plans = catalog_store.list_plans(conn)
            currencies = catalog_store.plan_currencies(conn)
        wanted = [
            CatalogPlan(
                name=p.name,
                description=p.description,
                # the catalog's currency (zero- and three-decimal ones converted by the adapter)
                currency=str(currencies.get(p.name) or "usd").lower(),
                price_monthly=p.price_monthly,
                price_yearly=p.price_yearly,
                overage={q.service: q.overage_price for q in billable},
                included={q.service: q.limit for q in billable if q.limit is not None},
            )
            for p in plans
            for billable in [_billed_overage(p)]
        ]
        entries = self.remote.sync_catalog(wanted)
        with self._ctx.db.write() as conn:
            for entry in entries:
                catalog_store.set_stripe_ids(
                    conn,
                    entry.plan_name,
                    product_id=entry.product_id,
                    price_monthly_id=entry.price_monthly_id,
                    price_yearly_id=entry.price_yearly_id,
                )
        return entries

    def plan_sync_if_changed(self) -> list[CatalogEntry] | None:
        """``plan_sync`` unless this catalog was already synced to this Stripe account (a
        marker in the cache directory keeps a digest of the plans, the API base and the key),
        so ``billing_init`` does not ask Stripe on every start. None when nothing was done."""
        import hashlib

        settings = self._ctx.settings
        with self._ctx.db.read() as conn:
            plans = catalog_store.list_plans(conn)
            unsynced = catalog_store.has_unsynced_plan(conn)
        catalog = [
            (
                p.name,
                str(p.price_monthly),
                str(p.price_yearly),
                sorted(
                    (q.service, str(q.overage_price), str(q.limit), q.mode.value) for q in p.quotas
                ),
            )
            for p in plans
        ]
        key = settings.stripe_secret_key.reveal() if settings.stripe_secret_key else ""
        digest = hashlib.sha256(
            json.dumps([catalog, settings.stripe_api_base or "", key]).encode()
        ).hexdigest()
        marker = settings.cache_dir / "plans.stripe-synced"
        try:
            synced = marker.read_text().strip() == digest
        except OSError:
            synced = False
        if synced and not unsynced:
            return None
        entries = self.plan_sync()
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(digest)
        except OSError:
            pass  # only an optimisation: the next start syncs again
        return entries

    def price_id(self, plan_name: str, interval: str = "month") -> str | None:
        """The Stripe price id stored by the last ``plan sync`` (None before it ran)."""
        if interval not in ("month", "year"):
            raise InvalidInput(f"Invalid interval: {interval} (expected month or year)")
        with self._ctx.db.read() as conn:
            found, price = catalog_store.stripe_price_id(conn, plan_name, yearly=interval == "year")
        if not found:
            from ...errors import PlanNotFound

            raise PlanNotFound(plan_name)
        return price

    # --- webhooks --------------------------------------------------------------------------

    def webhook_endpoints(self) -> list[dict[str, Any]]:
        return self.remote.list_webhook_endpoints()

    def webhook_events(self, limit: int = 10) -> list[dict[str, Any]]:
        if limit < 1 or limit > 100:
            raise InvalidInput(f"Invalid limit: {limit} (expected 1 to 100)")
        return self.remote.list_events(limit=limit)

    def public_webhook_url(self) -> str | None:
        base = self._ctx.settings.base_url
        return base.rstrip("/") + WEBHOOK_PATH if base else None

    def webhook_test(
        self, event_type: str = "customer.updated", *, url: str | None = None, timeout: float = 10.0
    ) -> WebhookTestResult:
        """POST a sample event signed with STRIPE_WEBHOOK_SECRET (by the SDK's signing helper)
        to our receiver and report its answer. Its id starts with ``evt_nself_test_``: the
        receiver verifies and stores it but applies nothing."""

        secret = self._ctx.settings.stripe_webhook_secret
        if secret is None:
            raise ConfigError("STRIPE_WEBHOOK_SECRET is not set: cannot sign a test event")
        target = url or DEFAULT_WEBHOOK_URL
        if not target.startswith(("http://", "https://")):
            raise InvalidInput(f"Invalid webhook URL: {target}")
        event_id = TEST_EVENT_PREFIX + secrets.token_hex(8)
        payload = json.dumps(
            {
                "id": event_id,
                "object": "event",
                "type": event_type,
                "livemode": False,
                "created": int(time.time()),
                "api_version": self._ctx.settings.stripe_api_version,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "data": {"object": {"id": "nself_test_object", "object": event_type.split(".")[0]}},
            }
        )
        sign = self._ctx.sign_webhook
        if sign is None:
            raise ConfigError("No webhook signer is configured: cannot sign a test event")
        header = sign(payload, secret.reveal())
        request = urllib.request.Request(
            target,
            data=payload.encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Stripe-Signature": header},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, body = response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read().decode(errors="replace")
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ConfigError(f"Webhook receiver not reachable at {target}: {reason}") from None
        return WebhookTestResult(target, event_id, event_type, status, body.strip()[:500])


def _billed_overage(plan: Plan) -> list[Quota]:
    """The quotas whose usage beyond the limit is billed: soft limits with a limit and a
    price (hard limits never bill overage; without a limit there is no overage)."""
    return [
        q
        for q in plan.quotas
        if q.mode is EnforcementMode.SOFT
        and q.limit is not None
        and q.overage_price
        and q.overage_price > 0
    ]


def _digest(values: list[Any]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(values).encode()).hexdigest()[:24]


def _outcome_unknown(error: ProviderError) -> bool:
    """Did Stripe perhaps act? Network failures, 409 (a request with this key in flight),
    429 and 5xx leave it open; any other answer is definite."""
    status = error.http_status
    return error.code == "network" or status is None or status in (409, 429) or status >= 500

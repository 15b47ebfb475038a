"""Subscription use cases on the local engine, and the checks both engines share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..domain.invoicing import Invoice, InvoiceKind, InvoiceStatus, plan_price, upgrade_line
from ..domain.money import format_money
from ..domain.periods import start_of_day
from ..domain.plans import Plan
from ..domain.proration import upgrade_charge
from ..domain.subscriptions import (
    INTERVAL_MONTHS,
    Subscription,
    SubscriptionStatus,
    first_period,
    trial_of,
)
from ..errors import Conflict, InvalidInput, NotFound, PlanNotFound
from ..ids import new_id
from ..store import catalog as catalog_store
from ..store import customers as customer_store
from ..store import invoices as invoice_store
from ..store import subscriptions as store
from ..store.db import Connection
from . import events
from .context import Context
from .cycle import close_final, invoice_closings
from .engines import CycleEngine

NO_SUBSCRIPTION = "No active subscription"


@dataclass(frozen=True)
class PlanChange:
    """The outcome of an upgrade, a downgrade, a cancellation or a reactivation."""

    subscription: Subscription
    previous_plan: str
    #: the invoice made at once (an upgrade's prorated difference, an immediate
    #: cancellation's final invoice), if any
    invoice: Invoice | None = None
    #: the remote provider (``stripe``) that made the change, and invoices and charges any
    #: prorated difference itself; None with the local engine
    provider: str | None = None
    #: invoices of periods that had already ended, closed (as ``cycle`` would) before the
    #: change so that it applies to the period it is made in
    closed: tuple[Invoice, ...] = ()


def _closed_note(closed: tuple[Invoice, ...]) -> str:
    if not closed:
        return ""
    billed = ", ".join(f"{i.invoice_id} {format_money(i.total, i.currency)}" for i in closed)
    return f" (the period that ended was closed and invoiced first: {billed})"


def _rank(plan: Plan) -> tuple[int, Decimal]:
    """Plans are ordered by tier, then price (a custom price ranks above any set price)."""
    return plan.rank


def check_start(interval: str, trial_days: int) -> None:
    if interval not in INTERVAL_MONTHS:
        raise InvalidInput(f"Invalid interval: {interval} (expected month or year)")
    if trial_days < 0:
        raise InvalidInput("Trial days must be zero or more")


def plans_of(conn: Connection, subscription: Subscription, plan_name: str) -> tuple[Plan, Plan]:
    """The subscription's plan and the target plan."""
    target = catalog_store.get_plan(conn, plan_name)
    if target is None:
        raise PlanNotFound(plan_name)
    current = catalog_store.get_plan(conn, subscription.plan_name)
    if current is None:
        raise PlanNotFound(subscription.plan_name)
    return current, target


def check_upgrade(current: Plan, target: Plan) -> None:
    if target.name == current.name:
        raise InvalidInput(f"Already on the {current.name} plan")
    if _rank(target) <= _rank(current):
        raise InvalidInput(
            f"Cannot upgrade from {current.name} to {target.name}: not a "
            f"higher plan (use: subscription downgrade {target.name})"
        )


def check_downgrade(subscription: Subscription, current: Plan, target: Plan) -> None:
    if target.name == current.name:
        raise InvalidInput(f"Already on the {current.name} plan")
    if _rank(target) >= _rank(current):
        raise InvalidInput(
            f"Cannot downgrade from {current.name} to {target.name}: not a "
            f"lower plan (use: subscription upgrade {target.name})"
        )
    if subscription.cancel_at_period_end:
        raise Conflict(
            "The subscription is scheduled to cancel at period end (reactivate it first)"
        )


class SubscriptionService:
    """Subscriptions on the local engine: our tables are the truth. ``cycle`` closes the
    periods that ended before a change (so the change applies to the period it is made in)."""

    def __init__(self, ctx: Context, *, cycle: CycleEngine) -> None:
        self._ctx = ctx
        self._cycle = cycle

    def current(self, customer_id: str) -> Subscription:
        """The live subscription."""
        with self._ctx.db.read(transaction=False) as conn:  # one statement
            subscription = store.current_for(conn, customer_id)
        if subscription is None:
            raise NotFound(NO_SUBSCRIPTION)
        return subscription

    def find_current(self, customer_id: str) -> Subscription | None:
        with self._ctx.db.read() as conn:
            return store.current_for(conn, customer_id)

    def start(
        self, customer_id: str, plan_name: str, *, interval: str = "month", trial_days: int = 0
    ) -> Subscription:
        """Start a subscription now; the anniversary of this moment anchors every period."""
        check_start(interval, trial_days)
        with self._ctx.db.read() as conn:
            if catalog_store.get_plan(conn, plan_name) is None:
                raise PlanNotFound(plan_name)
            if not customer_store.exists(conn, customer_id):
                raise NotFound(f"Customer not found: {customer_id}")
            if store.current_for(conn, customer_id) is not None:
                raise Conflict(f"Customer {customer_id} already has an active subscription")
        now = self._ctx.clock()
        # periods start at 00:00 UTC so that per-day usage rollups split exactly between them
        anchor = start_of_day(now)
        trial = trial_of(now, trial_days, interval)
        trial_end = trial.end if trial else None
        subscription_id = self._ctx.provider.create_subscription(
            customer_id=customer_id,
            plan_name=plan_name,
            interval=interval,
            trial=trial,
            idempotency_key=f"subscription-start:{customer_id}:{plan_name}",
        )
        subscription = Subscription(
            subscription_id=subscription_id,
            customer_id=customer_id,
            plan_name=plan_name,
            status=SubscriptionStatus.TRIALING if trial_end else SubscriptionStatus.ACTIVE,
            period=first_period(anchor, interval),
            cancel_at_period_end=False,
            interval=interval,
            anchor_at=anchor,
            trial_end=trial_end,
        )
        with self._ctx.db.write() as conn:
            if store.current_for(conn, customer_id) is not None:
                raise Conflict(f"Customer {customer_id} already has an active subscription")
            store.add(conn, subscription, now=now)
            events.subscription_changed(self._ctx, conn, "subscription.created", subscription)
        return subscription

    # -- changes to the current subscription ------------------------------------------------

    def _catch_up(self, customer_id: str) -> tuple[Invoice, ...]:
        """Close the current subscription's ended periods first, so that a change applies to
        the period it is made in (and a scheduled cancellation that took effect is final).
        Returns the invoices this made, which the change reports."""
        subscription = self.find_current(customer_id)
        if subscription is None or subscription.period.end > self._ctx.clock():
            return ()
        return tuple(self._cycle.run(subscription_id=subscription.subscription_id).invoices)

    def _current_after(self, customer_id: str, closed: tuple[Invoice, ...]) -> Subscription:
        """The current subscription after ``_catch_up``; if closing its period ended it (a
        cancellation at period end), the error names the invoice that closing made."""
        try:
            return self.current(customer_id)
        except NotFound as error:
            if not closed:
                raise
            raise NotFound(error.message + _closed_note(closed)) from None

    def _locked(self, conn: Connection, customer_id: str, expected: Subscription) -> Subscription:
        """The current subscription, locked, unchanged since it was checked."""
        subscription = store.current_for(conn, customer_id, for_update=True)
        if subscription is None:
            raise NotFound(NO_SUBSCRIPTION)
        if (subscription.subscription_id, subscription.plan_name, subscription.period) != (
            expected.subscription_id,
            expected.plan_name,
            expected.period,
        ):
            raise Conflict("The subscription changed meanwhile; run the command again")
        return subscription

    def _write_change(
        self, conn: Connection, subscription: Subscription, *, now: datetime, **values: Any
    ) -> Subscription:
        """Change the (locked) subscription's columns; the subscription as it is now."""
        store.change(conn, subscription.subscription_id, now=now, **values)
        updated = store.current_for(conn, subscription.customer_id)
        assert updated is not None
        return updated

    def upgrade(self, customer_id: str, plan_name: str) -> PlanChange:
        """Switch to a higher plan now: its quotas apply at once, and the prorated price
        difference for the rest of the period is invoiced at once."""
        subscription, current, target, closed = self._change(customer_id, plan_name)
        check_upgrade(current, target)
        now = self._ctx.clock()
        with self._ctx.db.write() as conn:
            subscription = self._locked(conn, customer_id, subscription)
            invoice = self._upgrade_invoice(subscription, current, target, now)
            if invoice is not None:
                invoice_store.add(conn, invoice, now=now, terms=self._ctx.invoice_terms)
            updated = self._write_change(
                conn, subscription, now=now, plan_name=target.name, scheduled_plan_name=None
            )
            events.subscription_changed(
                self._ctx,
                conn,
                "subscription.updated",
                updated,
                change="upgrade",
                previous_plan=current.name,
                invoices=[invoice.invoice] if invoice else [],
            )
        return PlanChange(
            updated, current.name, invoice.invoice if invoice else None, closed=closed
        )

    def _change(
        self, customer_id: str, plan_name: str
    ) -> tuple[Subscription, Plan, Plan, tuple[Invoice, ...]]:
        """The current subscription (its ended periods closed first), its plan, the target
        plan, and the invoices closing those periods made."""
        closed = self._catch_up(customer_id)
        subscription = self._current_after(customer_id, closed)
        with self._ctx.db.read() as conn:
            current, target = plans_of(conn, subscription, plan_name)
        return subscription, current, target, closed

    def _upgrade_invoice(
        self, subscription: Subscription, current: Plan, target: Plan, now: datetime
    ) -> invoice_store.NewInvoice | None:
        old_price = plan_price(current, subscription.interval)
        new_price = plan_price(target, subscription.interval)
        in_trial = subscription.trial_end is not None and subscription.trial_end > now
        if old_price is None or new_price is None or in_trial:
            return None  # custom prices are billed outside the tool; trials are free
        amount = upgrade_charge(old_price, new_price, subscription.period, now)
        if amount <= 0:
            return None
        line = upgrade_line(current, target, amount, subscription.period, now)
        invoice = Invoice(
            invoice_id=new_id("in", 16),
            customer_id=subscription.customer_id,
            subscription_id=subscription.subscription_id,
            kind=InvoiceKind.PRORATION,
            status=InvoiceStatus.OPEN,
            currency="usd",
            total=amount,
            period_start=now,
            period_end=subscription.period.end,
            created_at=now,
            lines=(line,),
        )
        return invoice_store.NewInvoice(
            invoice, f"upgrade:{subscription.subscription_id}:{target.name}:{now.isoformat()}"
        )

    def downgrade(self, customer_id: str, plan_name: str) -> PlanChange:
        """Schedule a lower plan for the period end: no charge, the current plan (and its
        quotas) stay until then."""
        subscription, current, target, closed = self._change(customer_id, plan_name)
        check_downgrade(subscription, current, target)
        now = self._ctx.clock()
        with self._ctx.db.write() as conn:
            subscription = self._locked(conn, customer_id, subscription)
            updated = self._write_change(
                conn, subscription, now=now, scheduled_plan_name=target.name
            )
            events.subscription_changed(
                self._ctx,
                conn,
                "subscription.updated",
                updated,
                change="downgrade_scheduled",
                scheduled_plan=target.name,
            )
        return PlanChange(updated, current.name, closed=closed)

    def cancel(self, customer_id: str, *, immediate: bool = False) -> PlanChange:
        """Cancel at the period end (reactivatable), or now: final, with a last invoice for
        the period's usage so far (and its price: there are no refunds)."""
        closed = self._catch_up(customer_id)
        subscription = self._current_after(customer_id, closed)
        now = self._ctx.clock()
        with self._ctx.db.write() as conn:
            subscription = self._locked(conn, customer_id, subscription)
            if not immediate:
                updated = subscription
                if not subscription.cancel_at_period_end:
                    updated = self._write_change(
                        conn, subscription, now=now, cancel_at_period_end=True, canceled_at=now
                    )
                events.subscription_changed(
                    self._ctx, conn, "subscription.cancelled", updated, immediate=False
                )
                return PlanChange(updated, subscription.plan_name, closed=closed)
            made, _ = invoice_closings(
                conn, [close_final(subscription, now)], now, terms=self._ctx.invoice_terms
            )
            store.change(
                conn,
                subscription.subscription_id,
                now=now,
                status=SubscriptionStatus.CANCELED,
                cancel_at_period_end=False,
                scheduled_plan_name=None,
                canceled_at=now,
                ended_at=now,
            )
            events.subscription_changed(
                self._ctx,
                conn,
                "subscription.cancelled",
                subscription,
                status=SubscriptionStatus.CANCELED,
                immediate=True,
                invoices=list(made.values()),
            )
        ended = Subscription(
            subscription_id=subscription.subscription_id,
            customer_id=subscription.customer_id,
            plan_name=subscription.plan_name,
            status=SubscriptionStatus.CANCELED,
            period=subscription.period,
            cancel_at_period_end=False,
            interval=subscription.interval,
            anchor_at=subscription.anchor_at,
            trial_end=subscription.trial_end,
            canceled_at=now,
            period_plan_name=subscription.period_plan_name,
        )
        return PlanChange(
            ended, subscription.plan_name, made.get(subscription.subscription_id), closed=closed
        )

    def reactivate(self, customer_id: str) -> PlanChange:
        """Drop a cancellation scheduled for the period end."""
        closed = self._catch_up(customer_id)
        subscription = self.find_current(customer_id)
        if subscription is None:
            raise NotFound(
                "No subscription found to reactivate (an immediate cancellation is final)"
                + _closed_note(closed)
            )
        if not subscription.cancel_at_period_end:
            raise Conflict("Subscription is not scheduled for cancellation")
        now = self._ctx.clock()
        with self._ctx.db.write() as conn:
            subscription = self._locked(conn, customer_id, subscription)
            updated = self._write_change(
                conn, subscription, now=now, cancel_at_period_end=False, canceled_at=None
            )
            events.subscription_changed(self._ctx, conn, "subscription.reactivated", updated)
        return PlanChange(updated, subscription.plan_name, closed=closed)

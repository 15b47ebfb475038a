"""Closing billing periods: rate, invoice, apply scheduled changes, open the next period.

Safe to run any number of times, from cron: a period's invoice has a unique source key
(``close:<subscription>:<period start>``), and closing it moves the subscription to its next
period in the same transaction, so a second run finds nothing due. Subscriptions are closed in
batches, each one transaction with set-based reads (usage per billing window, rated usage,
quota overrides) and bulk writes; a crash loses at most the batch in flight, which the next run
closes. Should a batch fail, its subscriptions are retried one per transaction so that one bad
row (say, a plan deleted by hand) does not hold up the others; it is reported.

Usage that arrives for a period already closed is billed on the next invoice as an adjustment:
each closed period keeps, per service, the usage it billed and what that cost
(``billing_rated_usage``), and the next close bills the difference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..domain.invoicing import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    LineItem,
    RatedUsage,
    adjustment_line,
    invoice_total,
    rate_period,
)
from ..domain.periods import Period, period_at
from ..domain.plans import Plan, Quota
from ..domain.seller import InvoiceTerms
from ..domain.services import SERVICE_NAMES
from ..domain.subscriptions import INTERVAL_MONTHS, Subscription, SubscriptionStatus
from ..errors import BillingError, PlanNotFound
from ..ids import new_id
from ..store import catalog as catalog_store
from ..store import cycle as store
from ..store import invoices as invoice_store
from ..store.db import Connection
from . import events
from .context import Context

#: subscriptions closed per transaction
BATCH_SIZE = 500
#: how long after a period's end usage reported late for it is still billed
LATE_USAGE_WINDOW = timedelta(days=62)
ZERO = Decimal(0)


@dataclass
class CycleResult:
    closed: int = 0
    invoice_ids: list[str] = field(default_factory=list)
    #: the invoices made, in the order of ``invoice_ids``
    invoices: list[Invoice] = field(default_factory=list)
    total: Decimal = ZERO
    downgraded: int = 0
    canceled: int = 0
    adjustments: int = 0
    #: (subscription id, error message) of subscriptions that could not be closed
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: set when the provider closes periods itself (Stripe): nothing was done here
    skipped_reason: str | None = None

    def merge(self, other: CycleResult) -> None:
        self.closed += other.closed
        self.invoice_ids += other.invoice_ids
        self.invoices += other.invoices
        self.total += other.total
        self.downgraded += other.downgraded
        self.canceled += other.canceled
        self.adjustments += other.adjustments
        self.failures += other.failures


@dataclass(frozen=True)
class Closing:
    """One subscription's period to close: normally the whole period at its end; for an
    immediate cancellation the period so far, on a final invoice."""

    subscription: Subscription
    period: Period
    usage_end_day: date
    kind: InvoiceKind
    source_key: str


def close_due(closing: Subscription) -> Closing:
    period = closing.period
    return Closing(
        closing,
        period,
        period.end_day,
        InvoiceKind.SUBSCRIPTION,
        f"close:{closing.subscription_id}:{period.start.isoformat()}",
    )


def close_final(subscription: Subscription, now: datetime) -> Closing:
    """The last invoice of an immediate cancellation: usage up to today (whole UTC days) and,
    as there are no refunds, the period's price."""
    return Closing(
        subscription,
        subscription.period,
        now.date() + timedelta(days=1),
        InvoiceKind.FINAL,
        f"final:{subscription.subscription_id}:{subscription.period.start.isoformat()}",
    )


def effective_quotas(plan: Plan, overrides: Mapping[str, Any] | None) -> dict[str, Quota]:
    return {
        service: store.apply_override(plan.quota_for(service), (overrides or {}).get(service))
        for service in SERVICE_NAMES
    }


def invoice_closings(
    conn: Connection, closings: Sequence[Closing], now: datetime, *, terms: InvoiceTerms
) -> tuple[dict[str, Invoice], int]:
    """Rate and invoice many closings in one transaction (set-based reads, bulk writes).
    Returns the invoices made, by subscription id, and the number of adjustment lines."""
    if not closings:
        return {}, 0
    plans = {plan.name: plan for plan in catalog_store.list_plans(conn)}
    subscriptions = [c.subscription for c in closings]
    customer_ids = [s.customer_id for s in subscriptions]
    overrides = store.overrides_for(conn, customer_ids)
    windows: dict[tuple[date, date], list[str]] = defaultdict(list)
    for c in closings:
        windows[(c.period.first_day, c.usage_end_day)].append(c.subscription.customer_id)
    since = min(c.period.start for c in closings) - LATE_USAGE_WINDOW
    earlier: dict[str, list[store.RatedRow]] = defaultdict(list)
    for row in store.rated_since(conn, [s.subscription_id for s in subscriptions], since):
        earlier[row.subscription_id].append(row)
    late_windows: dict[tuple[date, date], list[str]] = defaultdict(list)
    customer_of = {s.subscription_id: s.customer_id for s in subscriptions}
    for subscription_id, rows in earlier.items():
        for row in rows:
            window = (row.period_start.date(), row.period_end.date())
            late_windows[window].append(customer_of[subscription_id])
    usage = store.usage_totals(conn, windows)
    late_usage = store.usage_totals(conn, late_windows)

    invoices: list[invoice_store.NewInvoice] = []
    rated: list[store.RatedRow] = []
    adjustments = 0
    for c in closings:
        s = c.subscription
        quota_plan = plans.get(s.plan_name)
        base_plan = plans.get(s.period_plan_name or s.plan_name) or quota_plan
        if quota_plan is None or base_plan is None:
            raise PlanNotFound(s.plan_name)
        quotas = effective_quotas(quota_plan, overrides.get(s.customer_id))
        totals = usage.get((s.customer_id, c.period.first_day, c.usage_end_day), {})
        trial_end = s.trial_end
        if c.kind is InvoiceKind.FINAL and trial_end is not None and trial_end > now:
            trial_end = max(trial_end, c.period.end)  # canceled during the trial: nothing owed
        rating = rate_period(
            plan=base_plan,
            period=c.period,
            usage=totals,
            quotas=quotas,
            interval=s.interval,
            trial_end=trial_end,
        )
        lines: list[LineItem] = list(rating.lines)
        for row in sorted(
            earlier.get(s.subscription_id, []),
            key=lambda r: (
                r.period_start,
                SERVICE_NAMES.index(r.service) if r.service in SERVICE_NAMES else 99,
            ),
        ):
            if row.period_start >= c.period.start or row.service not in SERVICE_NAMES:
                continue
            if s.trial_end is not None and s.trial_end >= row.period_end:
                continue  # the whole period was a free trial
            key = (s.customer_id, row.period_start.date(), row.period_end.date())
            now_usage = late_usage.get(key, {}).get(row.service, ZERO)
            if now_usage == row.usage:
                continue
            row_plan = plans.get(row.plan_name) or quota_plan
            quota = effective_quotas(row_plan, overrides.get(s.customer_id))[row.service]
            line, updated = adjustment_line(
                RatedUsage(row.service, row.usage, row.amount),
                now_usage,
                quota,
                Period(row.period_start, row.period_end),
            )
            if line is not None:
                lines.append(line)
                adjustments += 1
            rated.append(
                store.RatedRow(
                    s.subscription_id,
                    row.period_start,
                    row.period_end,
                    row.service,
                    row.plan_name,
                    updated.usage,
                    updated.amount,
                )
            )
        total = invoice_total(lines)
        period_end = c.period.end if c.kind is InvoiceKind.SUBSCRIPTION else now
        invoice = Invoice(
            invoice_id=new_id("in", 16),
            customer_id=s.customer_id,
            subscription_id=s.subscription_id,
            kind=c.kind,
            status=InvoiceStatus.PAID if total == ZERO else InvoiceStatus.OPEN,
            currency="usd",
            total=total,
            period_start=c.period.start,
            period_end=period_end,
            created_at=now,
            paid_at=now if total == ZERO else None,
            lines=tuple(lines),
        )
        invoices.append(invoice_store.NewInvoice(invoice, c.source_key))
        rated += [
            store.RatedRow(
                s.subscription_id,
                c.period.start,
                period_end,
                r.service,
                quota_plan.name,
                r.usage,
                r.amount,
            )
            for r in rating.rated
        ]
    inserted = invoice_store.add_many(conn, invoices, now=now, terms=terms)
    made = {
        item.invoice.subscription_id or "": item.invoice
        for item in invoices
        if item.invoice.invoice_id in inserted
    }
    # a period invoiced before (its source key exists) is not rated again
    store.save_rated(
        conn,
        [r for r in rated if r.subscription_id in made],
        invoice_ids={k: v.invoice_id for k, v in made.items()},
        now=now,
    )
    return made, adjustments


def next_state(subscription: Subscription, now: datetime) -> dict[str, Any]:
    """The subscription after its period closed: canceled if so scheduled, otherwise on the
    scheduled plan (if any) in its next anniversary period."""
    s = subscription
    base = {
        "id": s.subscription_id,
        "start": s.period.start,
        "end": s.period.end,
        "plan": s.plan_name,
        "period_plan": s.period_plan_name or s.plan_name,
        "scheduled": s.scheduled_plan_name,
        "cancel": s.cancel_at_period_end,
        "canceled_at": s.canceled_at,
        "ended_at": None,
        "status": s.status,
    }
    if s.cancel_at_period_end:
        return base | {
            "status": SubscriptionStatus.CANCELED.value,
            "scheduled": None,
            "canceled_at": s.canceled_at or s.period.end,
            "ended_at": s.period.end,
        }
    anchor = s.anchor_at or s.period.start
    following = period_at(anchor, s.period.end, INTERVAL_MONTHS.get(s.interval, 1))
    if following.start != s.period.end:  # an operator's odd period: continue from its end
        following = Period(s.period.end, max(following.end, s.period.end + timedelta(days=1)))
    plan = s.scheduled_plan_name or s.plan_name
    status = s.status
    if status == SubscriptionStatus.TRIALING and (
        s.trial_end is None or s.trial_end <= following.start
    ):
        status = SubscriptionStatus.ACTIVE
    return base | {
        "start": following.start,
        "end": following.end,
        "plan": plan,
        "period_plan": plan,
        "scheduled": None,
        "status": status,
    }


class CycleService:
    """The local engine's period close (``CycleEngine``)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def run(
        self,
        *,
        now: datetime | None = None,
        batch_size: int = BATCH_SIZE,
        subscription_id: str | None = None,
    ) -> CycleResult:
        """Close every period that has ended by ``now`` (default: the clock), or only those
        of one subscription."""
        result = CycleResult()
        moment = now or self._ctx.clock()
        failed: set[str] = set()
        while True:
            try:
                with self._ctx.db.write() as conn:
                    due = store.due(
                        conn, moment, limit=batch_size, exclude=failed, only=subscription_id
                    )
                    if not due:
                        break
                    result.merge(self._close(conn, due, moment))
            except BillingError:
                # retry the batch one subscription per transaction, to isolate the bad one
                with self._ctx.db.read() as conn:
                    due = store.due(
                        conn, moment, limit=batch_size, exclude=failed, only=subscription_id
                    )
                progress = result.closed + len(result.failures)
                for subscription in due:
                    try:
                        with self._ctx.db.write() as conn:
                            again = store.due(
                                conn, moment, limit=1, only=subscription.subscription_id
                            )
                            if again:
                                result.merge(self._close(conn, again, moment))
                    except BillingError as error:
                        failed.add(subscription.subscription_id)
                        result.failures.append((subscription.subscription_id, error.message))
                        self._ctx.log.error(
                            "cycle: %s not closed: %s", subscription.subscription_id, error.message
                        )
                if result.closed + len(result.failures) == progress:
                    break  # the others are locked by a concurrent run: it closes them
        if subscription_id is None or result.closed:
            self._record_run(result, moment)
        return result

    def _record_run(self, result: CycleResult, moment: datetime) -> None:
        from ..store import notify as notify_store

        with self._ctx.db.write() as conn:
            notify_store.record_cycle_run(
                conn,
                now=moment,
                closed=result.closed,
                invoices=len(result.invoice_ids),
                total=result.total,
                failures=len(result.failures),
            )
            if not (result.closed or result.failures):
                return  # nothing was due: counted for the metrics, not an event
            events.record(
                self._ctx,
                conn,
                "cycle.completed",
                customer_id=None,
                data={
                    "closed": result.closed,
                    "invoices": len(result.invoice_ids),
                    "total": result.total,
                    "downgraded": result.downgraded,
                    "canceled": result.canceled,
                    "failures": len(result.failures),
                },
            )

    def _close(self, conn: Connection, due: Sequence[Subscription], now: datetime) -> CycleResult:
        made, adjustments = invoice_closings(
            conn, [close_due(s) for s in due], now, terms=self._ctx.invoice_terms
        )
        changes = [next_state(s, now) for s in due]
        store.save_subscriptions(conn, changes, now=now)
        events.invoices_made(self._ctx, conn, made.values())
        return CycleResult(
            closed=len(due),
            invoice_ids=[i.invoice_id for i in made.values()],
            invoices=list(made.values()),
            total=sum((i.total for i in made.values()), ZERO),
            downgraded=sum(1 for s in due if s.scheduled_plan_name and not s.cancel_at_period_end),
            canceled=sum(1 for s in due if s.cancel_at_period_end),
            adjustments=adjustments,
        )

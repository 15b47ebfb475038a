"""Customers and subscriptions on Stripe.

A subscription carries every item of its plan: the licensed Price and, on a monthly plan, one
metered overage Price per metered service. A plan change moves all of them: an upgrade changes
every item at once (prorated, invoiced now, applied only once paid), a downgrade is a
Subscription Schedule whose first phase keeps the current items until the period ends and whose
second phase has the new plan's items."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from ...domain.subscriptions import Trial
from ...errors import NotFound, ProviderError
from ..port import ProviderCustomer, RemoteSubscription
from .catalog import StripeCatalog
from .client import digest, price_lookup_key
from .mapping import customer_from, is_metered, service_of_price, subscription_from


def _metered_services() -> tuple[str, ...]:
    from ...domain.services import SERVICE_NAMES

    return SERVICE_NAMES


class StripeSubscriptions(StripeCatalog):
    # --- customers -------------------------------------------------------------------------

    def create_customer(
        self,
        *,
        email: str | None,
        name: str | None,
        phone: str | None,
        project_name: str | None,
        idempotency_key: str,
    ) -> ProviderCustomer:
        params: Any = {k: v for k, v in (("email", email), ("name", name), ("phone", phone)) if v}
        # our metadata marks the customers of this tool in an account shared with others
        params["metadata"] = (
            {"nself_project": project_name} if project_name else {"nself_customer": "true"}
        )
        return customer_from(
            self._get(
                lambda: self.client.v1.customers.create(params, options=self._idem(idempotency_key))
            )
        )

    def update_customer(
        self, customer_id: str, *, email: str | None, name: str | None, phone: str | None
    ) -> ProviderCustomer | None:
        params: Any = {
            k: v for k, v in (("email", email), ("name", name), ("phone", phone)) if v is not None
        }
        return customer_from(
            self._get(
                lambda: self.client.v1.customers.update(
                    customer_id,
                    params,
                    options=self._idem(
                        f"nself:customer-update:{customer_id}:{digest(params)}:"
                        f"{int(time.time() // 600)}"
                    ),
                )
            )
        )

    def retrieve_customer(self, customer_id: str) -> ProviderCustomer:
        data = self._get(lambda: self.client.v1.customers.retrieve(customer_id))
        if data.get("deleted"):
            raise NotFound(f"Customer not found: {customer_id} (deleted in Stripe)")
        return customer_from(data)

    def check_connection(self) -> str:
        balance = self._get(lambda: self.client.v1.balance.retrieve())
        mode = "live" if balance.get("livemode") else "test"
        return f"Stripe API reachable ({mode} mode)"

    def portal_url(
        self, customer_id: str, *, return_url: str | None, flow: str | None = None
    ) -> str:
        params: Any = {"customer": customer_id}
        if return_url:
            params["return_url"] = return_url
        if flow:
            params["flow_data"] = {"type": flow}
        # sessions are short-lived and harmless to repeat: no idempotency key needed, but the
        # SDK retries, so one is derived from the minute to keep a retried request single
        minute = int(time.time() // 60)
        session = self._get(
            lambda: self.client.v1.billing_portal.sessions.create(
                params, options=self._idem(f"nself:portal:{customer_id}:{flow}:{minute}")
            )
        )
        return str(session["url"])

    # --- subscriptions ---------------------------------------------------------------------

    def _plan_items(self, plan_name: str, interval: str) -> tuple[str, dict[str, str]]:
        """The plan's licensed price id and, on a monthly plan, its metered overage prices by
        service (a yearly plan bills its price only: see docs/STRIPE.md)."""
        licensed = self._price_id(plan_name, interval)
        overage = (
            self._overage_prices(plan_name, _metered_services()) if interval == "month" else {}
        )
        return licensed, overage

    def create_subscription(
        self,
        *,
        customer_id: str,
        plan_name: str,
        interval: str,
        trial: Trial | None,
        idempotency_key: str,
    ) -> str:
        """``payment_behavior=default_incomplete``: a first invoice that needs the customer
        (a card that asks for authentication, no card yet) leaves the subscription
        ``incomplete`` with its hosted invoice page to pay, instead of failing the request.

        A trial is ``trial_end`` plus, when it does not end on an anniversary,
        ``billing_cycle_anchor`` at the next one: a free period, then a prorated period, then
        the fixed cycle (docs.stripe.com/billing/subscriptions/trials, "Combining trials with
        billing cycle anchor"), as the local engine bills it."""
        licensed, overage = self._plan_items(plan_name, interval)
        items: list[dict[str, Any]] = [{"price": licensed}]
        items += [{"price": overage[s]} for s in sorted(overage)]
        params: Any = {
            "customer": customer_id,
            "items": items,
            "payment_behavior": "default_incomplete",
            "metadata": {"nself_plan": plan_name},
        }
        if trial is not None:
            params["trial_end"] = int(trial.end.timestamp())
            if trial.first_full is not None:
                params["billing_cycle_anchor"] = int(trial.first_full.timestamp())
                params["proration_behavior"] = "create_prorations"
        subscription = self._get(
            lambda: self.client.v1.subscriptions.create(params, options=self._idem(idempotency_key))
        )
        return str(subscription["id"])

    def list_subscriptions(self, customer_id: str) -> list[RemoteSubscription]:
        page = self._get(
            lambda: self.client.v1.subscriptions.list(
                {"customer": customer_id, "status": "all", "limit": 10}
            )
        )
        return [subscription_from(s) for s in page.get("data", [])]

    def retrieve_subscription(
        self, subscription_id: str, *, with_invoice: bool = False
    ) -> RemoteSubscription:
        """``with_invoice`` expands the latest invoice, whose hosted page is where the customer
        pays a subscription that waits for its first payment."""
        return subscription_from(self._raw_subscription(subscription_id, with_invoice=with_invoice))

    def _raw_subscription(
        self, subscription_id: str, *, with_invoice: bool = False
    ) -> dict[str, Any]:
        if with_invoice:
            params: Any = {"expand": ["latest_invoice"]}
            return self._get(lambda: self.client.v1.subscriptions.retrieve(subscription_id, params))
        return self._get(lambda: self.client.v1.subscriptions.retrieve(subscription_id))

    @staticmethod
    def _items(data: dict[str, Any]) -> list[dict[str, Any]]:
        return list((data.get("items") or {}).get("data") or [])

    def upgrade_subscription(
        self, subscription_id: str, *, plan_name: str, interval: str, idempotency_key: str
    ) -> RemoteSubscription:
        """Every item moves to the new plan in one update: the licensed price (prorated and
        invoiced now, ``always_invoice``) and each metered item to the new plan's overage
        price, so the whole period's usage is rated at the new plan's tiers, as the local
        engine rates it. ``pending_if_incomplete``: if the proration invoice is not paid, Stripe
        keeps the old plan (the change waits in ``pending_update``). Metered items the new plan
        does not meter are removed afterwards (a pending update cannot delete items)."""
        data = self._raw_subscription(subscription_id)
        if data.get("schedule"):
            # a pending downgrade would otherwise override the upgrade at period end
            schedule = data["schedule"]
            schedule_id = str(schedule.get("id") if isinstance(schedule, dict) else schedule)
            self._get(
                lambda: self.client.v1.subscription_schedules.release(
                    schedule_id, options=self._idem(f"{idempotency_key}:release")
                )
            )
        licensed_price, overage = self._plan_items(plan_name, interval)
        items: list[dict[str, Any]] = []
        dropped: list[str] = []
        kept: set[str] = set()
        for item in self._items(data):
            if not is_metered(item):
                items.append({"id": item["id"], "price": licensed_price})
                continue
            service = service_of_price(item.get("price"))
            if service in overage and service not in kept:
                kept.add(service)
                items.append({"id": item["id"], "price": overage[service]})
            else:
                dropped.append(str(item["id"]))
        if not any("id" in i and i["price"] == licensed_price for i in items):
            raise ProviderError(
                f"Stripe API error: subscription {subscription_id} has no plan item"
            )
        items += [{"price": overage[s]} for s in sorted(overage) if s not in kept]
        params: Any = {
            "items": items,
            "proration_behavior": "always_invoice",
            "payment_behavior": "pending_if_incomplete",
        }
        updated = self._get(
            lambda: self.client.v1.subscriptions.update(
                subscription_id, params, options=self._idem(idempotency_key)
            )
        )
        if dropped and not updated.get("pending_update"):
            drop: Any = {
                "items": [{"id": i, "deleted": True} for i in dropped],
                "proration_behavior": "none",
            }
            updated = self._get(
                lambda: self.client.v1.subscriptions.update(
                    subscription_id, drop, options=self._idem(f"{idempotency_key}:drop")
                )
            )
        return subscription_from(updated)

    def schedule_downgrade(
        self, subscription_id: str, *, plan_name: str, interval: str, idempotency_key: str
    ) -> RemoteSubscription:
        """A Subscription Schedule. A phase's ``items`` are the whole item set of that phase:
        the first keeps every current item (licensed and metered) until the period ends, the
        second has the new plan's licensed price and overage prices. Nothing is charged now."""
        data = self._raw_subscription(subscription_id)
        current = subscription_from(data)
        schedule_id = current.schedule_id
        if schedule_id is None:
            schedule = self._get(
                lambda: self.client.v1.subscription_schedules.create(
                    {"from_subscription": subscription_id},
                    options=self._idem(f"{idempotency_key}:schedule"),
                )
            )
            schedule_id = str(schedule["id"])
        else:
            sid = str(schedule_id)
            schedule = self._get(lambda: self.client.v1.subscription_schedules.retrieve(sid))
        phase = (schedule.get("phases") or [{}])[0]
        current_items: list[dict[str, Any]] = []
        for item in self._items(data):
            price_id = str((item.get("price") or {}).get("id") or item.get("price"))
            current_items.append(
                {"price": price_id} if is_metered(item) else {"price": price_id, "quantity": 1}
            )
        licensed_price, overage = self._plan_items(plan_name, interval)
        new_items: list[dict[str, Any]] = [{"price": licensed_price, "quantity": 1}]
        new_items += [{"price": overage[s]} for s in sorted(overage)]
        end = current.current_period_end
        params: Any = {
            "end_behavior": "release",
            "proration_behavior": "none",
            "phases": [
                {
                    "items": current_items,
                    "start_date": phase.get("start_date")
                    or int((current.current_period_start or datetime.now(UTC)).timestamp()),
                    "end_date": int(end.timestamp()) if end else "now",
                },
                {
                    "items": new_items,
                    "duration": {"interval": interval, "interval_count": 1},
                    "metadata": {"nself_plan": plan_name},
                },
            ],
        }
        sid = str(schedule_id)
        self._get(
            lambda: self.client.v1.subscription_schedules.update(
                sid, params, options=self._idem(idempotency_key)
            )
        )
        return self.retrieve_subscription(subscription_id)

    def cancel_subscription(
        self, subscription_id: str, *, immediate: bool, idempotency_key: str
    ) -> RemoteSubscription:
        """Now: ``invoice_now`` bills the period's metered usage (and pending prorations) on a
        final invoice, ``prorate=false`` refunds nothing (the spec: no refunds). The caller sends
        the customer's pending meter events first. At period end: ``cancel_at_period_end``."""
        if immediate:
            now: Any = {"invoice_now": True, "prorate": False}
            return subscription_from(
                self._get(
                    lambda: self.client.v1.subscriptions.cancel(
                        subscription_id, now, options=self._idem(idempotency_key)
                    )
                )
            )
        params: Any = {"cancel_at_period_end": True}
        return subscription_from(
            self._get(
                lambda: self.client.v1.subscriptions.update(
                    subscription_id, params, options=self._idem(idempotency_key)
                )
            )
        )

    def reactivate_subscription(
        self, subscription_id: str, *, idempotency_key: str, clear_cancel_at: bool = False
    ) -> RemoteSubscription:
        """Drop a scheduled cancellation: ``cancel_at_period_end=false``, or, for one set as a
        date (``cancel_at``, the Customer Portal in the flexible billing mode), ``cancel_at``
        cleared (an empty value unsets it)."""
        params: Any = {"cancel_at": ""} if clear_cancel_at else {"cancel_at_period_end": False}
        return subscription_from(
            self._get(
                lambda: self.client.v1.subscriptions.update(
                    subscription_id, params, options=self._idem(idempotency_key)
                )
            )
        )


__all__ = ["StripeSubscriptions", "price_lookup_key"]

"""A fake Stripe that bills: the SDK's ``http_client=`` hook answered by a small model of the
objects Stripe keeps (prices with their tiers, subscriptions with their items, subscription
schedules with their phases, meters with their events, invoices), and the invoices Stripe's
documented rules make from them:

- a licensed price is billed in advance, for the period it covers;
- a metered price is billed in arrears, at the end of the period (or on ``invoice_now`` when the
  subscription is cancelled now), on the meter's total of the customer's events in the period,
  rated at the item's price at that time: per unit, or graduated tiers (each tier's units at
  its rate); the line's amount is rounded half-up to the minor unit
  (docs.stripe.com/billing/subscriptions/decimal-amounts, "Rounding");
- an item price change with ``proration_behavior=always_invoice`` invoices at once a credit for
  the unused time of the old licensed price and a charge for the rest on the new one, each
  rounded on its own, by the seconds left in the period; metered items are not prorated;
- ``payment_behavior=pending_if_incomplete``: when the proration invoice is not paid, the
  subscription keeps its items and shows ``pending_update``;
- a schedule's phase ``items`` are the phase's whole item set, applied at the phase start;
- cancelling now with ``invoice_now=true`` bills the period's metered usage so far; without it,
  that usage is never invoiced; ``prorate=true`` would credit the unused licensed time;
- ``cancel_at_period_end`` or ``cancel_at`` end the subscription at that time (its metered
  usage billed on the last invoice);
- ``trial_end`` makes a free period (a $0 invoice at creation, status ``trialing``); when it
  ends, a new cycle begins: with ``billing_cycle_anchor`` after it, a prorated period up to
  the anchor (the licensed price times the seconds from the trial's end to the anchor over
  the seconds of the interval that ends at the anchor, rounded half-up) and then whole
  periods from the anchor; without one, whole periods from the trial's end
  (docs.stripe.com/billing/subscriptions/trials, "Combining trials with billing cycle
  anchor"). The trial's metered usage is billed on the invoice made when it ends, rated as
  any period's.

The test moves ``now`` (the same clock as the Billing under test) and calls ``advance()``:
the fake then closes every period that ended, as Stripe's billing cycle would.
"""

from __future__ import annotations

import calendar
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe
from requests.structures import CaseInsensitiveDict


def nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Form or query pairs as the SDK encodes them (``items[0][price]=...``) back to data."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if isinstance(node, list):
                position = int(part)
                while len(node) <= position:
                    node.append({})
                if last:
                    node[position] = value
                else:
                    if not isinstance(node[position], dict | list) or node[position] == {}:
                        node[position] = [] if parts[index + 1].isdigit() else {}
                    node = node[position]
            else:
                if last:
                    node[part] = value
                else:
                    if part not in node:
                        node[part] = [] if parts[index + 1].isdigit() else {}
                    node = node[part]
    return root


def add_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _round(minor: Decimal) -> int:
    return int(minor.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("true", "1")


@dataclass
class Item:
    id: str
    price: str


@dataclass
class Subscription:
    id: str
    customer: str
    items: list[Item]
    anchor: datetime
    period_start: datetime
    period_end: datetime
    status: str = "active"
    created: datetime | None = None
    cancel_at_period_end: bool = False
    cancel_at: datetime | None = None
    canceled_at: datetime | None = None
    ended_at: datetime | None = None
    schedule: str | None = None
    pending_update: dict[str, Any] | None = None
    latest_invoice: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    periods: int = 0
    trial_end: datetime | None = None
    #: ``billing_cycle_anchor`` given with a trial: whole periods start there
    cycle_anchor: datetime | None = None


@dataclass
class Invoice:
    id: str
    customer: str
    subscription: str | None
    reason: str
    lines: list[dict[str, Any]]
    created: datetime
    status: str = "paid"

    @property
    def total(self) -> int:
        return sum(int(line["amount"]) for line in self.lines)


class FakeStripe(stripe.HTTPClient):
    name = "fake-stripe"

    def __init__(self, clock: Callable[[], datetime]) -> None:
        super().__init__()
        self.clock = clock
        self._ids = itertools.count(1)
        self.products: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self.meters: dict[str, dict[str, Any]] = {}
        #: identifier -> (event name, customer, value, time): Stripe counts an identifier once
        self.meter_events: dict[str, tuple[str, str, Decimal, datetime]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.schedules: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, Invoice] = {}
        #: answers by idempotency key: Stripe replays the first answer to a repeated key
        self.replays: dict[str, tuple[int, Any]] = {}
        #: paths whose next POST is carried out but whose answer is lost (a 500 comes back)
        self.lose_next: set[str] = set()
        #: paths that answer 503 to every request (Stripe unreachable for them)
        self.down: set[str] = set()
        #: customers whose payments need action (3-D Secure) or are declined
        self.needs_action: set[str] = set()
        self.declines: set[str] = set()

    def _new(self, prefix: str) -> str:
        return f"{prefix}_sim{next(self._ids):06d}"

    # --- the SDK side ----------------------------------------------------------------------

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return 0.0

    def request(
        self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None
    ) -> tuple[str, int, Any]:
        parts = urlsplit(url)
        data = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
        content_type = (headers or {}).get("Content-Type", "")
        if data and "json" in content_type:
            params = json.loads(data)
        else:
            params = nest(parse_qsl(parts.query, keep_blank_values=True))
            params.update(nest(parse_qsl(data, keep_blank_values=True)))
        rheaders = CaseInsensitiveDict({"Request-Id": f"req_{next(self._ids)}"})
        if parts.path in self.down:
            return json.dumps(_error("api_error", "unavailable")), 503, rheaders
        key = (headers or {}).get("Idempotency-Key")
        if key and key in self.replays:
            status, body = self.replays[key]
            return json.dumps(body), status, rheaders
        try:
            status, body = self._route(method.lower(), parts.path, params)
        except LookupError as missing:
            status, body = 404, _error("resource_missing", f"No such object: {missing}")
        if key and method.lower() == "post":
            self.replays[key] = (status, body)
        if parts.path in self.lose_next:
            self.lose_next.discard(parts.path)
            return json.dumps(_error("api_error", "lost")), 500, rheaders
        return json.dumps(body), status, rheaders

    def request_stream(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def _route(self, method: str, path: str, p: dict[str, Any]) -> tuple[int, Any]:
        segments = path.strip("/").split("/")
        if path == "/v1/billing/meters":
            if method == "get":
                return 200, _list(list(self.meters.values()))
            meter = {"id": self._new("mtr"), "object": "billing.meter", **p, "status": "active"}
            self.meters[meter["id"]] = meter
            return 200, meter
        if path.startswith("/v1/billing/meters/") and path.endswith("/event_summaries"):
            meter = self.meters[segments[3]]
            start = datetime.fromtimestamp(int(p["start_time"]), UTC)
            end = datetime.fromtimestamp(int(p["end_time"]), UTC)
            total = self.meter_total(meter["event_name"], p["customer"], start, end)
            return 200, _list(
                [{"object": "billing.meter_event_summary", "aggregated_value": str(total)}]
            )
        if path == "/v2/billing/meter_event_session":
            return 200, {
                "id": "mes_sim",
                "object": "v2.billing.meter_event_session",
                "authentication_token": "tok_sim",
                "expires_at": "2099-01-01T00:00:00.000Z",
            }
        if path == "/v2/billing/meter_event_stream":
            for event in p["events"]:
                moment = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
                self.meter_events.setdefault(
                    event["identifier"],
                    (
                        event["event_name"],
                        event["payload"]["stripe_customer_id"],
                        Decimal(event["payload"]["value"]),
                        moment,
                    ),
                )
            return 200, {}
        if path == "/v1/prices":
            return 200, (self._list_prices(p) if method == "get" else self._create_price(p))
        if segments[:2] == ["v1", "products"]:
            if method == "get":
                return 200, self.products[segments[2]]
            self.products[p["id"]] = {"object": "product", **p}
            return 200, self.products[p["id"]]
        if path == "/v1/customers":
            customer = {"id": self._new("cus"), "object": "customer", **p}
            self.customers[customer["id"]] = customer
            return 200, customer
        if segments[:2] == ["v1", "customers"]:
            customer = self.customers[segments[2]]
            if method == "post":
                customer.update(p)
            return 200, customer
        if path == "/v1/subscriptions":
            if method == "get":
                found = [s for s in self.subscriptions.values() if s.customer == p.get("customer")]
                return 200, _list([self._sub_json(s) for s in found])
            return 200, self._create_subscription(p)
        if segments[:2] == ["v1", "subscriptions"]:
            sub = self.subscriptions[segments[2]]
            if method == "get":
                return 200, self._sub_json(sub, expand="latest_invoice" in str(p.get("expand")))
            if method == "delete":
                return 200, self._cancel_now(sub, p)
            return 200, self._update_subscription(sub, p)
        if path == "/v1/subscription_schedules":
            return 200, self._create_schedule(p)
        if segments[:2] == ["v1", "subscription_schedules"]:
            schedule = self.schedules[segments[2]]
            if len(segments) == 4 and segments[3] == "release":
                self.subscriptions[schedule["subscription"]].schedule = None
                schedule["status"] = "released"
                return 200, schedule
            if method == "post":
                schedule.update({k: v for k, v in p.items() if k != "proration_behavior"})
            return 200, schedule
        if path == "/v1/invoices":
            found = [i for i in self.invoices.values() if i.customer == p.get("customer")]
            return 200, _list([self._invoice_json(i) for i in reversed(found)])
        if segments[:2] == ["v1", "invoices"]:
            invoice = self.invoices[segments[2]]
            if len(segments) == 4 and segments[3] == "pay":
                return self._pay(invoice)
            return 200, self._invoice_json(invoice)
        raise AssertionError(f"the fake Stripe has no {method.upper()} {path}")

    # --- catalog ---------------------------------------------------------------------------

    def _list_prices(self, p: dict[str, Any]) -> dict[str, Any]:
        keys = p.get("lookup_keys") or []
        found = [
            price
            for price in self.prices.values()
            if price.get("lookup_key") in keys and price["active"]
        ]
        expand = "data.tiers" in (p.get("expand") or [])
        return _list(
            [
                price if expand else {k: v for k, v in price.items() if k != "tiers"}
                for price in found
            ]
        )

    def _create_price(self, p: dict[str, Any]) -> dict[str, Any]:
        key = p.get("lookup_key")
        if key:
            for other in self.prices.values():
                if other.get("lookup_key") == key:
                    assert _truthy(p.get("transfer_lookup_key")), f"lookup key {key} is taken"
                    other["lookup_key"] = None
        recurring = dict(p.get("recurring") or {})
        price = {
            "id": self._new("price"),
            "object": "price",
            "active": True,
            "currency": p["currency"],
            "lookup_key": key,
            "metadata": p.get("metadata") or {},
            "product": p.get("product"),
            "recurring": {
                "interval": recurring.get("interval", "month"),
                "usage_type": recurring.get("usage_type", "licensed"),
                "meter": recurring.get("meter"),
            },
            "billing_scheme": p.get("billing_scheme", "per_unit"),
            "tiers_mode": p.get("tiers_mode"),
            "unit_amount": int(p["unit_amount"]) if "unit_amount" in p else None,
            "unit_amount_decimal": p.get("unit_amount_decimal") or p.get("unit_amount"),
        }
        if p.get("tiers"):
            price["tiers"] = [
                {
                    "up_to": None if t["up_to"] == "inf" else int(t["up_to"]),
                    "unit_amount_decimal": t.get("unit_amount_decimal"),
                    "flat_amount": None,
                }
                for t in p["tiers"]
            ]
        self.prices[price["id"]] = price
        return price

    def rate(self, price: dict[str, Any], quantity: Decimal) -> int:
        """What ``quantity`` units cost at ``price``, in minor units, rounded at the line."""
        if price["billing_scheme"] != "tiered":
            return _round(quantity * Decimal(price["unit_amount_decimal"]))
        assert price["tiers_mode"] == "graduated"
        amount, floor = Decimal(0), Decimal(0)
        for tier in price["tiers"]:
            top = Decimal(tier["up_to"]) if tier["up_to"] is not None else None
            units = (min(quantity, top) if top is not None else quantity) - floor
            if units > 0:
                amount += units * Decimal(tier["unit_amount_decimal"])
            if top is None or quantity <= top:
                break
            floor = top
        return _round(amount)

    def meter_total(
        self, event_name: str, customer: str, start: datetime, end: datetime
    ) -> Decimal:
        return sum(
            (
                value
                for name, who, value, moment in self.meter_events.values()
                if name == event_name and who == customer and start <= moment < end
            ),
            Decimal(0),
        )

    # --- subscriptions ---------------------------------------------------------------------

    def _is_metered(self, price_id: str) -> bool:
        return bool(self.prices[price_id]["recurring"]["usage_type"] == "metered")

    def _create_subscription(self, p: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        items = [Item(self._new("si"), i["price"]) for i in p["items"]]
        sub = Subscription(
            id=self._new("sub"),
            customer=p["customer"],
            items=items,
            anchor=now,
            period_start=now,
            period_end=self._period_end(now, items, 1),
            created=now,
            metadata=p.get("metadata") or {},
        )
        self.subscriptions[sub.id] = sub
        if p.get("trial_end"):
            sub.trial_end = datetime.fromtimestamp(int(p["trial_end"]), UTC)
            if p.get("billing_cycle_anchor"):
                sub.cycle_anchor = datetime.fromtimestamp(int(p["billing_cycle_anchor"]), UTC)
            sub.status, sub.period_end = "trialing", sub.trial_end
            trial = [dict(line, amount=0) for line in self._licensed_lines(sub)]
            self._invoice(sub, "subscription_create", trial)  # Stripe's $0 invoice
            return self._sub_json(sub)
        invoice = self._invoice(sub, "subscription_create", self._licensed_lines(sub))
        if invoice.status != "paid":
            if p.get("payment_behavior") == "default_incomplete":
                sub.status = "incomplete"
            else:
                sub.status = "past_due"
        return self._sub_json(sub)

    def _interval(self, items: list[Item]) -> str:
        licensed = [i for i in items if not self._is_metered(i.price)]
        return str(self.prices[(licensed or items)[0].price]["recurring"]["interval"])

    def _period_end(self, anchor: datetime, items: list[Item], count: int) -> datetime:
        months = 12 if self._interval(items) == "year" else 1
        return add_months(anchor, months * count)

    def _licensed_lines(self, sub: Subscription) -> list[dict[str, Any]]:
        lines = []
        for item in sub.items:
            price = self.prices[item.price]
            if self._is_metered(item.price):
                continue
            lines.append(
                _line(
                    f"1 x {price['lookup_key']}",
                    int(price["unit_amount"]),
                    sub.period_start,
                    sub.period_end,
                    price=price,
                    kind="licensed",
                )
            )
        return lines

    def _metered_lines(
        self, sub: Subscription, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        lines = []
        for item in sub.items:
            price = self.prices[item.price]
            if not self._is_metered(item.price):
                continue
            meter = self.meters[price["recurring"]["meter"]]
            quantity = self.meter_total(meter["event_name"], sub.customer, start, end)
            lines.append(
                _line(
                    f"{quantity} x {price['lookup_key']}",
                    self.rate(price, quantity),
                    start,
                    end,
                    price=price,
                    kind="metered",
                    quantity=quantity,
                )
            )
        return lines

    def _invoice(
        self, sub: Subscription, reason: str, lines: list[dict[str, Any]], *, pay: bool = True
    ) -> Invoice:
        invoice = Invoice(
            self._new("in"), sub.customer, sub.id, reason, lines, self.clock(), status="open"
        )
        self.invoices[invoice.id] = invoice
        sub.latest_invoice = invoice.id
        if pay:
            self._collect(invoice)
        return invoice

    def _collect(self, invoice: Invoice) -> bool:
        if invoice.total <= 0 or (
            invoice.customer not in self.needs_action and invoice.customer not in self.declines
        ):
            invoice.status = "paid"
            return True
        return False

    def _update_subscription(self, sub: Subscription, p: dict[str, Any]) -> dict[str, Any]:
        if "cancel_at_period_end" in p:
            sub.cancel_at_period_end = _truthy(p["cancel_at_period_end"])
            sub.cancel_at = sub.period_end if sub.cancel_at_period_end else None
        if "cancel_at" in p:
            sub.cancel_at = (
                datetime.fromtimestamp(int(p["cancel_at"]), UTC) if p["cancel_at"] else None
            )
            sub.cancel_at_period_end = False
        if "items" in p:
            self._change_items(sub, p)
        return self._sub_json(sub)

    def _change_items(self, sub: Subscription, p: dict[str, Any]) -> None:
        now = self.clock()
        new_items = [Item(i.id, i.price) for i in sub.items]
        by_id = {i.id: i for i in new_items}
        for change in p["items"]:
            if "id" in change and _truthy(change.get("deleted")):
                assert p.get("payment_behavior") != "pending_if_incomplete", (
                    "a pending update cannot delete items"
                )
                new_items.remove(by_id[change["id"]])
            elif "id" in change:
                by_id[change["id"]].price = change["price"]
            else:
                new_items.append(Item(self._new("si"), change["price"]))
        lines = []
        if p.get("proration_behavior", "create_prorations") != "none":
            left = Decimal(_ts(sub.period_end) - _ts(now))
            whole = Decimal(_ts(sub.period_end) - _ts(sub.period_start))
            old = {i.id: i.price for i in sub.items if not self._is_metered(i.price)}
            for item in new_items:
                if item.id in old and old[item.id] != item.price:
                    before = self.prices[old[item.id]]
                    after = self.prices[item.price]
                    lines.append(
                        _line(
                            f"Unused time on {before['lookup_key']}",
                            -_round(Decimal(before["unit_amount"]) * left / whole),
                            now,
                            sub.period_end,
                            price=before,
                            kind="proration",
                        )
                    )
                    lines.append(
                        _line(
                            f"Remaining time on {after['lookup_key']}",
                            _round(Decimal(after["unit_amount"]) * left / whole),
                            now,
                            sub.period_end,
                            price=after,
                            kind="proration",
                        )
                    )
        if lines and p.get("proration_behavior") == "always_invoice":
            invoice = self._invoice(sub, "subscription_update", lines)
            if invoice.status != "paid" and p.get("payment_behavior") == "pending_if_incomplete":
                sub.pending_update = {"subscription_items": p["items"]}
                return
        sub.items = new_items

    def _cancel_now(self, sub: Subscription, p: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        lines = []
        if _truthy(p.get("invoice_now")):
            lines += self._metered_lines(sub, sub.period_start, now)
        if _truthy(p.get("prorate")):
            left = Decimal(_ts(sub.period_end) - _ts(now))
            whole = Decimal(_ts(sub.period_end) - _ts(sub.period_start))
            for line in self._licensed_lines(sub):
                line["amount"] = -_round(Decimal(line["amount"]) * left / whole)
                line["kind"] = "proration"
                lines.append(line)
        if lines:
            self._invoice(sub, "subscription_cycle", lines)
        sub.status, sub.canceled_at, sub.ended_at = "canceled", now, now
        return self._sub_json(sub)

    def _create_schedule(self, p: dict[str, Any]) -> dict[str, Any]:
        sub = self.subscriptions[p["from_subscription"]]
        schedule = {
            "id": self._new("sub_sched"),
            "object": "subscription_schedule",
            "subscription": sub.id,
            "status": "active",
            "end_behavior": "release",
            "phases": [
                {
                    "start_date": _ts(sub.period_start),
                    "end_date": _ts(sub.period_end),
                    "items": [{"price": i.price} for i in sub.items],
                }
            ],
        }
        self.schedules[schedule["id"]] = schedule
        sub.schedule = schedule["id"]
        return schedule

    def advance(self) -> None:
        """Close every period that ended by now, as Stripe's billing cycle does."""
        now = self.clock()
        for sub in list(self.subscriptions.values()):
            while sub.status in ("active", "past_due", "trialing") and sub.period_end <= now:
                ended_start, ended_end = sub.period_start, sub.period_end
                usage = self._metered_lines(sub, ended_start, ended_end)
                if sub.cancel_at is not None and sub.cancel_at <= ended_end:
                    if usage:
                        self._invoice(sub, "subscription_cycle", usage)
                    sub.status, sub.ended_at = "canceled", ended_end
                    break
                if sub.status == "trialing":
                    self._end_trial(sub, usage)
                    continue
                self._start_phase(sub, ended_end)
                sub.periods += 1
                sub.period_start = ended_end
                sub.period_end = self._period_end(sub.anchor, sub.items, sub.periods + 1)
                invoice = self._invoice(
                    sub, "subscription_cycle", usage + self._licensed_lines(sub)
                )
                if invoice.status != "paid":
                    sub.status = "past_due"

    def _end_trial(self, sub: Subscription, usage: list[dict[str, Any]]) -> None:
        """A new cycle at the trial's end: a prorated period up to the billing cycle anchor
        (when one was given after it), else a whole period."""
        ended = sub.period_end
        anchor = sub.cycle_anchor if sub.cycle_anchor and sub.cycle_anchor > ended else ended
        sub.status, sub.anchor, sub.period_start = "active", anchor, ended
        if anchor == ended:
            sub.periods = 0
            sub.period_end = self._period_end(anchor, sub.items, 1)
            lines = self._licensed_lines(sub)
        else:
            sub.periods = -1  # the next period is the anchor's first whole one
            sub.period_end = anchor
            whole = Decimal(_ts(anchor) - _ts(self._period_end(anchor, sub.items, -1)))
            share = Decimal(_ts(anchor) - _ts(ended)) / whole
            lines = [
                dict(line, amount=_round(Decimal(line["amount"]) * share), kind="proration")
                for line in self._licensed_lines(sub)
            ]
        invoice = self._invoice(sub, "subscription_cycle", usage + lines)
        if invoice.status != "paid":
            sub.status = "past_due"

    def _start_phase(self, sub: Subscription, at: datetime) -> None:
        if sub.schedule is None:
            return
        schedule = self.schedules[sub.schedule]
        phases = schedule["phases"]
        for index, phase in enumerate(phases):
            start = int(phase.get("start_date") or phases[index - 1]["end_date"])
            if index > 0 and start == _ts(at):
                sub.items = [Item(self._new("si"), i["price"]) for i in phase["items"]]
                if index == len(phases) - 1 and schedule["end_behavior"] == "release":
                    schedule["status"] = "released"
                    sub.schedule = None

    def _pay(self, invoice: Invoice) -> tuple[int, Any]:
        if invoice.status == "paid":
            return 400, _error("invoice_already_paid", "Invoice is already paid")
        if invoice.customer in self.needs_action:
            return 402, _error(
                "invoice_payment_intent_requires_action",
                "This payment requires additional user action before it can be completed.",
            )
        if invoice.customer in self.declines:
            return 402, _error("card_declined", "Your card was declined.", type_="card_error")
        invoice.status = "paid"
        sub = self.subscriptions.get(invoice.subscription or "")
        if sub is not None and sub.pending_update is not None:
            self._change_items(
                sub,
                {"items": sub.pending_update["subscription_items"], "proration_behavior": "none"},
            )
            sub.pending_update = None
        if sub is not None and sub.status in ("incomplete", "past_due"):
            sub.status = "active"
        return 200, self._invoice_json(invoice)

    # --- objects as Stripe shows them ------------------------------------------------------

    def _sub_json(self, sub: Subscription, *, expand: bool = False) -> dict[str, Any]:
        latest: Any = sub.latest_invoice
        if expand and latest:
            latest = self._invoice_json(self.invoices[latest])
        return {
            "id": sub.id,
            "object": "subscription",
            "customer": sub.customer,
            "status": sub.status,
            "created": _ts(sub.created or sub.anchor),
            "cancel_at_period_end": sub.cancel_at_period_end,
            "cancel_at": _ts(sub.cancel_at) if sub.cancel_at else None,
            "canceled_at": _ts(sub.canceled_at) if sub.canceled_at else None,
            "ended_at": _ts(sub.ended_at) if sub.ended_at else None,
            "trial_end": _ts(sub.trial_end) if sub.trial_end else None,
            "schedule": sub.schedule,
            "pending_update": sub.pending_update,
            "latest_invoice": latest,
            "metadata": sub.metadata,
            "billing_mode": {"type": "flexible"},
            "items": _list(
                [
                    {
                        "id": item.id,
                        "object": "subscription_item",
                        "price": self.prices[item.price],
                        "current_period_start": _ts(sub.period_start),
                        "current_period_end": _ts(sub.period_end),
                    }
                    for item in sub.items
                ]
            ),
        }

    def _invoice_json(self, invoice: Invoice) -> dict[str, Any]:
        starts = [line["period"]["start"] for line in invoice.lines] or [_ts(invoice.created)]
        ends = [line["period"]["end"] for line in invoice.lines] or [_ts(invoice.created)]
        return {
            "id": invoice.id,
            "object": "invoice",
            "customer": invoice.customer,
            "status": invoice.status,
            "currency": "usd",
            "billing_reason": invoice.reason,
            "total": invoice.total,
            "subtotal": invoice.total,
            "amount_due": invoice.total,
            "created": _ts(invoice.created),
            "period_start": min(starts),
            "period_end": max(ends),
            "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice.id}",
            "invoice_pdf": None,
            "number": None,
            "status_transitions": {
                "finalized_at": _ts(invoice.created),
                "paid_at": _ts(invoice.created) if invoice.status == "paid" else None,
            },
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": invoice.subscription},
            },
            "lines": _list(invoice.lines),
        }

    # --- what the tests read ---------------------------------------------------------------

    def charges(self, customer: str) -> dict[tuple[datetime, datetime, str], Decimal]:
        """What Stripe invoiced the customer, by (period start, period end, kind), in dollars:
        kind is ``base`` (licensed), ``overage:<service>`` or ``proration``."""
        return charges_of(
            line for i in self.invoices.values() if i.customer == customer for line in i.lines
        )


def charges_of(lines: Any) -> dict[tuple[datetime, datetime, str], Decimal]:
    found: dict[tuple[datetime, datetime, str], Decimal] = {}
    for line in lines:
        kind = {"licensed": "base", "proration": "proration"}.get(line["kind"])
        if kind is None:
            kind = f"overage:{line['price']['metadata'].get('nself_service')}"
        key = (
            datetime.fromtimestamp(line["period"]["start"], UTC),
            datetime.fromtimestamp(line["period"]["end"], UTC),
            kind,
        )
        found[key] = found.get(key, Decimal(0)) + Decimal(line["amount"]) / 100
    return {k: v.quantize(Decimal("0.01")) for k, v in found.items() if v != 0}


def _line(
    description: str,
    amount: int,
    start: datetime,
    end: datetime,
    *,
    price: dict[str, Any],
    kind: str,
    quantity: Decimal | None = None,
) -> dict[str, Any]:
    return {
        "object": "line_item",
        "description": description,
        "amount": amount,
        "currency": "usd",
        "quantity": int(quantity) if quantity is not None else 1,
        "period": {"start": _ts(start), "end": _ts(end)},
        "price": price,
        "kind": kind,
    }


def _list(data: list[Any]) -> dict[str, Any]:
    return {"object": "list", "url": "/v1/list", "has_more": False, "data": data}


def _error(code: str, message: str, *, type_: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"type": type_, "code": code, "message": message}}


__all__ = ["FakeStripe", "add_months", "charges_of", "nest", "timedelta"]

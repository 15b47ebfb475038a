"""The Stripe adapter: the provider port on the official SDK (``StripeClient``), nothing
hand-written over HTTP. Every write carries an idempotency key derived from the operation;
every Stripe error becomes one ``ProviderError`` line that never holds a secret.

Objects are read in the current API shape: subscription periods come from the subscription
items (``items.data[].current_period_*``, API 2025-03-31 and later), an invoice's subscription
from ``parent.subscription_details.subscription``. The older top-level fields are used only when
the newer ones are absent (an account pinned to an old ``STRIPE_API_VERSION``).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from ..errors import ConfigError, Conflict, NotFound, ProviderError
from ..settings import Settings
from .port import (
    CatalogEntry,
    CatalogPlan,
    MeterEvent,
    ProviderCustomer,
    RemoteInvoice,
    RemotePaymentMethod,
    RemoteSubscription,
)

T = TypeVar("T")

#: currencies whose amounts Stripe counts in whole units, not cents
ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
#: Stripe accepts at most 100 events per meter event stream request
METER_BATCH = 100
_SECRET_PATTERN = re.compile(r"\b(sk|rk|whsec)_(live|test)?_?[A-Za-z0-9*]+")
INTERVAL_KEYS = {"month": "monthly", "year": "yearly"}


def price_lookup_key(plan_name: str, interval: str) -> str:
    return f"nself_{plan_name}_{INTERVAL_KEYS[interval]}"


def overage_lookup_key(plan_name: str, service: str) -> str:
    return f"nself_{plan_name}_{service}_overage"


def meter_event_name(service: str) -> str:
    return f"nself_{service}"


def product_id(plan_name: str) -> str:
    """Stripe lets us choose a product id: a fixed one makes the catalog sync find-or-create."""
    return f"nself_plan_{plan_name}"


def to_minor(amount: Decimal, currency: str) -> int:
    exponent = 0 if currency.lower() in ZERO_DECIMAL else 2
    return int((amount * (10**exponent)).to_integral_value())


def from_minor(amount: int | None, currency: str) -> Decimal:
    exponent = 0 if currency.lower() in ZERO_DECIMAL else 2
    value: Decimal = Decimal(amount or 0) / Decimal(10**exponent)
    return value.quantize(Decimal(1).scaleb(-exponent))


def _unit_amount_decimal(price: Decimal, currency: str) -> str:
    """A per-unit price in minor units with up to 12 decimals (Stripe's ``unit_amount_decimal``)."""
    exponent = 0 if currency.lower() in ZERO_DECIMAL else 2
    value = (price * (10**exponent)).quantize(Decimal("1e-12")).normalize()
    return format(value, "f")


def _time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(int(value), UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def _scrub(text: str) -> str:
    return _SECRET_PATTERN.sub(lambda m: m.group(1) + "_***", text)


def plan_of_price(price: dict[str, Any] | None) -> tuple[str | None, str]:
    """(plan name, interval) of one of our prices (or legacy plans), from its metadata, its
    lookup key or its id (``nself_<plan>_<monthly|yearly>``)."""
    if not price:
        return None, "month"
    recurring = price.get("recurring") or {}
    interval = str(recurring.get("interval") or price.get("interval") or "month")
    metadata = price.get("metadata") or {}
    if metadata.get("nself_plan"):
        return str(metadata["nself_plan"]), interval
    for candidate in (price.get("lookup_key"), price.get("id")):
        match = re.fullmatch(r"nself_(.+)_(monthly|yearly)", str(candidate or ""))
        if match:
            return match.group(1), interval
    return price.get("nickname"), interval


def subscription_from(data: dict[str, Any]) -> RemoteSubscription:
    """Our view of a Stripe Subscription (current API shape, older fields as fallback)."""
    items = (data.get("items") or {}).get("data") or []
    licensed = [
        i
        for i in items
        if ((i.get("price") or {}).get("recurring") or {}).get("usage_type") != "metered"
    ]
    main = (licensed or items or [{}])[0]
    plan_name, interval = plan_of_price(main.get("price") or main.get("plan"))
    schedule = data.get("schedule")
    customer = data.get("customer")
    return RemoteSubscription(
        subscription_id=str(data["id"]),
        customer_id=str(customer["id"] if isinstance(customer, dict) else customer),
        status=str(data.get("status") or "active"),
        plan_name=plan_name,
        interval=interval,
        current_period_start=_time(
            main.get("current_period_start") or data.get("current_period_start")
        ),
        current_period_end=_time(main.get("current_period_end") or data.get("current_period_end")),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        canceled_at=_time(data.get("canceled_at")),
        ended_at=_time(data.get("ended_at")),
        trial_end=_time(data.get("trial_end")),
        schedule_id=(schedule["id"] if isinstance(schedule, dict) else schedule) or None,
        created=_time(data.get("created")),
    )


def invoice_from(data: dict[str, Any]) -> RemoteInvoice:
    currency = str(data.get("currency") or "usd")
    parent = data.get("parent") or {}
    details = parent.get("subscription_details") or {}
    subscription = details.get("subscription") or data.get("subscription")
    if isinstance(subscription, dict):
        subscription = subscription.get("id")
    transitions = data.get("status_transitions") or {}
    customer = data.get("customer")
    return RemoteInvoice(
        invoice_id=str(data["id"]),
        customer_id=str(customer["id"] if isinstance(customer, dict) else customer),
        subscription_id=subscription,
        status=str(data.get("status") or "draft"),
        number=data.get("number"),
        currency=currency,
        total=from_minor(data.get("total"), currency),
        subtotal=from_minor(data.get("subtotal"), currency),
        amount_due=from_minor(data.get("amount_due"), currency),
        period_start=_time(data.get("period_start")),
        period_end=_time(data.get("period_end")),
        created=_time(data.get("created")),
        paid_at=_time(transitions.get("paid_at")),
        finalized_at=_time(transitions.get("finalized_at")),
        hosted_invoice_url=data.get("hosted_invoice_url"),
        invoice_pdf=data.get("invoice_pdf"),
    )


def payment_method_from(data: dict[str, Any], default_id: str | None) -> RemotePaymentMethod:
    card = data.get("card") or {}
    customer = data.get("customer")
    return RemotePaymentMethod(
        payment_method_id=str(data["id"]),
        customer_id=(customer["id"] if isinstance(customer, dict) else customer),
        type=str(data.get("type") or "card"),
        brand=card.get("brand"),
        last4=card.get("last4"),
        exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"),
        is_default=data["id"] == default_id,
    )


def customer_from(data: dict[str, Any]) -> ProviderCustomer:
    return ProviderCustomer(str(data["id"]), data.get("email"), data.get("name"), data.get("phone"))


class StripeProvider:
    """The payment provider port and ``RemoteBilling`` on Stripe."""

    name = "stripe"

    def __init__(
        self,
        settings: Settings,
        *,
        http_client: Any = None,
        max_network_retries: int = 2,
        meter_api: str = "auto",
    ) -> None:
        """``meter_api``: ``auto`` sends meter events through the v2 stream when the SDK has
        it, ``v1`` forces ``billing.meter_events`` (a Stripe-compatible server without v2)."""
        if settings.stripe_secret_key is None:
            raise ConfigError("STRIPE_SECRET_KEY is not set (needed for BILLING_PROVIDER=stripe)")
        import stripe

        options: dict[str, Any] = {"max_network_retries": max_network_retries}
        if settings.stripe_api_version:
            options["stripe_version"] = settings.stripe_api_version
        if settings.stripe_api_base:
            base = settings.stripe_api_base.rstrip("/").removesuffix("/v1")
            # a Stripe-compatible server answers every base address at one place
            options["base_addresses"] = {
                "api": base,
                "files": base,
                "connect": base,
                "meter_events": base,
            }
        if http_client is None:
            http_client = stripe.new_default_http_client()
        options["http_client"] = http_client
        self._settings = settings
        self._http = http_client
        self.client = stripe.StripeClient(settings.stripe_secret_key.reveal(), **options)
        if meter_api not in ("auto", "v1"):
            raise ConfigError(f"Invalid meter API: {meter_api} (expected auto or v1)")
        self._meter_api = meter_api
        self._meter_session: tuple[str, float] | None = None
        self._meter_ids: dict[str, str] = {}
        self._lock = threading.Lock()

    # --- plumbing --------------------------------------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        import stripe

        try:
            yield
        except stripe.AuthenticationError as error:
            raise ProviderError(
                "Stripe API error: Invalid API Key (check STRIPE_SECRET_KEY)",
                request_id=error.request_id,
                http_status=error.http_status,
                code="authentication",
            ) from None
        except stripe.APIConnectionError as error:
            raise ProviderError(
                f"Stripe API error: {self._clean(_message(error))}",
                http_status=None,
                code="network",
            ) from None
        except stripe.StripeError as error:
            message = self._clean(error.user_message or _message(error))
            suffix = f" (request {error.request_id})" if error.request_id else ""
            raise ProviderError(
                f"Stripe API error: {message}{suffix}",
                request_id=error.request_id,
                http_status=error.http_status,
                code=error.code,
            ) from None

    def _clean(self, text: str) -> str:
        key = self._settings.stripe_secret_key
        if key is not None and key.reveal() and key.reveal() in text:
            text = text.replace(key.reveal(), "***")
        return _scrub(text)

    def call(self, operation: Callable[[], T]) -> T:
        with self._errors():
            return operation()

    def _get(self, operation: Callable[[], Any]) -> dict[str, Any]:
        """Run an SDK call and return the object as plain data."""
        result = self.call(operation)
        return result.to_dict() if hasattr(result, "to_dict") else dict(result or {})

    @staticmethod
    def _idem(key: str) -> Any:
        """Request options with an idempotency key (Stripe keeps them at most 255 chars)."""
        return {"idempotency_key": key[:255]}

    # --- PaymentProvider -------------------------------------------------------------------

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
        if project_name:
            params["metadata"] = {"nself_project": project_name}
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
                        f"nself:customer-update:{customer_id}:{_digest(params)}:"
                        f"{int(time.time() // 600)}"
                    ),
                )
            )
        )

    def create_subscription(
        self,
        *,
        customer_id: str,
        plan_name: str,
        interval: str,
        trial_days: int,
        idempotency_key: str,
    ) -> str:
        key = price_lookup_key(plan_name, interval)
        prices = self._prices_by_lookup_key([key])
        if key not in prices:
            raise ProviderError(
                f"Stripe API error: no price with lookup key {key} "
                "(run: nself tenant billing plan sync)"
            )
        items: list[dict[str, Any]] = [{"price": prices[key]["id"]}]
        if interval == "month":
            # overage is billed monthly from the meters: one metered item per metered service
            overage = self._prices_by_lookup_key(
                [overage_lookup_key(plan_name, s) for s in _metered_services()]
            )
            items += [{"price": p["id"]} for p in overage.values()]
        params: Any = {
            "customer": customer_id,
            "items": items,
            "metadata": {"nself_plan": plan_name},
        }
        if trial_days:
            params["trial_period_days"] = trial_days
        subscription = self._get(
            lambda: self.client.v1.subscriptions.create(params, options=self._idem(idempotency_key))
        )
        return str(subscription["id"])

    def check_connection(self) -> str:
        balance = self._get(lambda: self.client.v1.balance.retrieve())
        mode = "live" if balance.get("livemode") else "test"
        return f"Stripe API reachable ({mode} mode)"

    # --- customers -------------------------------------------------------------------------

    def retrieve_customer(self, customer_id: str) -> ProviderCustomer:
        data = self._get(lambda: self.client.v1.customers.retrieve(customer_id))
        if data.get("deleted"):
            raise NotFound(f"Customer not found: {customer_id} (deleted in Stripe)")
        return customer_from(data)

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

    def list_subscriptions(self, customer_id: str) -> list[RemoteSubscription]:
        page = self._get(
            lambda: self.client.v1.subscriptions.list(
                {"customer": customer_id, "status": "all", "limit": 10}
            )
        )
        return [subscription_from(s) for s in page.get("data", [])]

    def retrieve_subscription(self, subscription_id: str) -> RemoteSubscription:
        return subscription_from(self._raw_subscription(subscription_id))

    def _raw_subscription(self, subscription_id: str) -> dict[str, Any]:
        return self._get(lambda: self.client.v1.subscriptions.retrieve(subscription_id))

    def _licensed_item(self, data: dict[str, Any]) -> dict[str, Any]:
        for item in (data.get("items") or {}).get("data") or []:
            if ((item.get("price") or {}).get("recurring") or {}).get("usage_type") != "metered":
                return dict(item)
        raise ProviderError(f"Stripe API error: subscription {data.get('id')} has no plan item")

    def _price_id(self, plan_name: str, interval: str) -> str:
        key = price_lookup_key(plan_name, interval)
        prices = self._prices_by_lookup_key([key])
        if key not in prices:
            raise ProviderError(
                f"Stripe API error: no price with lookup key {key} "
                "(run: nself tenant billing plan sync)"
            )
        return str(prices[key]["id"])

    def upgrade_subscription(
        self, subscription_id: str, *, plan_name: str, interval: str, idempotency_key: str
    ) -> RemoteSubscription:
        """Immediate price change, prorated and invoiced now (``always_invoice``)."""
        data = self._raw_subscription(subscription_id)
        if data.get("schedule"):
            # a pending downgrade would otherwise override the upgrade at period end
            schedule_id = data["schedule"]
            self._get(
                lambda: self.client.v1.subscription_schedules.release(
                    schedule_id, options=self._idem(f"{idempotency_key}:release")
                )
            )
        item = self._licensed_item(data)
        price = self._price_id(plan_name, interval)
        params: Any = {
            "items": [{"id": item["id"], "price": price}],
            "proration_behavior": "always_invoice",
            "metadata": {"nself_plan": plan_name},
        }
        return subscription_from(
            self._get(
                lambda: self.client.v1.subscriptions.update(
                    subscription_id, params, options=self._idem(idempotency_key)
                )
            )
        )

    def schedule_downgrade(
        self, subscription_id: str, *, plan_name: str, interval: str, idempotency_key: str
    ) -> RemoteSubscription:
        """A Subscription Schedule: the current price until the period ends, then the cheaper
        one; nothing is charged now."""
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
            schedule = self._get(
                lambda: self.client.v1.subscription_schedules.retrieve(str(schedule_id))
            )
        phase = (schedule.get("phases") or [{}])[0]
        item = self._licensed_item(data)
        new_price = self._price_id(plan_name, interval)
        end = current.current_period_end
        params: Any = {
            "end_behavior": "release",
            "proration_behavior": "none",
            "phases": [
                {
                    "items": [{"price": (item.get("price") or {}).get("id"), "quantity": 1}],
                    "start_date": phase.get("start_date")
                    or int((current.current_period_start or datetime.now(UTC)).timestamp()),
                    "end_date": int(end.timestamp()) if end else "now",
                },
                {
                    "items": [{"price": new_price, "quantity": 1}],
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
        if immediate:
            return subscription_from(
                self._get(
                    lambda: self.client.v1.subscriptions.cancel(
                        subscription_id, options=self._idem(idempotency_key)
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
        self, subscription_id: str, *, idempotency_key: str
    ) -> RemoteSubscription:
        params: Any = {"cancel_at_period_end": False}
        return subscription_from(
            self._get(
                lambda: self.client.v1.subscriptions.update(
                    subscription_id, params, options=self._idem(idempotency_key)
                )
            )
        )

    # --- invoices --------------------------------------------------------------------------

    def list_invoices(self, customer_id: str, *, limit: int = 10) -> list[RemoteInvoice]:
        page = self._get(
            lambda: self.client.v1.invoices.list(
                {"customer": customer_id, "limit": max(1, min(limit, 100))}
            )
        )
        return [invoice_from(i) for i in page.get("data", [])]

    def retrieve_invoice(self, invoice_id: str) -> RemoteInvoice:
        return invoice_from(self._get(lambda: self.client.v1.invoices.retrieve(invoice_id)))

    def pay_invoice(self, invoice_id: str, *, idempotency_key: str) -> RemoteInvoice:
        return invoice_from(
            self._get(
                lambda: self.client.v1.invoices.pay(invoice_id, options=self._idem(idempotency_key))
            )
        )

    def download_invoice_pdf(self, invoice_id: str) -> bytes:
        """The PDF Stripe renders (``invoice_pdf``, a signed link that needs no key), fetched
        with the SDK's own HTTP client."""
        invoice = self.retrieve_invoice(invoice_id)
        if not invoice.invoice_pdf:
            raise Conflict(f"Invoice {invoice_id} has no PDF yet (status {invoice.status})")
        url = invoice.invoice_pdf

        def fetch() -> tuple[Any, int, Any]:
            return self._http.request_stream_with_retries("get", url, {}, None, 2)  # type: ignore[no-any-return]

        stream, status, _ = self.call(fetch)
        body = stream.read() if hasattr(stream, "read") else bytes(stream)
        if hasattr(stream, "close"):
            stream.close()
        if status != 200 or not body.startswith(b"%PDF"):
            raise ProviderError(
                f"Stripe API error: invoice PDF download failed (HTTP {status})", http_status=status
            )
        return bytes(body)

    # --- payment methods -------------------------------------------------------------------

    def _default_payment_method(self, customer_id: str) -> str | None:
        customer = self._get(lambda: self.client.v1.customers.retrieve(customer_id))
        default = (customer.get("invoice_settings") or {}).get("default_payment_method")
        if isinstance(default, dict):
            default = default.get("id")
        return default or customer.get("default_source") or None

    def list_payment_methods(self, customer_id: str) -> list[RemotePaymentMethod]:
        default = self._default_payment_method(customer_id)
        page = self._get(
            lambda: self.client.v1.payment_methods.list(
                {"customer": customer_id, "type": "card", "limit": 100}
            )
        )
        return [payment_method_from(pm, default) for pm in page.get("data", [])]

    def detach_payment_method(
        self, customer_id: str, payment_method_id: str, *, idempotency_key: str
    ) -> None:
        methods = self.list_payment_methods(customer_id)
        target = next((m for m in methods if m.payment_method_id == payment_method_id), None)
        if target is None:
            raise NotFound(f"Payment method not found: {payment_method_id}")
        if target.is_default and len(methods) == 1:
            raise Conflict(
                f"Cannot remove {payment_method_id}: it is the only (default) "
                "payment method; add another first"
            )
        self._get(
            lambda: self.client.v1.payment_methods.detach(
                payment_method_id, options=self._idem(idempotency_key)
            )
        )

    def set_default_payment_method(
        self, customer_id: str, payment_method_id: str, *, idempotency_key: str
    ) -> None:
        params: Any = {"invoice_settings": {"default_payment_method": payment_method_id}}
        self._get(
            lambda: self.client.v1.customers.update(
                customer_id, params, options=self._idem(idempotency_key)
            )
        )

    # --- plan catalog ----------------------------------------------------------------------

    def _prices_by_lookup_key(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), 10):  # Stripe takes up to 10 lookup keys per list
            chunk = keys[start : start + 10]
            page = self._get(
                lambda chunk=chunk: self.client.v1.prices.list(  # type: ignore[misc]
                    {"lookup_keys": chunk, "active": True, "limit": 10}
                )
            )
            for price in page.get("data", []):
                found[str(price["lookup_key"])] = price
        return found

    def _meters(self) -> dict[str, dict[str, Any]]:
        page = self._get(
            lambda: self.client.v1.billing.meters.list({"status": "active", "limit": 100})
        )
        meters = {str(m["event_name"]): m for m in page.get("data", [])}
        with self._lock:
            self._meter_ids.update({name: str(m["id"]) for name, m in meters.items()})
        return meters

    def _ensure_product(self, plan: CatalogPlan, created: list[str]) -> str:
        pid = product_id(plan.name)
        try:
            with self._errors():
                self.client.v1.products.retrieve(pid)
            return pid
        except ProviderError as error:
            if error.http_status != 404:
                raise
        params: Any = {
            "id": pid,
            "name": f"nself {plan.name}",
            "metadata": {"nself_plan": plan.name},
        }
        if plan.description:
            params["description"] = plan.description
        self._get(
            lambda: self.client.v1.products.create(
                params, options=self._idem(f"nself:product:{pid}")
            )
        )
        created.append(f"product {pid}")
        return pid

    def _ensure_price(
        self,
        existing: dict[str, dict[str, Any]],
        *,
        lookup_key: str,
        params: dict[str, Any],
        matches: Callable[[dict[str, Any]], bool],
        created: list[str],
    ) -> str:
        price = existing.get(lookup_key)
        if price is not None and matches(price):
            return str(price["id"])
        body: Any = {**params, "lookup_key": lookup_key}
        if price is not None:
            # the amount changed: a new price takes the lookup key over, the old one stays for
            # the subscriptions already on it
            body["transfer_lookup_key"] = True
        fingerprint = "-".join(
            str(params.get(k)) for k in ("unit_amount", "unit_amount_decimal", "currency")
        )
        made = self._get(
            lambda: self.client.v1.prices.create(
                body,
                options=self._idem(
                    f"nself:price:{lookup_key}:{fingerprint}:{int(time.time() // 600)}"
                ),
            )
        )
        created.append(f"price {lookup_key}")
        return str(made["id"])

    def _ensure_meter(
        self, service: str, meters: dict[str, dict[str, Any]], created: list[str]
    ) -> str:
        name = meter_event_name(service)
        if name in meters:
            return str(meters[name]["id"])
        params: Any = {
            "display_name": f"nself {service}",
            "event_name": name,
            "default_aggregation": {"formula": "sum"},
            "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
            "value_settings": {"event_payload_key": "value"},
        }
        meter = self._get(
            lambda: self.client.v1.billing.meters.create(
                params, options=self._idem(f"nself:meter:{name}")
            )
        )
        meters[name] = meter
        with self._lock:
            self._meter_ids[name] = str(meter["id"])
        created.append(f"meter {name}")
        return str(meter["id"])

    def sync_catalog(self, plans: list[CatalogPlan]) -> list[CatalogEntry]:
        """Find or create one Product per plan, its monthly and yearly Prices (by lookup key),
        one Billing Meter per metered service and a metered overage Price. Safe to repeat."""
        meters = self._meters()
        entries: list[CatalogEntry] = []
        for plan in plans:
            created: list[str] = []
            currency = plan.currency.lower()
            keys = [price_lookup_key(plan.name, i) for i in INTERVAL_KEYS]
            keys += [overage_lookup_key(plan.name, s) for s in plan.overage]
            existing = self._prices_by_lookup_key(keys)
            pid = self._ensure_product(plan, created)
            ids: dict[str, str | None] = {}
            for interval, amount in (("month", plan.price_monthly), ("year", plan.price_yearly)):
                if amount is None:
                    ids[interval] = None
                    continue
                minor = to_minor(amount, currency)
                ids[interval] = self._ensure_price(
                    existing,
                    lookup_key=price_lookup_key(plan.name, interval),
                    params={
                        "product": pid,
                        "currency": currency,
                        "unit_amount": minor,
                        "recurring": {"interval": interval, "usage_type": "licensed"},
                        "metadata": {"nself_plan": plan.name},
                    },
                    matches=lambda p, minor=minor: p.get("unit_amount") == minor,  # type: ignore[misc]
                    created=created,
                )
            metered: dict[str, tuple[str, str]] = {}
            for service, unit_price in sorted(plan.overage.items()):
                meter_id = self._ensure_meter(service, meters, created)
                decimal_text = _unit_amount_decimal(unit_price, currency)
                price_id = self._ensure_price(
                    existing,
                    lookup_key=overage_lookup_key(plan.name, service),
                    params={
                        "product": pid,
                        "currency": currency,
                        "unit_amount_decimal": decimal_text,
                        "recurring": {
                            "interval": "month",
                            "usage_type": "metered",
                            "meter": meter_id,
                        },
                        "metadata": {"nself_plan": plan.name, "nself_service": service},
                    },
                    matches=lambda p, d=decimal_text: (  # type: ignore[misc]
                        Decimal(str(p.get("unit_amount_decimal") or "-1")) == Decimal(d)
                    ),
                    created=created,
                )
                metered[service] = (meter_id, price_id)
            entries.append(
                CatalogEntry(plan.name, pid, ids["month"], ids["year"], metered, tuple(created))
            )
        return entries

    # --- meter events ----------------------------------------------------------------------

    def _meter_token(self, *, renew: bool = False) -> str:
        with self._lock:
            if not renew and self._meter_session and self._meter_session[1] > time.time() + 60:
                return self._meter_session[0]
        session = self._get(lambda: self.client.v2.billing.meter_event_session.create())
        expires = _time(session.get("expires_at"))
        token = str(session["authentication_token"])
        with self._lock:
            self._meter_session = (token, expires.timestamp() if expires else time.time() + 600)
        return token

    def send_meter_events(self, events: list[MeterEvent]) -> None:
        """The v2 meter event stream (batches of 100, authenticated by a short-lived meter
        event session) where the SDK has it, else v1 ``billing.meter_events`` one by one.
        Each event carries its outbox identifier, so a retried batch is counted once."""
        for start in range(0, len(events), METER_BATCH):
            batch = events[start : start + METER_BATCH]
            if self._meter_api != "v1" and _sdk_has_v2_stream(self.client):
                self._send_v2(batch)
            else:
                for event in batch:
                    self._send_v1(event)

    def _send_v2(self, batch: list[MeterEvent]) -> None:
        params: Any = {
            "events": [
                {
                    "event_name": e.event_name,
                    "identifier": e.identifier,
                    "timestamp": e.timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                    "payload": {"stripe_customer_id": e.customer_id, "value": _value_text(e.value)},
                }
                for e in batch
            ]
        }
        for attempt in (1, 2):
            token = self._meter_token(renew=attempt == 2)
            try:
                with self._errors():
                    self.client.v2.billing.meter_event_stream.create(
                        params, options={"api_key": token}
                    )
                return
            except ProviderError as error:
                if error.code == "authentication" and attempt == 1:
                    continue  # the session expired early: open a new one and send again
                raise

    def _send_v1(self, event: MeterEvent) -> None:
        params: Any = {
            "event_name": event.event_name,
            "identifier": event.identifier,
            "timestamp": int(event.timestamp.timestamp()),
            "payload": {"stripe_customer_id": event.customer_id, "value": _value_text(event.value)},
        }
        self._get(
            lambda: self.client.v1.billing.meter_events.create(
                params, options=self._idem(f"nself:meter-event:{event.identifier}")
            )
        )

    def meter_event_total(
        self, service: str, customer_id: str, start: datetime, end: datetime
    ) -> Decimal | None:
        """Stripe's aggregated meter value over [start, end) (minute-aligned, as the meter
        event summaries require); None when the meter does not exist."""
        name = meter_event_name(service)
        with self._lock:
            meter_id = self._meter_ids.get(name)
        if meter_id is None:
            meter_id = (self._meters().get(name) or {}).get("id")
        if meter_id is None:
            return None
        params: Any = {
            "customer": customer_id,
            "start_time": int(start.timestamp()) // 60 * 60,
            "end_time": -(-int(end.timestamp()) // 60) * 60,
        }
        mid = str(meter_id)
        page = self._get(lambda: self.client.v1.billing.meters.event_summaries.list(mid, params))
        return sum(
            (Decimal(str(s.get("aggregated_value") or 0)) for s in page.get("data", [])), Decimal(0)
        )

    # --- webhooks --------------------------------------------------------------------------

    def list_webhook_endpoints(self) -> list[dict[str, Any]]:
        page = self._get(lambda: self.client.v1.webhook_endpoints.list({"limit": 100}))
        return [
            {
                "id": e.get("id"),
                "url": e.get("url"),
                "status": e.get("status"),
                "enabled_events": list(e.get("enabled_events") or []),
            }
            for e in page.get("data", [])
        ]

    def list_events(self, *, limit: int = 10) -> list[dict[str, Any]]:
        page = self._get(lambda: self.client.v1.events.list({"limit": max(1, min(limit, 100))}))
        return list(page.get("data", []))


def _sdk_has_v2_stream(client: Any) -> bool:
    billing = getattr(getattr(client, "v2", None), "billing", None)
    return (
        billing is not None
        and hasattr(billing, "meter_event_stream")
        and hasattr(billing, "meter_event_session")
    )


def _digest(params: dict[str, Any]) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def _value_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _metered_services() -> tuple[str, ...]:
    from ..domain.services import SERVICE_NAMES

    return SERVICE_NAMES


def _message(error: Any) -> str:
    text = str(getattr(error, "_message", None) or error).strip().splitlines()
    return text[0] if text else type(error).__name__

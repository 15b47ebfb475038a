"""Stripe objects as our port's values. Objects are read in the current API shape: a
subscription's period comes from its items (``items.data[].current_period_*``, API 2025-03-31
and later), an invoice's subscription from ``parent.subscription_details.subscription``; the
older top-level fields are used only when the newer ones are absent (an account pinned to an
old ``STRIPE_API_VERSION``)."""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, TypeVar

from ...domain.invoicing import InvoiceStatus, LineKind
from ...domain.subscriptions import SubscriptionStatus
from ...errors import ProviderError
from ..port import (
    ProviderCustomer,
    RemoteInvoice,
    RemoteInvoiceLine,
    RemotePaymentMethod,
    RemoteSubscription,
)
from .client import from_minor, stripe_time

#: statuses in which Stripe still asks the customer for the first payment
S = TypeVar("S", bound=Enum)

_AWAITING_PAYMENT = ("incomplete",)


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None


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


def service_of_price(price: dict[str, Any] | None) -> str | None:
    """The metered service of one of our overage prices (metadata, else its lookup key)."""
    if not price:
        return None
    metadata = price.get("metadata") or {}
    if metadata.get("nself_service"):
        return str(metadata["nself_service"])
    match = re.fullmatch(r"nself_.+_([a-z]+)_overage", str(price.get("lookup_key") or ""))
    return match.group(1) if match else None


def is_metered(item: dict[str, Any]) -> bool:
    price = item.get("price") or item.get("plan") or {}
    recurring = price.get("recurring") or {}
    return (recurring.get("usage_type") or price.get("usage_type")) == "metered"


def _status(kind: type[S], value: object, what: str) -> S:
    """Stripe's status as the domain's enum, which lists every status Stripe documents; one
    it does not know is refused (stored, it would be read as something it is not)."""
    try:
        return kind(str(value))
    except ValueError:
        raise ProviderError(f"Stripe sent an unknown {what} status: {value}") from None


def subscription_from(data: dict[str, Any]) -> RemoteSubscription:
    """Our view of a Stripe Subscription (current API shape, older fields as fallback).

    A cancellation at a date (``cancel_at``: what the Customer Portal sets on subscriptions in
    the flexible billing mode, with ``cancel_at_period_end`` left false) is a scheduled
    cancellation like ``cancel_at_period_end``."""
    items = (data.get("items") or {}).get("data") or []
    licensed = [i for i in items if not is_metered(i)]
    main = (licensed or items or [{}])[0]
    plan_name, interval = plan_of_price(main.get("price") or main.get("plan"))
    status = _status(SubscriptionStatus, data.get("status") or "active", "subscription")
    cancel_at = stripe_time(data.get("cancel_at"))
    latest = data.get("latest_invoice")
    payment_url = None
    if isinstance(latest, dict) and status in _AWAITING_PAYMENT:
        payment_url = latest.get("hosted_invoice_url")
    live = status not in ("canceled", "incomplete_expired")
    return RemoteSubscription(
        subscription_id=str(data["id"]),
        customer_id=str(_id(data.get("customer"))),
        status=status,
        plan_name=plan_name,
        interval=interval,
        current_period_start=stripe_time(
            main.get("current_period_start") or data.get("current_period_start")
        ),
        current_period_end=stripe_time(
            main.get("current_period_end") or data.get("current_period_end")
        ),
        cancel_at_period_end=bool(data.get("cancel_at_period_end"))
        or (live and cancel_at is not None),
        canceled_at=stripe_time(data.get("canceled_at")),
        ended_at=stripe_time(data.get("ended_at")),
        trial_end=stripe_time(data.get("trial_end")),
        schedule_id=_id(data.get("schedule")),
        created=stripe_time(data.get("created")),
        cancel_at=cancel_at,
        latest_invoice_id=_id(latest),
        payment_url=payment_url,
        pending_update=bool(data.get("pending_update")),
    )


def _invoice_line(line: dict[str, Any], currency: str) -> RemoteInvoiceLine:
    """One invoice line. Its kind: a proration is flagged (``parent.subscription_item_details``
    in the current shape, ``proration`` before); a metered price makes an overage line when the
    line carries its price (older versions, or an expanded one)."""
    details = (line.get("parent") or {}).get("subscription_item_details") or {}
    price = line.get("price")
    kind, service = LineKind.BASE, None
    if details.get("proration") or line.get("proration"):
        kind = LineKind.PRORATION
    elif isinstance(price, dict) and is_metered({"price": price}):
        kind, service = LineKind.OVERAGE, service_of_price(price)
    quantity = line.get("quantity")
    return RemoteInvoiceLine(
        description=str(line.get("description") or ""),
        amount=from_minor(line.get("amount"), currency),
        quantity=int(quantity) if quantity is not None else None,
        period_start=stripe_time((line.get("period") or {}).get("start")),
        period_end=stripe_time((line.get("period") or {}).get("end")),
        kind=kind,
        service=service,
    )


def invoice_from(data: dict[str, Any]) -> RemoteInvoice:
    currency = str(data.get("currency") or "usd")
    parent = data.get("parent") or {}
    details = parent.get("subscription_details") or {}
    subscription = _id(details.get("subscription") or data.get("subscription"))
    transitions = data.get("status_transitions") or {}
    lines = tuple(
        _invoice_line(line, currency) for line in ((data.get("lines") or {}).get("data") or [])
    )
    return RemoteInvoice(
        invoice_id=str(data["id"]),
        customer_id=str(_id(data.get("customer"))),
        subscription_id=subscription,
        status=_status(InvoiceStatus, data.get("status") or "draft", "invoice"),
        number=data.get("number"),
        currency=currency,
        total=from_minor(data.get("total"), currency),
        subtotal=from_minor(data.get("subtotal"), currency),
        amount_due=from_minor(data.get("amount_due"), currency),
        period_start=stripe_time(data.get("period_start")),
        period_end=stripe_time(data.get("period_end")),
        created=stripe_time(data.get("created")),
        paid_at=stripe_time(transitions.get("paid_at")),
        finalized_at=stripe_time(transitions.get("finalized_at")),
        hosted_invoice_url=data.get("hosted_invoice_url"),
        invoice_pdf=data.get("invoice_pdf"),
        lines=lines,
    )


def payment_method_from(data: dict[str, Any], default_id: str | None) -> RemotePaymentMethod:
    card = data.get("card") or {}
    return RemotePaymentMethod(
        payment_method_id=str(data["id"]),
        customer_id=_id(data.get("customer")),
        type=str(data.get("type") or "card"),
        brand=card.get("brand"),
        last4=card.get("last4"),
        exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"),
        is_default=data["id"] == default_id,
    )


def customer_from(data: dict[str, Any]) -> ProviderCustomer:
    return ProviderCustomer(str(data["id"]), data.get("email"), data.get("name"), data.get("phone"))


def is_ours(data: dict[str, Any]) -> bool:
    """Does a Stripe object belong to this tool? A shared account holds other integrations'
    customers and subscriptions: ours carry ``nself_`` metadata or are on our prices."""
    metadata = data.get("metadata") or {}
    if any(str(k).startswith("nself_") for k in metadata):
        return True
    for item in (data.get("items") or {}).get("data") or []:
        price = item.get("price") or item.get("plan") or {}
        if str(price.get("lookup_key") or "").startswith("nself_"):
            return True
        if (price.get("metadata") or {}).get("nself_plan"):
            return True
    return False

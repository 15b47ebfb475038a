"""Which engine acts in each area, chosen once when ``Billing`` is built (bootstrap.py).

With the local provider our tables are the truth and the local engine of each area acts on
them; with a remote provider (Stripe) the provider is the truth and its engine acts there, then
refreshes the mirror the use cases read. Each area has one protocol here that both engines
implement, so no use case asks which provider is configured:

- subscriptions: the whole use case (``services/subscriptions.py``,
  ``services/stripe/subscriptions.py``);
- cycle: the period close (``services/cycle.py``; Stripe closes its own periods,
  ``services/stripe/engines.StripeCycle``);
- customers, invoices, payment methods, portal: the part that differs, held by the one use
  case of the area (``LocalCustomers`` in ``services/customers.py``, ``LocalInvoices``,
  ``LocalPaymentMethods``, ``LocalPortal``; Stripe's in ``services/stripe/engines.py``);
- usage: whether each new event is also queued for the provider's meters (``meters_usage``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..providers.port import PaymentProvider, RemoteBilling

if TYPE_CHECKING:
    from ..domain.customers import Customer
    from ..domain.invoicing import Invoice
    from ..domain.payments import PaymentMethod
    from ..domain.subscriptions import Subscription
    from .cycle import CycleResult
    from .invoices import PaymentResult
    from .portal_links import PortalLink
    from .subscriptions import PlanChange


class SubscriptionEngine(Protocol):
    """Subscriptions: the local engine (``services/subscriptions.py``) or Stripe's
    (``services/stripe/subscriptions.py``)."""

    def current(self, customer_id: str) -> Subscription: ...

    def find_current(self, customer_id: str) -> Subscription | None: ...

    def start(
        self, customer_id: str, plan_name: str, *, interval: str = "month", trial_days: int = 0
    ) -> Subscription: ...

    def upgrade(self, customer_id: str, plan_name: str) -> PlanChange: ...

    def downgrade(self, customer_id: str, plan_name: str) -> PlanChange: ...

    def cancel(self, customer_id: str, *, immediate: bool = False) -> PlanChange: ...

    def reactivate(self, customer_id: str) -> PlanChange: ...


class CycleEngine(Protocol):
    """Closing ended periods: ours (``services/cycle.CycleService``), or nothing to do when the
    provider closes them (``services/stripe/engines.StripeCycle``)."""

    def run(
        self,
        *,
        now: datetime | None = None,
        batch_size: int = ...,
        subscription_id: str | None = None,
    ) -> CycleResult: ...


class CustomerEngine(Protocol):
    """Where a customer is made, and how its row is refreshed."""

    def refresh(self, customer_id: str) -> None:
        """Read the customer from the provider into its mirror row (nothing to do locally)."""
        ...

    def create(
        self,
        *,
        email: str | None,
        name: str | None,
        phone: str | None,
        customer_id: str | None,
        project: str | None,
    ) -> Customer: ...


class InvoiceEngine(Protocol):
    """Who issues, renders and collects invoices."""

    def refresh(self, customer_id: str, *, limit: int | None) -> None:
        """Read the customer's newest invoices from the provider into the mirror."""
        ...

    def refresh_one(self, invoice_id: str) -> None: ...

    def write_pdf(self, invoice: Invoice, directory: Path | None) -> Path: ...

    def pay(self, invoice: Invoice) -> PaymentResult: ...


class PaymentMethodEngine(Protocol):
    """Where payment methods are kept (references only, never card numbers)."""

    def refresh(self, customer_id: str) -> None: ...

    def add(
        self,
        customer_id: str,
        *,
        brand: str | None,
        last4: str | None,
        expiry: str | None,
        reference: str | None,
        make_default: bool,
    ) -> PaymentMethod: ...

    def add_url(self, customer_id: str) -> str | None: ...

    def remove(self, customer_id: str, method: PaymentMethod) -> None: ...

    def set_default(self, customer_id: str, payment_method_id: str) -> None: ...


class PortalEngine(Protocol):
    """Whose customer portal a link opens."""

    @property
    def hosted_here(self) -> bool:
        """True when our HTTP service's portal acts for the customer (the local engine)."""
        ...

    def link(self, customer_id: str, *, ttl: timedelta) -> PortalLink: ...


@dataclass(frozen=True)
class Engines:
    """The choice: ``name`` is ``local`` or ``stripe``; bootstrap.py builds each area's engine
    from it, once."""

    name: str

    @property
    def remote(self) -> bool:
        return self.name != "local"

    @property
    def meters_usage(self) -> bool:
        """Each new usage event is also queued for the provider's Billing Meters (same
        transaction); off, the local fast path is unchanged."""
        return self.remote


def choose_engines(provider: PaymentProvider) -> Engines:
    """A provider that bills itself (Stripe) gets its engines; any other the local ones."""
    return Engines("stripe" if isinstance(provider, RemoteBilling) else "local")

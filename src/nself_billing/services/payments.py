"""Payment method use cases: list, add (references only), remove, set the default."""

from __future__ import annotations

import builtins

from ..domain.payments import PaymentMethod, check_card, check_reference, parse_expiry
from ..errors import Conflict, InvalidInput, NotFound
from ..ids import new_id
from ..store import customers as customer_store
from ..store import payment_methods as store
from . import events
from .context import Context
from .local_engine import remote_billing


class PaymentMethodService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def list(self, customer_id: str) -> builtins.list[PaymentMethod]:
        """The attached methods; with a remote provider its list replaces the mirror first."""
        remote = remote_billing(self._ctx)
        if remote is not None:
            remote.payment_methods(customer_id)
        with self._ctx.db.read() as conn:
            return store.list_for(conn, customer_id)

    def add(
        self,
        customer_id: str,
        *,
        brand: str | None = None,
        last4: str | None = None,
        expiry: str | None = None,
        reference: str | None = None,
        make_default: bool = False,
    ) -> PaymentMethod:
        """Store a reference to a payment method: a provider token (``reference``) and/or the
        card's brand, last four digits and expiry. The first one becomes the default.

        With a remote provider card details are typed into its own page only: use
        ``add_url``."""
        now = self._ctx.clock()
        if remote_billing(self._ctx) is not None:
            raise InvalidInput(
                f"With the {self._ctx.provider.name} provider, payment methods "
                "are added on its secure page: run 'payment add' without "
                "options for the link"
            )
        card = brand is not None or last4 is not None or expiry is not None
        if not card and not reference:
            raise InvalidInput("Give --brand, --last4 and --exp, or --token")
        checked_reference = check_reference(reference) if reference else None
        month = year = None
        if card:
            brand, last4 = check_card(brand, last4)
            if expiry is None:
                raise InvalidInput("Missing --exp (MM/YYYY)")
            month, year = parse_expiry(expiry, now)
        with self._ctx.db.read() as conn:
            if not customer_store.exists(conn, customer_id):
                raise NotFound(f"Customer not found: {customer_id}")
        method_id = new_id("pm", 16)
        with self._ctx.db.write() as conn:
            first = store.default_for(conn, customer_id) is None
            method = PaymentMethod(
                method_id,
                customer_id,
                "card" if card else "token",
                brand if card else None,
                last4 if card else None,
                month,
                year,
                False,
                checked_reference,
                now,
            )
            store.add(conn, method, now=now)
            if first or make_default:
                store.make_default(conn, customer_id, method_id)
            added = store.get(conn, customer_id, method_id)
            assert added is not None
            events.payment_method_changed(self._ctx, conn, "payment_method.attached", added)
        return added

    def add_url(self, customer_id: str) -> str | None:
        """A link to the provider's page for adding a payment method (Stripe's Billing Portal,
        opened on the payment-method form), or None with the local provider."""
        remote = remote_billing(self._ctx)
        return None if remote is None else remote.add_payment_method_url(customer_id)

    def remove(self, customer_id: str, payment_method_id: str) -> PaymentMethod:
        """Detach a method. The default may go only if another remains (which becomes the
        default): the spec refuses to remove the only default method."""
        remote = remote_billing(self._ctx)
        if remote is not None:  # detached at Stripe (which refuses the only default one)
            remote.payment_methods(customer_id)
            method = self._get(customer_id, payment_method_id)
            remote.remove_payment_method(customer_id, payment_method_id)
            return method
        method = self._get(customer_id, payment_method_id)
        with self._ctx.db.read() as conn:
            others = [
                m
                for m in store.list_for(conn, customer_id)
                if m.payment_method_id != payment_method_id
            ]
        if method.is_default and not others:
            raise Conflict(
                "Cannot remove the default payment method: it is the only one (add another first)"
            )
        with self._ctx.db.write() as conn:
            store.detach(conn, payment_method_id, now=self._ctx.clock())
            if method.is_default:
                store.make_default(conn, customer_id, others[-1].payment_method_id)
            events.payment_method_changed(self._ctx, conn, "payment_method.detached", method)
        return method

    def set_default(self, customer_id: str, payment_method_id: str) -> PaymentMethod:
        remote = remote_billing(self._ctx)
        if remote is not None:  # the customer's invoice_settings.default_payment_method
            remote.set_default_payment_method(customer_id, payment_method_id)
            remote.payment_methods(customer_id)
            return self._get(customer_id, payment_method_id)
        self._get(customer_id, payment_method_id)
        with self._ctx.db.write() as conn:
            store.make_default(conn, customer_id, payment_method_id)
            method = store.get(conn, customer_id, payment_method_id)
            assert method is not None
            events.payment_method_changed(self._ctx, conn, "payment_method.default_set", method)
        return method

    def _get(self, customer_id: str, payment_method_id: str) -> PaymentMethod:
        with self._ctx.db.read() as conn:
            method = store.get(conn, customer_id, payment_method_id)
        if method is None:
            raise NotFound(f"Payment method not found: {payment_method_id}")
        return method

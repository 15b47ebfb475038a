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
from .engines import PaymentMethodEngine


class PaymentMethodService:
    """Payment methods on either engine: read from our tables (the mirror, with a remote
    provider, refreshed by ``engine`` first)."""

    def __init__(self, ctx: Context, *, engine: PaymentMethodEngine) -> None:
        self._ctx = ctx
        self._engine = engine

    def list(self, customer_id: str) -> builtins.list[PaymentMethod]:
        """The attached methods; with a remote provider its list replaces the mirror first."""
        self._engine.refresh(customer_id)
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
        return self._engine.add(
            customer_id,
            brand=brand,
            last4=last4,
            expiry=expiry,
            reference=reference,
            make_default=make_default,
        )

    def add_url(self, customer_id: str) -> str | None:
        """A link to the provider's page for adding a payment method (Stripe's Billing Portal,
        opened on the payment-method form), or None with the local provider."""
        return self._engine.add_url(customer_id)

    def remove(self, customer_id: str, payment_method_id: str) -> PaymentMethod:
        """Detach a method. The default may go only if another remains (which becomes the
        default): the spec refuses to remove the only default method."""
        self._engine.refresh(customer_id)
        method = read_method(self._ctx, customer_id, payment_method_id)
        self._engine.remove(customer_id, method)
        return method

    def set_default(self, customer_id: str, payment_method_id: str) -> PaymentMethod:
        self._engine.set_default(customer_id, payment_method_id)
        return read_method(self._ctx, customer_id, payment_method_id)


def read_method(ctx: Context, customer_id: str, payment_method_id: str) -> PaymentMethod:
    with ctx.db.read() as conn:
        method = store.get(conn, customer_id, payment_method_id)
    if method is None:
        raise NotFound(f"Payment method not found: {payment_method_id}")
    return method


class LocalPaymentMethods:
    """The local engine's payment methods: references kept in our table."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def refresh(self, customer_id: str) -> None:
        """Nothing to read: our table is the truth."""

    def add(
        self,
        customer_id: str,
        *,
        brand: str | None,
        last4: str | None,
        expiry: str | None,
        reference: str | None,
        make_default: bool,
    ) -> PaymentMethod:
        now = self._ctx.clock()
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
        return None  # methods are added with their references (``add``)

    def remove(self, customer_id: str, method: PaymentMethod) -> None:
        payment_method_id = method.payment_method_id
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

    def set_default(self, customer_id: str, payment_method_id: str) -> None:
        read_method(self._ctx, customer_id, payment_method_id)
        with self._ctx.db.write() as conn:
            store.make_default(conn, customer_id, payment_method_id)
            method = store.get(conn, customer_id, payment_method_id)
            assert method is not None
            events.payment_method_changed(self._ctx, conn, "payment_method.default_set", method)

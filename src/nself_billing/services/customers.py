"""Customer use cases: resolve the current tenant, create, show, update."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, replace

from ..domain.customers import (
    Customer,
    customer_id_problem,
    email_problem,
    only_customer,
    phone_problem,
)
from ..domain.subscriptions import Subscription
from ..errors import Conflict, InvalidInput, NotFound
from ..store import customers as store
from ..store import subscriptions as subscription_store
from . import events
from .context import Context
from .current_customer import CurrentCustomer
from .engines import CustomerEngine

__all__ = ["CustomerEntry", "CustomerService", "LocalCustomers", "only_customer"]


@dataclass(frozen=True)
class CustomerEntry:
    """One line of the customer list: the customer and its live subscription, if any."""

    customer: Customer
    subscription: Subscription | None


class CustomerService:
    """Customers on either engine: ``engine`` makes them and refreshes their rows."""

    def __init__(self, ctx: Context, *, current: CurrentCustomer, engine: CustomerEngine) -> None:
        self._ctx = ctx
        self._current = current
        self._engine = engine

    def current_id(self) -> str:
        """The spec's resolution: --customer, NSELF_CUSTOMER_ID (env or .env), else the only
        customer in the database; otherwise ``No customer ID found``."""
        return self._current.id()

    def current(self) -> Customer:
        """The current customer; with a remote provider read from it first (the mirror row is
        refreshed, or made for a customer created in the Stripe Dashboard)."""
        customer_id = self.current_id()
        self._engine.refresh(customer_id)
        return self.get(customer_id)

    def get(self, customer_id: str) -> Customer:
        with self._ctx.db.read() as conn:
            customer = store.get(conn, customer_id)
        if customer is None:
            raise NotFound(f"Customer not found: {customer_id}")
        return customer

    def list(self) -> builtins.list[Customer]:
        with self._ctx.db.read() as conn:
            return store.list_all(conn)

    def entries(self) -> builtins.list[CustomerEntry]:
        """Every customer in this database (with a remote provider, those mirrored here), oldest
        first, each with its live subscription."""
        with self._ctx.db.read() as conn:
            live = subscription_store.live_by_customer(conn)
            return [CustomerEntry(c, live.get(c.customer_id)) for c in store.list_all(conn)]

    def create(
        self,
        *,
        email: str | None = None,
        name: str | None = None,
        phone: str | None = None,
        customer_id: str | None = None,
        project_name: str | None = None,
    ) -> Customer:
        _validate(email=email, phone=phone)
        return self._engine.create(
            email=email,
            name=name,
            phone=phone,
            customer_id=customer_id,
            project=project_name or self._ctx.settings.project_name,
        )

    def update(
        self,
        customer_id: str | None = None,
        *,
        email: str | None = None,
        name: str | None = None,
        phone: str | None = None,
    ) -> Customer:
        if email is None and name is None and phone is None:
            raise InvalidInput("No parameters provided (use --email, --name or --phone)")
        _validate(email=email, phone=phone)
        target = customer_id or self.current_id()
        fields = {
            key: value
            for key, value in (("email", email), ("name", name), ("phone", phone))
            if value is not None
        }
        self._engine.refresh(target)
        self.get(target)
        self._ctx.provider.update_customer(target, email=email, name=name, phone=phone)
        with self._ctx.db.write() as conn:
            if not store.set_fields(conn, target, fields, now=self._ctx.clock()):
                raise NotFound(f"Customer not found: {target}")
            events.record(
                self._ctx,
                conn,
                "customer.updated",
                customer_id=target,
                data={"customer": target, "fields": sorted(fields)},
            )
        return self.get(target)


class LocalCustomers:
    """The local engine's customers: our table is the truth (the local provider only names
    the id)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def refresh(self, customer_id: str) -> None:
        """Nothing to read: the row is the customer."""

    def create(
        self,
        *,
        email: str | None,
        name: str | None,
        phone: str | None,
        customer_id: str | None,
        project: str | None,
    ) -> Customer:
        if customer_id is not None:
            problem = customer_id_problem(customer_id)
            if problem:
                raise InvalidInput(problem)
            with self._ctx.db.read() as conn:
                if store.exists(conn, customer_id):
                    raise Conflict(f"Customer already exists: {customer_id}")
        made = self._ctx.provider.create_customer(
            email=email,
            name=name,
            phone=phone,
            project_name=project,
            idempotency_key=f"customer-create:{customer_id or email or name}",
        )
        customer = Customer(customer_id or made.customer_id, email, name, phone, project, None)
        now = self._ctx.clock()
        with self._ctx.db.write() as conn:
            store.add(conn, customer, now=now)
            events.record(
                self._ctx,
                conn,
                "customer.created",
                customer_id=customer.customer_id,
                data={"customer": customer.customer_id, "name": name, "project": project},
            )
        return replace(customer, created_at=now)


def _validate(*, email: str | None, phone: str | None) -> None:
    problem = (email_problem(email) if email is not None else None) or (
        phone_problem(phone) if phone is not None else None
    )
    if problem:
        raise InvalidInput(problem)

"""Which engine acts, chosen once when ``Billing`` is built (bootstrap.py).

With the local provider our tables are the truth and the local engine acts on them; with a
remote provider (Stripe) the provider is the truth and its engine acts there, then reads the
mirror. Each area has one protocol that both engines implement, so the use cases do not ask
which provider is configured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..providers.port import PaymentProvider, RemoteBilling

if TYPE_CHECKING:
    from ..domain.subscriptions import Subscription
    from .context import Context
    from .subscriptions import PlanChange


class SubscriptionEngine(Protocol):
    """Subscriptions: the local engine (``services/subscriptions.py``) or Stripe's
    (``services/stripe_subscriptions.py``)."""

    def current(self, customer_id: str) -> Subscription: ...

    def find_current(self, customer_id: str) -> Subscription | None: ...

    def start(
        self, customer_id: str, plan_name: str, *, interval: str = "month", trial_days: int = 0
    ) -> Subscription: ...

    def upgrade(self, customer_id: str, plan_name: str) -> PlanChange: ...

    def downgrade(self, customer_id: str, plan_name: str) -> PlanChange: ...

    def cancel(self, customer_id: str, *, immediate: bool = False) -> PlanChange: ...

    def reactivate(self, customer_id: str) -> PlanChange: ...


@dataclass(frozen=True)
class Engines:
    """The engine of each area; ``name`` is ``local`` or ``stripe``."""

    name: str

    @property
    def remote(self) -> bool:
        return self.name != "local"

    def subscriptions(self, ctx: Context) -> SubscriptionEngine:
        if self.remote:
            from .stripe_subscriptions import StripeSubscriptionService

            return StripeSubscriptionService(ctx)
        from .subscriptions import SubscriptionService

        return SubscriptionService(ctx)


def choose_engines(provider: PaymentProvider) -> Engines:
    """A provider that bills itself (Stripe) gets its engines; any other the local ones."""
    return Engines("stripe" if isinstance(provider, RemoteBilling) else "local")

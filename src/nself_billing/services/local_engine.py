"""Which engine acts: the local billing engine, or the remote provider's use cases.

With the local provider our tables are the truth and the services in this package act on them.
With a remote provider (Stripe) the provider is the source of truth for plan changes, payments,
payment methods and period closes, and our tables are its mirror: the services then call the
provider's use cases (``StripeBillingService``, which refresh the mirror) and read the mirror.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..providers.port import RemoteBilling
from .context import Context

if TYPE_CHECKING:
    from .stripe_billing import StripeBillingService


def is_local(ctx: Context) -> bool:
    return ctx.provider.name == "local"


def is_remote(ctx: Context) -> bool:
    """The provider performs the billing itself (Stripe): our tables are its mirror. Decided
    once when Billing was built (``ctx.engines``)."""
    if ctx.engines is not None:
        return ctx.engines.remote
    return isinstance(ctx.provider, RemoteBilling)


def remote_billing(ctx: Context) -> StripeBillingService | None:
    """The remote provider's use cases when it is the source of truth, else None (imported
    late: the Stripe use cases need nothing of the local engine, and the other way round)."""
    if not is_remote(ctx):
        return None
    from .stripe_billing import StripeBillingService

    return StripeBillingService(ctx)

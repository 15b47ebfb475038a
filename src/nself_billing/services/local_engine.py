"""The local billing engine acts only with the local provider.

With a remote provider (Stripe) the provider is the source of truth for plan changes, payments,
payment methods and period closes, and our tables are its mirror; a local change there would
diverge from what the provider bills. Reads of the mirror work with any provider.
"""

from __future__ import annotations

from ..errors import ConfigError
from .context import Context


def is_local(ctx: Context) -> bool:
    return ctx.provider.name == "local"


def require_local(ctx: Context, action: str) -> None:
    if not is_local(ctx):
        raise ConfigError(f"Cannot {action} with the local billing engine: the "
                          f"{ctx.provider.name} provider is the source of truth")

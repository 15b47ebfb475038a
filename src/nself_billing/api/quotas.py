"""The spec's quota functions (Quota Management), thin over ``Billing.quotas``.

As in the bash original: ``billing_check_quota``, ``quota_enforce`` and ``quota_consume`` answer
with a status (0 yes, 1 no); ``quota_get_*`` print what ``nself tenant billing quota`` prints and
return the data; ``billing_get_quota_status`` returns the JSON text the bash function echoed.
"""

from __future__ import annotations

import sys

from ..services.quotas import EffectiveQuota, QuotaLine
from ..settings import parse_flag
from .handle import default_billing

__all__ = [
    "billing_check_quota",
    "billing_get_quota_status",
    "quota_clear_override",
    "quota_consume",
    "quota_enforce",
    "quota_get_alerts",
    "quota_get_all",
    "quota_get_service",
    "quota_set_override",
]


def quota_get_all(with_usage: bool | str = False, format: str = "table") -> list[QuotaLine]:
    """Print every service's quota (with usage when ``with_usage``) and return the lines."""
    from ..render.quotas import render_quotas

    quotas = default_billing().quotas
    lines = quotas.statuses(with_usage=parse_flag(with_usage, "with_usage"))
    print(
        render_quotas(
            quotas.limits().plan_name,
            lines,
            with_usage=parse_flag(with_usage, "with_usage"),
            output_format=format,
        )
    )
    return lines


def quota_get_service(
    service: str, with_usage: bool | str = False, format: str = "table"
) -> QuotaLine:
    """Print one service's quota and return it; ``UnknownService`` for a bad name."""
    from ..render.quotas import render_quotas

    quotas = default_billing().quotas
    lines = quotas.statuses(services=[service], with_usage=parse_flag(with_usage, "with_usage"))
    print(
        render_quotas(
            quotas.limits().plan_name,
            lines,
            with_usage=parse_flag(with_usage, "with_usage"),
            output_format=format,
        )
    )
    return lines[0]


def quota_get_alerts(format: str = "table") -> list[QuotaLine]:
    """Print the services at 75% of their quota or more (with the alerts recorded this period)
    and return them."""
    from ..render.quotas import render_alerts

    quotas = default_billing().quotas
    hot, records = quotas.alerts()
    print(render_alerts(quotas.limits().plan_name, hot, records, output_format=format))
    return hot


def billing_check_quota(service: str, quantity: object = 1) -> int:
    """0 if ``quantity`` more fits in the quota (soft or hard), 1 if it would exceed it."""
    return 0 if default_billing().quotas.check(service, quantity) else 1


def quota_enforce(service: str, quantity: object = 1) -> int:
    """0 allowed (within the quota, unlimited, or past a soft limit: a warning on stderr and in
    the billing log, and an alert), 1 blocked by a hard limit. Records nothing: track the usage
    afterwards, or use ``quota_consume`` to do both atomically."""
    decision = default_billing().quotas.enforce(service, quantity)
    if decision.reason == "soft_limit":
        print(f"Warning: Quota exceeded for {service} (soft limit)", file=sys.stderr)
    return 0 if decision.allowed else 1


def quota_consume(
    service: str,
    quantity: object = 1,
    metadata: object = None,
    *,
    idempotency_key: str | None = None,
) -> int:
    """Check and record in one step: 0 admitted and recorded (a replayed ``idempotency_key``
    is admitted without counting twice; a soft limit admits), 1 blocked by a hard limit.
    Concurrent callers never pass a hard limit together. A key reused with another service or
    quantity raises ``IdempotencyConflict``."""
    result = default_billing().quotas.consume(
        service, quantity, metadata, idempotency_key=idempotency_key
    )
    return 0 if result.admitted else 1


def billing_get_quota_status(service: str) -> str:
    """The spec's JSON: ``{"service", "usage", "quota", "percent"}`` (``quota`` and
    ``percent`` null when unlimited), plus ``unit``, ``available``, ``mode``, ``status`` (the
    band) and the period (``period_start``, ``period_end``): the quota status record of every
    face (docs/API.md), its figures as JSON numbers as the spec shows them."""
    from ..render.quotas import quota_status_spec_json

    return quota_status_spec_json(default_billing().quotas.status(service))


def quota_set_override(service: str, limit: object, mode: str | None = None) -> EffectiveQuota:
    """Replace the plan's quota of ``service`` for the current customer (a number or
    ``"unlimited"``; ``mode`` soft|hard, default the plan's) and return the effective quota."""
    return default_billing().quotas.set_override(service, limit, mode=mode)


def quota_clear_override(service: str) -> bool:
    """Back to the plan's quota; False if there was no override."""
    return default_billing().quotas.clear_override(service)

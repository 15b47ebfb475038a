"""Quota overrides (a customer's own limit for a service) and quota alert records (75, 90
and 100 % of a quota, once per customer, service and period). The period totals the quota
checks read are ``store/usage.py``'s and the hot path's driver access ``store/hot_path.py``'s."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, delete, select

from ..domain.money import unit_price
from .dialect import upsert_insert
from .tables import quota_alerts, quota_overrides


@dataclass(frozen=True)
class Override:
    customer_id: str
    service: str
    #: None means unlimited for this customer
    limit: Decimal | None
    mode: str | None
    overage_price: Decimal | None


@dataclass(frozen=True)
class AlertRecord:
    customer_id: str
    service: str
    threshold: int
    period_start: datetime
    usage: Decimal
    limit: Decimal
    created_at: datetime | None


def overrides_for(conn: Connection, customer_id: str) -> dict[str, Override]:
    rows = conn.execute(select(quota_overrides).where(quota_overrides.c.customer_id == customer_id))
    return {
        row.service_name: Override(
            row.customer_id,
            row.service_name,
            None if row.limit_value is None else Decimal(row.limit_value),
            row.enforcement_mode,
            None if row.overage_price is None else unit_price(Decimal(row.overage_price)),
        )
        for row in rows
    }


def set_override(conn: Connection, override: Override, *, now: datetime) -> None:
    statement = upsert_insert(conn)(quota_overrides).values(
        customer_id=override.customer_id,
        service_name=override.service,
        limit_value=override.limit,
        enforcement_mode=override.mode,
        overage_price=override.overage_price,
        created_at=now,
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["customer_id", "service_name"],
            set_={
                "limit_value": statement.excluded.limit_value,
                "enforcement_mode": statement.excluded.enforcement_mode,
                "overage_price": statement.excluded.overage_price,
                "created_at": statement.excluded.created_at,
            },
        )
    )


def clear_override(conn: Connection, customer_id: str, service: str) -> bool:
    result = conn.execute(
        delete(quota_overrides).where(
            quota_overrides.c.customer_id == customer_id, quota_overrides.c.service_name == service
        )
    )
    return bool(result.rowcount)


def record_alert(conn: Connection, alert: AlertRecord, *, now: datetime) -> bool:
    """Record one alert; False if this customer, service, threshold and period had one."""
    inserted = conn.execute(
        upsert_insert(conn)(quota_alerts)
        .values(
            customer_id=alert.customer_id,
            service_name=alert.service,
            threshold=alert.threshold,
            period_start=alert.period_start,
            usage=alert.usage,
            limit_value=alert.limit,
            created_at=now,
        )
        .on_conflict_do_nothing(
            index_elements=["customer_id", "service_name", "threshold", "period_start"]
        )
        .returning(quota_alerts.c.id)
    ).first()
    return inserted is not None


def alerts_for(conn: Connection, customer_id: str, period_start: datetime) -> list[AlertRecord]:
    rows = conn.execute(
        select(quota_alerts)
        .where(
            quota_alerts.c.customer_id == customer_id, quota_alerts.c.period_start == period_start
        )
        .order_by(quota_alerts.c.service_name, quota_alerts.c.threshold)
    )
    return [
        AlertRecord(
            row.customer_id,
            row.service_name,
            row.threshold,
            row.period_start,
            Decimal(row.usage),
            Decimal(row.limit_value),
            row.created_at,
        )
        for row in rows
    ]

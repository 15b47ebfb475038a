"""The plan catalog on Stripe: one Product per plan, its licensed Prices (monthly, yearly),
one Billing Meter per metered service and, per plan and soft-limit service, one graduated
metered Price whose first tier (up to the plan's quota) is free, so Stripe bills only the usage
beyond the quota, as the local engine does."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ...errors import ConfigError, ProviderError
from ..port import CatalogEntry, CatalogPlan
from .client import (
    INTERVAL_KEYS,
    StripeClientBase,
    digest,
    meter_event_name,
    overage_lookup_key,
    price_lookup_key,
    product_id,
    to_minor,
    unit_amount_decimal,
)

#: (up_to or None for the last tier, unit amount in minor units)
Tiers = list[tuple[int | None, Decimal]]


def overage_tiers(included: Decimal, unit_price: Decimal, currency: str) -> Tiers:
    """The graduated tiers of an overage price: the included quota free, then the price."""
    if included != included.to_integral_value():
        raise ConfigError(
            f"The included quota {included} is not a whole number of units: Stripe price "
            "tiers count whole units"
        )
    rate = Decimal(unit_amount_decimal(unit_price, currency))
    if included <= 0:
        return [(None, rate)]
    return [(int(included), Decimal(0)), (None, rate)]


def tiers_of(price: dict[str, Any]) -> Tiers | None:
    """The tiers of an existing Stripe price (listed with ``expand[]=data.tiers``); a per-unit
    price is one unbounded tier; None when the shape is not one we make."""
    if price.get("billing_scheme") == "tiered":
        if price.get("tiers_mode") != "graduated":
            return None
        tiers: Tiers = []
        for tier in price.get("tiers") or []:
            if tier.get("flat_amount") or Decimal(str(tier.get("flat_amount_decimal") or 0)):
                return None
            amount = tier.get("unit_amount_decimal")
            if amount is None:
                amount = tier.get("unit_amount") or 0
            up_to = tier.get("up_to")
            tiers.append((int(up_to) if up_to not in (None, "inf") else None, Decimal(str(amount))))
        return tiers
    amount = price.get("unit_amount_decimal")
    if amount is None:
        amount = price.get("unit_amount")
    return None if amount is None else [(None, Decimal(str(amount)))]


def _tier_params(tiers: Tiers) -> dict[str, Any]:
    if len(tiers) == 1:
        return {"billing_scheme": "per_unit", "unit_amount_decimal": _text(tiers[0][1])}
    return {
        "billing_scheme": "tiered",
        "tiers_mode": "graduated",
        "tiers": [
            {
                "up_to": "inf" if up_to is None else up_to,
                "unit_amount_decimal": _text(amount),
            }
            for up_to, amount in tiers
        ],
    }


def _text(amount: Decimal) -> str:
    text = format(amount.normalize(), "f")
    return "0" if text in ("0", "-0") else text


class StripeCatalog(StripeClientBase):
    def _prices_by_lookup_key(
        self, keys: list[str], *, tiers: bool = False
    ) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), 10):  # Stripe takes up to 10 lookup keys per list
            params: Any = {"lookup_keys": keys[start : start + 10], "active": True, "limit": 10}
            if tiers:
                params["expand"] = ["data.tiers"]  # tiers are left out of lists unless expanded
            page = self._get(
                lambda params=params: self.client.v1.prices.list(params)  # type: ignore[misc]
            )
            for price in page.get("data", []):
                found[str(price["lookup_key"])] = price
        return found

    def _price_id(self, plan_name: str, interval: str) -> str:
        key = price_lookup_key(plan_name, interval)
        prices = self._prices_by_lookup_key([key])
        if key not in prices:
            raise ProviderError(
                f"Stripe API error: no price with lookup key {key} "
                "(run: nself tenant billing plan sync)"
            )
        return str(prices[key]["id"])

    def _overage_prices(self, plan_name: str, services: tuple[str, ...]) -> dict[str, str]:
        """service -> the plan's metered overage price id, for the services it meters."""
        keys = {overage_lookup_key(plan_name, s): s for s in services}
        found = self._prices_by_lookup_key(list(keys))
        return {keys[k]: str(p["id"]) for k, p in found.items() if k in keys}

    def _meters(self) -> dict[str, dict[str, Any]]:
        page = self._get(
            lambda: self.client.v1.billing.meters.list({"status": "active", "limit": 100})
        )
        meters = {str(m["event_name"]): m for m in page.get("data", [])}
        with self._lock:
            self._meter_ids.update({name: str(m["id"]) for name, m in meters.items()})
        return meters

    def _ensure_product(self, plan: CatalogPlan, created: list[str]) -> str:
        pid = product_id(plan.name)
        try:
            with self._errors():
                self.client.v1.products.retrieve(pid)
            return pid
        except ProviderError as error:
            if error.http_status != 404:
                raise
        params: Any = {
            "id": pid,
            "name": f"nself {plan.name}",
            "metadata": {"nself_plan": plan.name},
        }
        if plan.description:
            params["description"] = plan.description
        self._get(
            lambda: self.client.v1.products.create(
                params, options=self._idem(f"nself:product:{pid}")
            )
        )
        created.append(f"product {pid}")
        return pid

    def _ensure_price(
        self,
        existing: dict[str, dict[str, Any]],
        *,
        lookup_key: str,
        params: dict[str, Any],
        matches: Callable[[dict[str, Any]], bool],
        created: list[str],
    ) -> str:
        price = existing.get(lookup_key)
        if price is not None and matches(price):
            return str(price["id"])
        body: Any = {**params, "lookup_key": lookup_key}
        if price is not None:
            # the amount or the tiers changed: a new price takes the lookup key over, the old
            # one stays for the subscriptions already on it
            body["transfer_lookup_key"] = True
        made = self._get(
            lambda: self.client.v1.prices.create(
                body,
                options=self._idem(
                    f"nself:price:{lookup_key}:{digest(params)}:{int(time.time() // 600)}"
                ),
            )
        )
        created.append(f"price {lookup_key}")
        return str(made["id"])

    def _ensure_meter(
        self, service: str, meters: dict[str, dict[str, Any]], created: list[str]
    ) -> str:
        name = meter_event_name(service)
        if name in meters:
            return str(meters[name]["id"])
        params: Any = {
            "display_name": f"nself {service}",
            "event_name": name,
            "default_aggregation": {"formula": "sum"},
            "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
            "value_settings": {"event_payload_key": "value"},
        }
        meter = self._get(
            lambda: self.client.v1.billing.meters.create(
                params, options=self._idem(f"nself:meter:{name}")
            )
        )
        meters[name] = meter
        with self._lock:
            self._meter_ids[name] = str(meter["id"])
        created.append(f"meter {name}")
        return str(meter["id"])

    def sync_catalog(self, plans: list[CatalogPlan]) -> list[CatalogEntry]:
        """Find or create one Product per plan, its monthly and yearly Prices (by lookup key),
        one Billing Meter per metered service and a graduated metered overage Price (the
        included quota free). Safe to repeat; a price whose amount or tiers changed is
        replaced by a new one that takes its lookup key over."""
        meters = self._meters()
        entries: list[CatalogEntry] = []
        for plan in plans:
            created: list[str] = []
            currency = plan.currency.lower()
            keys = [price_lookup_key(plan.name, i) for i in INTERVAL_KEYS]
            keys += [overage_lookup_key(plan.name, s) for s in plan.overage]
            existing = self._prices_by_lookup_key(keys, tiers=bool(plan.overage))
            pid = self._ensure_product(plan, created)
            ids: dict[str, str | None] = {}
            for interval, amount in (("month", plan.price_monthly), ("year", plan.price_yearly)):
                if amount is None:
                    ids[interval] = None
                    continue
                minor = to_minor(amount, currency)
                ids[interval] = self._ensure_price(
                    existing,
                    lookup_key=price_lookup_key(plan.name, interval),
                    params={
                        "product": pid,
                        "currency": currency,
                        "unit_amount": minor,
                        "recurring": {"interval": interval, "usage_type": "licensed"},
                        "metadata": {"nself_plan": plan.name},
                    },
                    matches=lambda p, minor=minor, currency=currency: (  # type: ignore[misc]
                        p.get("unit_amount") == minor
                        and str(p.get("currency") or currency).lower() == currency
                    ),
                    created=created,
                )
            metered: dict[str, tuple[str, str]] = {}
            for service, unit_price in sorted(plan.overage.items()):
                tiers = overage_tiers(plan.included.get(service, Decimal(0)), unit_price, currency)
                meter_id = self._ensure_meter(service, meters, created)
                price_id = self._ensure_price(
                    existing,
                    lookup_key=overage_lookup_key(plan.name, service),
                    params={
                        "product": pid,
                        "currency": currency,
                        **_tier_params(tiers),
                        "recurring": {
                            "interval": "month",
                            "usage_type": "metered",
                            "meter": meter_id,
                        },
                        "metadata": {"nself_plan": plan.name, "nself_service": service},
                    },
                    matches=lambda p, t=tiers, m=meter_id: (  # type: ignore[misc]
                        tiers_of(p) == t and (p.get("recurring") or {}).get("meter") in (None, m)
                    ),
                    created=created,
                )
                metered[service] = (meter_id, price_id)
            entries.append(
                CatalogEntry(plan.name, pid, ids["month"], ids["year"], metered, tuple(created))
            )
        return entries

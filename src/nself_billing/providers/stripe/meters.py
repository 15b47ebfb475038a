"""Usage to Stripe's Billing Meters: the v2 meter event stream (batches of 100, authenticated
by a short-lived meter event session) where the SDK has it, else v1 ``billing.meter_events``
one by one; and the meters' aggregated totals for ``reconcile``."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ...errors import ProviderError
from ..port import MeterEvent
from .catalog import StripeCatalog
from .client import meter_event_name, stripe_time

#: Stripe accepts at most 100 events per meter event stream request
METER_BATCH = 100


def _value_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _sdk_has_v2_stream(client: Any) -> bool:
    billing = getattr(getattr(client, "v2", None), "billing", None)
    return (
        billing is not None
        and hasattr(billing, "meter_event_stream")
        and hasattr(billing, "meter_event_session")
    )


class StripeMeters(StripeCatalog):
    def _meter_token(self, *, renew: bool = False) -> str:
        with self._lock:
            if not renew and self._meter_session and self._meter_session[1] > time.time() + 60:
                return self._meter_session[0]
        session = self._get(lambda: self.client.v2.billing.meter_event_session.create())
        expires = stripe_time(session.get("expires_at"))
        token = str(session["authentication_token"])
        with self._lock:
            self._meter_session = (token, expires.timestamp() if expires else time.time() + 600)
        return token

    def send_meter_events(self, events: list[MeterEvent]) -> None:
        """Each event carries its outbox identifier, so a retried batch is counted once."""
        for start in range(0, len(events), METER_BATCH):
            batch = events[start : start + METER_BATCH]
            if self._meter_api != "v1" and _sdk_has_v2_stream(self.client):
                self._send_v2(batch)
            else:
                for event in batch:
                    self._send_v1(event)

    def _send_v2(self, batch: list[MeterEvent]) -> None:
        params: Any = {
            "events": [
                {
                    "event_name": e.event_name,
                    "identifier": e.identifier,
                    "timestamp": e.timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                    "payload": {"stripe_customer_id": e.customer_id, "value": _value_text(e.value)},
                }
                for e in batch
            ]
        }
        for attempt in (1, 2):
            token = self._meter_token(renew=attempt == 2)
            try:
                with self._errors():
                    self.client.v2.billing.meter_event_stream.create(
                        params, options={"api_key": token}
                    )
                return
            except ProviderError as error:
                if error.code == "authentication" and attempt == 1:
                    continue  # the session expired early: open a new one and send again
                raise

    def _send_v1(self, event: MeterEvent) -> None:
        params: Any = {
            "event_name": event.event_name,
            "identifier": event.identifier,
            "timestamp": int(event.timestamp.timestamp()),
            "payload": {"stripe_customer_id": event.customer_id, "value": _value_text(event.value)},
        }
        self._get(
            lambda: self.client.v1.billing.meter_events.create(
                params, options=self._idem(f"nself:meter-event:{event.identifier}")
            )
        )

    def meter_event_total(
        self, service: str, customer_id: str, start: datetime, end: datetime
    ) -> Decimal | None:
        """Stripe's aggregated meter value over [start, end) (minute-aligned, as the meter
        event summaries require); None when the meter does not exist."""
        name = meter_event_name(service)
        with self._lock:
            meter_id = self._meter_ids.get(name)
        if meter_id is None:
            meter_id = (self._meters().get(name) or {}).get("id")
        if meter_id is None:
            return None
        params: Any = {
            "customer": customer_id,
            "start_time": int(start.timestamp()) // 60 * 60,
            "end_time": -(-int(end.timestamp()) // 60) * 60,
        }
        mid = str(meter_id)
        page = self._get(lambda: self.client.v1.billing.meters.event_summaries.list(mid, params))
        return sum(
            (Decimal(str(s.get("aggregated_value") or 0)) for s in page.get("data", [])), Decimal(0)
        )

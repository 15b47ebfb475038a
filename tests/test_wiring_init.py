"""``billing_init`` with Stripe configured syncs the plan catalog (Products, Prices, Meters) when
it changed, through the SDK's HTTP client hook; a Stripe error is the usual one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import stripe
from requests.structures import CaseInsensitiveDict
from sqlalchemy import select

from nself_billing import Billing, billing_close, billing_init
from nself_billing.store.tables import plans
from tests.support.stripe_fake import fixture, listing
from tests.support.stripe_sim import nest


class CatalogStripe(stripe.HTTPClient):
    """A small stateful Stripe catalog: products, prices by lookup key and meters."""

    name = "catalog"

    def __init__(self, *, status: int = 200) -> None:
        super().__init__()
        self.status = status
        self.products: set[str] = set()
        self.prices: dict[str, dict[str, Any]] = {}
        self.meters: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return 0.0

    def request(
        self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None
    ) -> tuple[str, int, Any]:
        method, parts = method.lower(), urlsplit(url)
        path = parts.path
        self.requests.append((method, path))
        form = dict(
            parse_qsl(post_data.decode() if isinstance(post_data, bytes) else post_data or "")
        )
        rheaders = CaseInsensitiveDict({"Request-Id": "req_catalog"})
        if self.status != 200:
            return json.dumps(fixture("error_invalid_key")), self.status, rheaders
        answer: Any
        if path == "/v1/billing/meters" and method == "get":
            answer = listing(*self.meters.values())
        elif path == "/v1/billing/meters":
            meter = {
                "id": f"mtr_{form['event_name']}",
                "object": "billing.meter",
                "event_name": form["event_name"],
                "status": "active",
            }
            self.meters[form["event_name"]] = meter
            answer = meter
        elif path == "/v1/prices" and method == "get":
            keys = [v for k, v in parse_qsl(parts.query) if k.startswith("lookup_keys")]
            answer = listing(*(self.prices[k] for k in keys if k in self.prices))
        elif path == "/v1/prices":
            sent = nest(list(form.items()))
            price = {
                "id": f"price_{form['lookup_key']}",
                "object": "price",
                "lookup_key": form["lookup_key"],
                "unit_amount": int(form["unit_amount"]) if "unit_amount" in form else None,
                "unit_amount_decimal": form.get("unit_amount_decimal"),
                "billing_scheme": sent.get("billing_scheme", "per_unit"),
                "tiers_mode": sent.get("tiers_mode"),
                "tiers": sent.get("tiers"),
            }
            self.prices[form["lookup_key"]] = price
            answer = price
        elif path.startswith("/v1/products/"):
            product = path.rsplit("/", 1)[1]
            if product not in self.products:
                return json.dumps(fixture("error_resource_missing")), 404, rheaders
            answer = {"id": product, "object": "product"}
        elif path == "/v1/products":
            self.products.add(form["id"])
            answer = {"id": form["id"], "object": "product"}
        else:
            raise AssertionError(f"unexpected request {method} {path}")
        return json.dumps(answer), 200, rheaders

    def close(self) -> None:
        pass


@pytest.fixture
def stripe_env(env: dict[str, str]) -> Iterator[dict[str, str]]:
    yield env | {"STRIPE_SECRET_KEY": "sk_test_init_secret_value"}
    billing_close()


def _install(monkeypatch: pytest.MonkeyPatch, client: CatalogStripe) -> None:
    monkeypatch.setattr(stripe, "new_default_http_client", lambda *args, **kwargs: client)


def test_billing_init_syncs_the_catalog_once(
    stripe_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = CatalogStripe()
    _install(monkeypatch, fake)
    assert billing_init(quiet=True, environ=stripe_env) == 0
    assert fake.products and fake.prices and fake.meters
    with Billing.from_env(stripe_env) as billing, billing.context.db.read() as conn:
        rows = conn.execute(select(plans.c.plan_name, plans.c.stripe_product_id)).all()
    assert rows and all(product == f"nself_plan_{name}" for name, product in rows)

    made = len(fake.requests)
    assert billing_init(quiet=True, environ=stripe_env) == 0  # unchanged: Stripe not asked
    assert len(fake.requests) == made

    # forgetting what was synced (say, a new cache directory) syncs again: only reads
    marker = Billing.from_env(stripe_env)
    (marker.settings.cache_dir / "plans.stripe-synced").unlink()
    marker.close()
    assert billing_init(quiet=True, environ=stripe_env) == 0
    assert {method for method, _ in fake.requests[made:]} == {"get"}
    assert capsys.readouterr().err == ""


def test_a_stripe_error_during_init_is_one_line(
    stripe_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _install(monkeypatch, CatalogStripe(status=401))
    assert billing_init(environ=stripe_env) == 1
    err = capsys.readouterr().err
    assert err == "Error: Stripe API error: Invalid API Key (check STRIPE_SECRET_KEY)\n"
    assert "sk_test_init_secret_value" not in err


def test_the_local_provider_asks_no_one(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = CatalogStripe()
    _install(monkeypatch, fake)
    try:
        assert billing_init(quiet=True, environ=env) == 0
    finally:
        billing_close()
    assert fake.requests == []

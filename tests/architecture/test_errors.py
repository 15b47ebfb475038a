"""One error tree (errors.py): every BillingError class lives there and carries its HTTP answer."""

from __future__ import annotations

import importlib
import inspect

import nself_billing.errors as errors
from nself_billing.errors import BillingError
from tests.architecture.test_layers import modules


def test_every_billing_error_class_is_defined_in_errors_py() -> None:
    outside = []
    for name in modules():
        if name.endswith("__main__"):
            continue
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BillingError) and value.__module__ != errors.__name__:
                outside.append(f"{value.__module__}.{value.__qualname__}")
    assert sorted(set(outside)) == []


def test_every_class_carries_its_http_status_and_code() -> None:
    classes = [
        value
        for _, value in inspect.getmembers(errors, inspect.isclass)
        if issubclass(value, BillingError)
    ]
    assert len(classes) >= 18
    for kind in classes:
        assert 400 <= kind.status_code <= 599, kind
        assert kind.error_code.isupper(), kind
    assert errors.NotFound.status_code == 404
    assert errors.PlanNotFound("x").status_code == 404  # a subclass inherits its parent's
    assert errors.BadSignature.status_code == 400
    assert errors.ProviderError("x", http_status=402, code="card_declined").status_code == 502

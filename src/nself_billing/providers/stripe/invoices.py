"""Invoices and payment methods on Stripe."""

from __future__ import annotations

import dataclasses
from typing import Any

from ...errors import Conflict, NotFound, ProviderError
from ..port import RemoteInvoice, RemotePaymentMethod
from .client import StripeClientBase
from .mapping import invoice_from, payment_method_from

#: Stripe's error code when paying an invoice needs the customer to authenticate
REQUIRES_ACTION = "invoice_payment_intent_requires_action"


class StripeInvoices(StripeClientBase):
    def list_invoices(self, customer_id: str, *, limit: int = 10) -> list[RemoteInvoice]:
        page = self._get(
            lambda: self.client.v1.invoices.list(
                {"customer": customer_id, "limit": max(1, min(limit, 100))}
            )
        )
        return [invoice_from(i) for i in page.get("data", [])]

    def retrieve_invoice(self, invoice_id: str) -> RemoteInvoice:
        return invoice_from(self._get(lambda: self.client.v1.invoices.retrieve(invoice_id)))

    def pay_invoice(self, invoice_id: str, *, idempotency_key: str) -> RemoteInvoice:
        """Pay with the default payment method and say what Stripe answered: ``paid``,
        ``processing`` (accepted, not settled: the invoice stays open) or ``requires_action``
        (the customer authenticates on the hosted invoice page)."""
        try:
            paid = invoice_from(
                self._get(
                    lambda: self.client.v1.invoices.pay(
                        invoice_id, options=self._idem(idempotency_key)
                    )
                )
            )
        except ProviderError as error:
            if error.code != REQUIRES_ACTION:
                raise
            waiting = self.retrieve_invoice(invoice_id)
            return dataclasses.replace(waiting, payment_state="requires_action")
        state = "paid" if paid.status == "paid" else "processing"
        return dataclasses.replace(paid, payment_state=state)

    def download_invoice_pdf(self, invoice_id: str) -> bytes:
        """The PDF Stripe renders (``invoice_pdf``, a signed link that needs no key), fetched
        with the SDK's own HTTP client."""
        invoice = self.retrieve_invoice(invoice_id)
        if not invoice.invoice_pdf:
            raise Conflict(f"Invoice {invoice_id} has no PDF yet (status {invoice.status})")
        url = invoice.invoice_pdf

        def fetch() -> tuple[Any, int, Any]:
            return self._http.request_stream_with_retries("get", url, {}, None, 2)  # type: ignore[no-any-return]

        stream, status, _ = self.call(fetch)
        body = stream.read() if hasattr(stream, "read") else bytes(stream)
        if hasattr(stream, "close"):
            stream.close()
        if status != 200 or not body.startswith(b"%PDF"):
            raise ProviderError(
                f"Stripe API error: invoice PDF download failed (HTTP {status})", http_status=status
            )
        return bytes(body)

    # --- payment methods -------------------------------------------------------------------

    def _default_payment_method(self, customer_id: str) -> str | None:
        customer = self._get(lambda: self.client.v1.customers.retrieve(customer_id))
        default = (customer.get("invoice_settings") or {}).get("default_payment_method")
        if isinstance(default, dict):
            default = default.get("id")
        return default or customer.get("default_source") or None

    def list_payment_methods(self, customer_id: str) -> list[RemotePaymentMethod]:
        default = self._default_payment_method(customer_id)
        page = self._get(
            lambda: self.client.v1.payment_methods.list(
                {"customer": customer_id, "type": "card", "limit": 100}
            )
        )
        return [payment_method_from(pm, default) for pm in page.get("data", [])]

    def detach_payment_method(
        self, customer_id: str, payment_method_id: str, *, idempotency_key: str
    ) -> None:
        methods = self.list_payment_methods(customer_id)
        target = next((m for m in methods if m.payment_method_id == payment_method_id), None)
        if target is None:
            raise NotFound(f"Payment method not found: {payment_method_id}")
        if target.is_default and len(methods) == 1:
            raise Conflict(
                f"Cannot remove {payment_method_id}: it is the only (default) "
                "payment method; add another first"
            )
        self._get(
            lambda: self.client.v1.payment_methods.detach(
                payment_method_id, options=self._idem(idempotency_key)
            )
        )

    def set_default_payment_method(
        self, customer_id: str, payment_method_id: str, *, idempotency_key: str
    ) -> None:
        params: Any = {"invoice_settings": {"default_payment_method": payment_method_id}}
        self._get(
            lambda: self.client.v1.customers.update(
                customer_id, params, options=self._idem(idempotency_key)
            )
        )

"""Email through SMTP (the standard library's smtplib and email): invoices and receipts with
their PDF, quota alerts, and the test message of ``notify email test``.

Messages are queued in the notification outbox like webhooks (``services.events``) and
rendered when sent, from templates in ``services/templates`` (plain text and HTML).
"""

from __future__ import annotations

import json
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import cache
from typing import TYPE_CHECKING, Any

from ..domain.money import format_money
from ..domain.periods import days_label
from ..errors import ConfigError, InvalidInput, NotFound
from ..settings import SmtpSettings
from ..store import customers as customer_store
from ..store import invoices as invoice_store
from .context import Context

if TYPE_CHECKING:
    from jinja2 import Environment

    from ..store.notify import Delivery

#: seconds an SMTP conversation may take
SMTP_TIMEOUT = 30


@cache
def _templates() -> Environment:
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(
        loader=PackageLoader("nself_billing.services", "templates"),
        autoescape=select_autoescape(["html"]),
        keep_trailing_newline=True,
    )


def _render(name: str, values: dict[str, Any]) -> tuple[str, str]:
    env = _templates()
    return env.get_template(f"{name}.txt").render(values), env.get_template(f"{name}.html").render(
        values
    )


def send_event_email(ctx: Context, delivery: Delivery) -> None:
    """Render and send the email of one queued event (raises on any SMTP failure)."""
    smtp = ctx.settings.smtp
    if smtp is None:
        raise ConfigError("SMTP is not configured (SMTP_HOST)")
    event = json.loads(delivery.payload)
    address = delivery.target.removeprefix("email:")
    message = build_event_message(ctx, event, address)
    # the event id makes the Message-ID: a resend after a crash is the same message
    message["Message-ID"] = f"<{event['id']}@{smtp.sender.partition('@')[2] or 'nself'}>"
    send(smtp, message)


def build_event_message(ctx: Context, event: dict[str, Any], address: str) -> EmailMessage:
    smtp = ctx.settings.smtp
    assert smtp is not None
    data = event.get("data") or {}
    customer_id = event.get("customer")
    pdf: bytes | None = None
    with ctx.db.read() as conn:
        customer = customer_store.get(conn, customer_id) if customer_id else None
        invoice = (
            invoice_store.get(conn, data["invoice"])
            if event["type"].startswith("invoice.") and data.get("invoice")
            else None
        )
        if invoice is not None:
            from .invoices import invoice_pdf_bytes

            pdf = invoice_pdf_bytes(ctx, conn, invoice, customer)
    name = (customer.name if customer and customer.name else None) or customer_id or "there"
    project = ctx.settings.project_name
    if invoice is not None:
        paid = event["type"] == "invoice.paid"
        total = format_money(invoice.total, invoice.currency)
        period = (
            days_label(invoice.period_start, invoice.period_end)
            if invoice.period_start and invoice.period_end
            else ""
        )
        lines = [
            {"description": line.description, "amount": format_money(line.amount, invoice.currency)}
            for line in invoice.lines
        ]
        text, html = _render(
            "invoice",
            {
                "invoice": invoice,
                "paid": paid,
                "total": total,
                "period": period,
                "lines": lines,
                "name": name,
                "project": project,
            },
        )
        subject = (
            f"Receipt for invoice {invoice.invoice_id} ({total})"
            if paid
            else f"Invoice {invoice.invoice_id} ({total})"
        )
        filename = f"{invoice.invoice_id}.pdf"
    elif event["type"] == "quota.threshold":
        text, html = _render(
            "quota_alert",
            {
                "service": data.get("service"),
                "threshold": data.get("threshold"),
                "usage": data.get("usage"),
                "limit": data.get("limit"),
                "unit": data.get("unit", ""),
                "name": name,
                "project": project,
            },
        )
        subject = f"{data.get('service')} reached {data.get('threshold')}% of its quota"
    else:
        raise NotFound(f"No email for event {event['id']} ({event['type']})")
    message = _message(smtp, address, subject, text, html)
    if pdf is not None:
        message.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)
    return message


def _message(smtp: SmtpSettings, to: str, subject: str, text: str, html: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def test_message(smtp: SmtpSettings, to: str) -> EmailMessage:
    if "@" not in to or any(c in to for c in "\r\n ,;"):
        raise InvalidInput(f"Invalid email address: {to!r}")
    message = _message(
        smtp,
        to,
        "nself-billing test email",
        "This is a test email from nself-billing: SMTP works.\n",
        "<p>This is a test email from nself-billing: SMTP works.</p>",
    )
    message["Message-ID"] = make_msgid(domain=smtp.sender.partition("@")[2] or None)
    return message


def send(smtp: SmtpSettings, message: EmailMessage) -> None:
    """One SMTP conversation: STARTTLS (default), implicit TLS or plain, then login if a user
    is configured."""
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if smtp.security == "tls":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=SMTP_TIMEOUT, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=SMTP_TIMEOUT)
    with client:
        if smtp.security == "starttls":
            client.starttls(context=context)
        if smtp.user:
            client.login(smtp.user, smtp.password.reveal() if smtp.password else "")
        client.send_message(message)

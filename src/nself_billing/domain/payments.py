"""Payment methods as references: a brand, the last four digits, the expiry, or a provider
token. Never a card number: taking card numbers needs PCI compliance, which is the payment
provider's job (its portal or elements)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ..errors import InvalidInput

BRANDS = ("visa", "mastercard", "amex", "discover", "diners", "jcb", "unionpay", "other")
_LAST4 = re.compile(r"^[0-9]{4}$")
_EXPIRY = re.compile(r"^(0?[1-9]|1[0-2])/([0-9]{2}|[0-9]{4})$")
_REFERENCE = re.compile(r"^[A-Za-z0-9_\-.:]{1,255}$")
_CARD_NUMBER = re.compile(r"[0-9][0-9 \-]{11,}[0-9]")


@dataclass(frozen=True)
class PaymentMethod:
    payment_method_id: str
    customer_id: str
    type: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    is_default: bool
    reference: str | None = None
    created_at: datetime | None = None

    @property
    def label(self) -> str:
        """``visa •••• 4242, expires 12/2030`` (or the reference when that is all we hold)."""
        if self.last4:
            text = f"{self.brand or 'card'} •••• {self.last4}"
            if self.exp_month and self.exp_year:
                text += f", expires {self.exp_month:02d}/{self.exp_year}"
            return text
        return f"{self.type} {self.reference or ''}".strip()


def parse_expiry(value: str, now: datetime) -> tuple[int, int]:
    """``12/2030`` or ``12/30`` -> (12, 2030); an expired card is refused."""
    match = _EXPIRY.match(value.strip())
    if not match:
        raise InvalidInput(f"Invalid expiry: {value} (expected MM/YYYY)")
    month, year = int(match.group(1)), int(match.group(2))
    if year < 100:
        year += 2000
    if (year, month) < (now.year, now.month):
        raise InvalidInput(f"Card expired: {month:02d}/{year}")
    return month, year


def check_card(brand: str | None, last4: str | None) -> tuple[str, str]:
    chosen = (brand or "").strip().lower()
    if chosen not in BRANDS:
        raise InvalidInput(f"Invalid brand: {brand} (expected one of: {', '.join(BRANDS)})")
    if not last4 or not _LAST4.match(last4):
        raise InvalidInput("Invalid last4: give the last four digits only, never a card number")
    return chosen, last4


def check_reference(reference: str) -> str:
    if _CARD_NUMBER.search(reference):
        raise InvalidInput(
            "That looks like a card number: store a provider token reference, never a card number"
        )
    if not _REFERENCE.match(reference):
        raise InvalidInput(f"Invalid payment method reference: {reference!r}")
    return reference

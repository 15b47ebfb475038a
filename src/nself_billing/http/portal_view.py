"""The customer portal page: one customer's plan, usage, quotas, invoices and payment methods,
rendered on the server by Jinja2 with autoescaping (every value a tenant or an operator typed
is escaped), charts as inline SVG, actions as plain POST forms. No JavaScript, no build
step."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..domain.humanize import human_count
from ..domain.services import SERVICES

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    peak: str
    first_day: str
    last_day: str


@dataclass(frozen=True)
class UsageLine:
    service: str
    unit: str
    quantity: Decimal
    events: int
    chart: Chart | None


@dataclass(frozen=True)
class QuotaLine:
    service: str
    unit: str
    used: Decimal
    limit: Decimal | None
    percent: int
    band: str
    icon: str
    mode: str


@dataclass(frozen=True)
class InvoiceLine:
    invoice_id: str
    number: str
    created: datetime | None
    period: str
    amount: Decimal
    currency: str
    status: str
    pdf_url: str | None
    due: date | None = None


@dataclass(frozen=True)
class PlanOption:
    name: str
    title: str
    price: str
    #: "upgrade" (now, prorated) or "downgrade" (at the period end)
    direction: str


@dataclass(frozen=True)
class MethodLine:
    payment_method_id: str
    label: str
    is_default: bool


@dataclass
class PortalPage:
    customer_id: str
    customer_name: str
    email: str
    plan: str | None = None
    plan_price: str | None = None
    status: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    cancel_at_period_end: bool = False
    scheduled_plan: str | None = None
    usage: list[UsageLine] = field(default_factory=list)
    quotas: list[QuotaLine] = field(default_factory=list)
    invoices: list[InvoiceLine] = field(default_factory=list)
    generated_at: datetime | None = None
    #: the signed link token and the CSRF token its forms carry
    token: str = ""
    csrf: str = ""
    #: whether the customer may act here (the local provider; Stripe has its own portal)
    actions: bool = False
    plan_options: list[PlanOption] = field(default_factory=list)
    methods: list[MethodLine] = field(default_factory=list)
    card_brands: tuple[str, ...] = ()
    #: the outcome of the last action: a confirmation, or why it was refused
    notice: str | None = None
    error: str | None = None


def day_chart(
    first_day: date,
    end_day: date,
    values: dict[date, Decimal],
    *,
    width: int = 560,
    height: int = 96,
) -> Chart:
    """One bar per UTC day of the period (``first_day`` <= day < ``end_day``), scaled to the
    busiest day."""
    days = max(1, (end_day - first_day).days)
    peak = max(values.values(), default=Decimal(0))
    slot = width / days
    bars = []
    for n in range(days):
        day = first_day + timedelta(days=n)
        value = values.get(day, Decimal(0))
        bar_height = float(value / peak) * (height - 4) if peak > 0 else 0.0
        bars.append(
            Bar(
                x=round(n * slot + 1, 2),
                y=round(height - bar_height, 2),
                width=round(max(slot - 2, 1), 2),
                height=round(bar_height, 2),
                label=f"{day.isoformat()}: {human_count(value)}",
            )
        )
    last = first_day + timedelta(days=days - 1)
    return Chart(
        width, height, tuple(bars), human_count(peak), first_day.isoformat(), last.isoformat()
    )


SERVICE_TITLES = {
    "api": "API",
    "storage": "Storage",
    "bandwidth": "Bandwidth",
    "compute": "Compute",
    "database": "Database",
    "functions": "Functions",
}
_SINGULAR = {"requests": "request", "queries": "query", "invocations": "invocation"}
_TENTH = Decimal("0.1")


def service_title(service: str) -> str:
    return SERVICE_TITLES.get(service, service.capitalize())


def figure(service: str, value: Decimal | None) -> str:
    """A quantity without its unit (the unit is shown once, beside the service): 950.0K
    requests -> ``950.0K``, 3.5 GB-hours -> ``3.5``; None (no limit) -> ``Unlimited``."""
    if value is None:
        return "Unlimited"
    style = SERVICES[service].style if service in SERVICES else "count"
    if style == "count":
        return human_count(value)
    return str(value.quantize(_TENTH, rounding=ROUND_HALF_UP))


def amount(service: str, value: Decimal) -> str:
    """A quantity with its unit, once: ``3.5 GB-hours``, ``0.0 GB``, ``1 request``."""
    unit = SERVICES[service].unit if service in SERVICES else ""
    text = figure(service, value)
    if value == 1 and unit in _SINGULAR:
        unit = _SINGULAR[unit]
    return f"{text} {unit}".strip()


def plural(count: int, word: str) -> str:
    """``1 event``, ``2 events``, ``1,234 events``."""
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def _money(value: Decimal | None, currency: str = "usd") -> str:
    if value is None:
        return "-"
    symbol = "$" if currency.lower() == "usd" else f"{currency.upper()} "
    return f"{symbol}{value:,.2f}"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["amount"] = amount
    env.globals["figure"] = figure
    env.globals["plural"] = plural
    env.globals["service_title"] = service_title
    env.filters["money"] = _money
    return env


def render(page: PortalPage) -> str:
    return _environment().get_template("portal.html").render(page=page)

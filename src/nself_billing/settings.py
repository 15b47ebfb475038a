"""Configuration: the only module that reads environment variables.

Order of precedence: the process environment, then ``${NSELF_ROOT}/.env``, then defaults.
Every variable of the spec's Configuration section is honoured.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import BillingError, ConfigError, InvalidInput

LOG_LEVELS = ("debug", "info", "warning", "error")
#: where `webhook test` posts when no URL is given: the receiver of a local `serve`
DEFAULT_WEBHOOK_URL = "http://127.0.0.1:8400/api/webhooks/stripe"
#: how long shipped raw events stay in PostgreSQL (never before their period is closed)
DEFAULT_RAW_USAGE_KEEP_DAYS = 35


class Secret:
    """A value that never shows itself in a repr, a log line or an exception."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand(value: str, known: Mapping[str, str]) -> str:
    """``${VAR}`` and ``${VAR:-default}`` from the process environment, NSELF_ROOT and the
    lines above in the same file (as a shell would)."""
    return _REFERENCE.sub(lambda m: known.get(m.group(1)) or m.group(2) or "", value)


def read_dotenv(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Values of a .env file; a line that does not parse is a configuration error."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    try:
        with path.open(encoding="utf-8") as stream:
            for binding in parse_stream(stream):
                if binding.error:
                    raise ConfigError(
                        f"Malformed {path.name} at line {binding.original.line}: "
                        f"{binding.original.string.strip()[:60]!r}"
                    )
    except UnicodeDecodeError:
        raise ConfigError(f"Malformed {path.name}: not UTF-8 text") from None
    known = dict(environ or {})
    values: dict[str, str] = {}
    for key, raw in dotenv_values(path, interpolate=False).items():
        if raw is None:
            continue
        values[key] = _expand(raw, {**values, **known})
    return values


@dataclass(frozen=True)
class Settings:
    nself_root: Path
    data_dir: Path
    cache_dir: Path
    export_dir: Path
    #: where `export` writes by default: BILLING_EXPORT_DIR if set, else the current directory
    export_default_dir: Path | None
    log_file: Path
    log_level: str
    database_url: Secret | None
    customer_id: str | None
    project_name: str | None
    base_url: str | None
    provider: str
    stripe_secret_key: Secret | None
    stripe_publishable_key: str | None
    stripe_webhook_secret: Secret | None
    stripe_api_version: str | None
    stripe_api_base: str | None
    #: signs customer portal links of the local provider (services/portal_links.py)
    portal_secret: Secret | None = None
    #: the HTTP service's limits (docs/HTTP.md, "Operational limits"); None is no limit
    http_max_header_bytes: int = 16 * 1024
    http_request_timeout: float | None = 15.0
    #: the HTTP service's database sessions: PostgreSQL statement_timeout, and lock_timeout
    #: (SQLite: its busy timeout)
    db_statement_timeout: float | None = 10.0
    db_lock_timeout: float | None = 10.0
    #: the seller printed on invoices (domain/seller.py)
    seller_name: str | None = None
    seller_address: str | None = None
    seller_tax_id: str | None = None
    seller_email: str | None = None
    payment_instructions: str | None = None
    #: invoice numbers are ``<prefix>-000123``, one gap-free sequence per prefix
    invoice_prefix: str = "INV"
    invoice_due_days: int = 30
    #: outgoing mail (receipts, quota alerts); None: no email is queued
    smtp: SmtpSettings | None = None
    #: quota threshold alerts also go to the customer's email (BILLING_EMAIL_QUOTA_ALERTS=1)
    email_quota_alerts: bool = False
    #: GET /metrics without an admin key (BILLING_METRICS_PUBLIC=1)
    metrics_public: bool = False
    #: seconds a notification delivery may take (BILLING_NOTIFY_TIMEOUT)
    notify_timeout: float = 10.0
    #: hours a notification is retried before it fails (and its endpoint is disabled)
    notify_retry_hours: float = 72.0
    #: the billing log is rotated past this size (BILLING_LOG_MAX_BYTES), keeping 5 old files
    log_max_bytes: int = 10 * 1024 * 1024
    #: BILLING_CLICKHOUSE_URL: the raw events' store (http(s)://... or chdb:///dir); None: off
    clickhouse_url: Secret | None = None
    #: BILLING_RAW_USAGE_KEEP_DAYS: days raw events stay in PostgreSQL once shipped to
    #: ClickHouse (None: "forever", never deleted)
    raw_usage_keep_days: int | None = DEFAULT_RAW_USAGE_KEEP_DAYS

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "billing.db"

    @property
    def uses_postgresql(self) -> bool:
        return self.database_url is not None

    @property
    def debug(self) -> bool:
        return self.log_level == "debug"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, cwd: Path | None = None
    ) -> Settings:
        env = dict(os.environ if environ is None else environ)
        root = Path(env.get("NSELF_ROOT") or (cwd or Path.cwd())).expanduser()
        present = {k: v for k, v in env.items() if v != ""}
        merged = {**read_dotenv(root / ".env", {**present, "NSELF_ROOT": str(root)}), **present}

        def get(name: str) -> str | None:
            value = merged.get(name)
            return value if value not in (None, "") else None

        data_dir = Path(get("BILLING_DATA_DIR") or root / ".nself" / "billing").expanduser()
        log_level = (get("NSELF_LOG_LEVEL") or "info").lower()
        if log_level not in LOG_LEVELS:
            raise ConfigError(
                f"Invalid NSELF_LOG_LEVEL: {log_level} (expected one of: {', '.join(LOG_LEVELS)})"
            )
        stripe_key = get("STRIPE_SECRET_KEY")
        provider = (get("BILLING_PROVIDER") or ("stripe" if stripe_key else "local")).lower()
        if provider not in ("local", "stripe"):
            raise ConfigError(f"Invalid BILLING_PROVIDER: {provider} (expected local or stripe)")
        export_dir = get("BILLING_EXPORT_DIR")
        return cls(
            nself_root=root,
            data_dir=data_dir,
            cache_dir=Path(get("BILLING_CACHE_DIR") or data_dir / "cache").expanduser(),
            export_dir=Path(export_dir or data_dir / "exports").expanduser(),
            export_default_dir=Path(export_dir).expanduser() if export_dir else None,
            log_file=Path(get("BILLING_LOG_FILE") or data_dir / "billing.log").expanduser(),
            log_level=log_level,
            database_url=_database_url(get),
            customer_id=get("NSELF_CUSTOMER_ID"),
            project_name=get("PROJECT_NAME"),
            base_url=get("NSELF_BASE_URL"),
            provider=provider,
            stripe_secret_key=Secret(stripe_key) if stripe_key else None,
            stripe_publishable_key=get("STRIPE_PUBLISHABLE_KEY"),
            stripe_webhook_secret=_secret(get("STRIPE_WEBHOOK_SECRET")),
            stripe_api_version=get("STRIPE_API_VERSION"),
            stripe_api_base=get("STRIPE_API_BASE"),
            portal_secret=_secret(get("BILLING_PORTAL_SECRET")),
            http_max_header_bytes=_header_bytes(get("BILLING_HTTP_MAX_HEADER_BYTES")),
            http_request_timeout=_seconds(get, "BILLING_HTTP_REQUEST_TIMEOUT", 15.0),
            db_statement_timeout=_seconds(get, "BILLING_DB_STATEMENT_TIMEOUT", 10.0),
            db_lock_timeout=_seconds(get, "BILLING_DB_LOCK_TIMEOUT", 10.0),
            seller_name=get("BILLING_SELLER_NAME") or get("PROJECT_NAME"),
            seller_address=get("BILLING_SELLER_ADDRESS"),
            seller_tax_id=get("BILLING_SELLER_TAX_ID"),
            seller_email=get("BILLING_SELLER_EMAIL"),
            payment_instructions=get("BILLING_PAYMENT_INSTRUCTIONS"),
            invoice_prefix=_invoice_prefix(get("BILLING_INVOICE_PREFIX")),
            invoice_due_days=_due_days(get("BILLING_INVOICE_DUE_DAYS")),
            smtp=_smtp(get),
            email_quota_alerts=_flag(get, "BILLING_EMAIL_QUOTA_ALERTS"),
            metrics_public=_flag(get, "BILLING_METRICS_PUBLIC"),
            notify_timeout=_number(get, "BILLING_NOTIFY_TIMEOUT", 10.0),
            notify_retry_hours=_number(get, "BILLING_NOTIFY_RETRY_HOURS", 72.0),
            log_max_bytes=int(_number(get, "BILLING_LOG_MAX_BYTES", 10 * 1024 * 1024)),
            clickhouse_url=_clickhouse_url(get("BILLING_CLICKHOUSE_URL")),
            raw_usage_keep_days=_keep_days(get("BILLING_RAW_USAGE_KEEP_DAYS")),
        )


SMTP_SECURITY = ("starttls", "tls", "none")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str | None
    password: Secret | None
    sender: str
    #: starttls (default) | tls (implicit TLS, usually port 465) | none
    security: str


def _smtp(lookup: Callable[[str], str | None]) -> SmtpSettings | None:
    host = lookup("SMTP_HOST")
    if not host:
        return None
    security = (lookup("SMTP_SECURITY") or "starttls").lower()
    if security not in SMTP_SECURITY:
        raise ConfigError(
            f"Invalid SMTP_SECURITY: {security} (expected one of: {', '.join(SMTP_SECURITY)})"
        )
    port = lookup("SMTP_PORT") or ("465" if security == "tls" else "587")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"Invalid SMTP_PORT: {port}")
    sender = lookup("SMTP_FROM")
    if not sender or "@" not in sender:
        raise ConfigError("SMTP_FROM must be set to the sender's address when SMTP_HOST is set")
    return SmtpSettings(
        host=host,
        port=int(port),
        user=lookup("SMTP_USER"),
        password=_secret(lookup("SMTP_PASSWORD")),
        sender=sender,
        security=security,
    )


#: the one reading of a yes/no value (environment variables, the function API's arguments)
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")


def parse_flag(
    value: bool | str | None, name: str, error: type[BillingError] = InvalidInput
) -> bool:
    """``True``/``False``, or one of TRUE_WORDS/FALSE_WORDS (any case; unset is false);
    anything else raises ``error`` naming ``name``."""
    if isinstance(value, bool):
        return value
    text = (value or "").strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise error(f"Invalid {name}: {text} (expected 1 or 0)")


def _flag(lookup: Callable[[str], str | None], name: str) -> bool:
    return parse_flag(lookup(name), name, ConfigError)


def _float_or_invalid(raw: str) -> float:
    """The number written, or -1 (which every bound refuses) for text that is none."""
    try:
        return float(raw)
    except ValueError:
        return -1.0


def _number(lookup: Callable[[str], str | None], name: str, default: float) -> float:
    raw = lookup(name)
    if raw is None:
        return default
    value = _float_or_invalid(raw)
    if not value > 0:
        raise ConfigError(f"Invalid {name}: {raw} (expected a positive number)")
    return value


def _seconds(lookup: Callable[[str], str | None], name: str, default: float) -> float | None:
    """A limit in seconds: a number, ``0`` for none (None), ``default`` if unset."""
    raw = lookup(name)
    if raw is None:
        return default
    value = _float_or_invalid(raw)
    if not 0 <= value <= 86_400:  # NaN fails too
        raise ConfigError(f"Invalid {name}: {raw} (expected seconds, up to a day, or 0 for none)")
    return value or None


def _header_bytes(raw: str | None) -> int:
    if raw is None:
        return 16 * 1024
    if not raw.isdigit() or not 1024 <= int(raw) <= 64 * 1024 * 1024:
        raise ConfigError(
            f"Invalid BILLING_HTTP_MAX_HEADER_BYTES: {raw} (expected bytes, 1024 to 67108864)"
        )
    return int(raw)


#: Stripe's rule for an invoice prefix: 3 to 12 upper-case letters or digits
_INVOICE_PREFIX = re.compile(r"^[A-Z0-9]{3,12}$")
MAX_DUE_DAYS = 365


def _invoice_prefix(value: str | None) -> str:
    if value is None:
        return "INV"
    if not _INVOICE_PREFIX.match(value.strip()):
        raise ConfigError(
            f"Invalid BILLING_INVOICE_PREFIX: {value!r} (expected 3 to 12 upper-case letters "
            "or digits, e.g. INV)"
        )
    return value.strip()


def _due_days(value: str | None) -> int:
    if value is None:
        return 30
    if not value.strip().isdigit() or int(value) > MAX_DUE_DAYS:
        raise ConfigError(
            f"Invalid BILLING_INVOICE_DUE_DAYS: {value!r} (expected 0 to {MAX_DUE_DAYS} days)"
        )
    return int(value)


def _secret(value: str | None) -> Secret | None:
    return Secret(value) if value else None


#: the schemes BILLING_DATABASE_URL takes (all PostgreSQL; SQLite is the default without one)
DATABASE_URL_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
#: the spec's variables beside BILLING_DB_HOST, which alone selects PostgreSQL
DB_DETAIL_VARIABLES = (
    "BILLING_DB_PORT",
    "BILLING_DB_NAME",
    "BILLING_DB_USER",
    "BILLING_DB_PASSWORD",
)


def _database_url(lookup: Callable[[str], str | None]) -> Secret | None:
    """BILLING_DATABASE_URL, else a PostgreSQL URL from the spec's BILLING_DB_* variables."""
    url = lookup("BILLING_DATABASE_URL")
    if url:
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in DATABASE_URL_SCHEMES:
            raise ConfigError(
                f"Unsupported database in BILLING_DATABASE_URL: "
                f"{scheme + '://' if scheme else 'no scheme'} (use postgresql://user:password@host"
                ":port/database; without it the embedded SQLite is used)"
            )
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return Secret(url)
    host = lookup("BILLING_DB_HOST")
    if not host:
        given = [name for name in DB_DETAIL_VARIABLES if lookup(name)]
        if given:
            raise ConfigError(
                f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} set but "
                "BILLING_DB_HOST is not: set BILLING_DB_HOST to use PostgreSQL, or unset "
                f"{'it' if len(given) == 1 else 'them'} to use the embedded SQLite"
            )
        return None
    from sqlalchemy.engine import URL

    port = lookup("BILLING_DB_PORT") or "5432"
    if not port.isdigit():
        raise ConfigError(f"Invalid BILLING_DB_PORT: {port}")
    built = URL.create(
        "postgresql+psycopg",
        username=lookup("BILLING_DB_USER") or "postgres",
        password=lookup("BILLING_DB_PASSWORD"),
        host=host,
        port=int(port),
        database=lookup("BILLING_DB_NAME") or "nself",
    )
    return Secret(built.render_as_string(hide_password=False))


def _clickhouse_url(url: str | None) -> Secret | None:
    """http(s)://user:password@host:8123/database for a server, chdb:///directory for the
    embedded engine; the message never repeats the URL (it may hold a password)."""
    if url is None:
        return None
    scheme = url.split(":", 1)[0].lower()
    if scheme not in ("http", "https", "chdb") or "://" not in url:
        raise ConfigError(
            "Invalid BILLING_CLICKHOUSE_URL (expected http(s)://user:password@host:8123/db "
            "or chdb:///path/to/dir)"
        )
    return Secret(url)


def _keep_days(value: str | None) -> int | None:
    if value is None:
        return DEFAULT_RAW_USAGE_KEEP_DAYS
    if value.lower() in ("forever", "keep"):
        return None
    if not value.isdigit():
        raise ConfigError(
            f"Invalid BILLING_RAW_USAGE_KEEP_DAYS: {value} (expected a number of days or forever)"
        )
    return int(value)

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

from .errors import ConfigError

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
    #: signs customer portal links of the local provider (services/portal.py)
    portal_secret: Secret | None = None
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
            clickhouse_url=_clickhouse_url(get("BILLING_CLICKHOUSE_URL")),
            raw_usage_keep_days=_keep_days(get("BILLING_RAW_USAGE_KEEP_DAYS")),
        )


def _secret(value: str | None) -> Secret | None:
    return Secret(value) if value else None


def _database_url(lookup: Callable[[str], str | None]) -> Secret | None:
    """BILLING_DATABASE_URL, else a PostgreSQL URL from the spec's BILLING_DB_* variables."""
    url = lookup("BILLING_DATABASE_URL")
    if url:
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return Secret(url)
    host = lookup("BILLING_DB_HOST")
    if not host:
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

"""The spec's billing_validate_config, billing_test_db_connection and
billing_test_stripe_connection, gathered by ``doctor``."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BillingError
from ..store.migrate import SCHEMA_REVISION, current_revision
from .context import Context


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    #: a check that does not apply (e.g. Stripe with the local provider) is skipped, not failed
    skipped: bool = False


class Diagnostics:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def validate_config(self) -> list[Check]:
        settings = self._ctx.settings
        checks = [
            Check(
                "database",
                True,
                "PostgreSQL" if settings.uses_postgresql else f"SQLite at {settings.sqlite_path}",
            ),
            Check("provider", True, settings.provider),
        ]
        if settings.provider == "stripe":
            key = settings.stripe_secret_key.reveal() if settings.stripe_secret_key else ""
            key_ok = key.startswith(("sk_", "rk_"))
            checks.append(
                Check(
                    "stripe key",
                    key_ok,
                    "set" if key_ok else "STRIPE_SECRET_KEY missing or not sk_/rk_",
                )
            )
            checks.append(
                Check(
                    "webhook secret",
                    bool(settings.stripe_webhook_secret),
                    "set" if settings.stripe_webhook_secret else "STRIPE_WEBHOOK_SECRET is not set",
                )
            )
        return checks

    def test_db_connection(self) -> Check:
        try:
            with self._ctx.db.read() as conn:
                revision = current_revision(conn)
        except BillingError as error:
            return Check("database connection", False, error.message)
        if revision != SCHEMA_REVISION:
            return Check(
                "database connection",
                False,
                f"schema at {revision or 'none'}, expected {SCHEMA_REVISION} "
                "(run: nself tenant billing migrate)",
            )
        return Check("database connection", True, f"connected, schema {revision}")

    def test_stripe_connection(self) -> Check:
        if self._ctx.settings.provider != "stripe":
            return Check("stripe connection", True, "not configured (local provider)", skipped=True)
        try:
            return Check("stripe connection", True, self._ctx.provider.check_connection())
        except BillingError as error:
            return Check("stripe connection", False, error.message)

    def run_all(self) -> list[Check]:
        return [*self.validate_config(), self.test_db_connection(), self.test_stripe_connection()]

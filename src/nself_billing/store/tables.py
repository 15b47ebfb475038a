"""The schema. The spec's six tables keep their names and columns (people query them with
``billing_db_query``); every column added to them has a default, so a row inserted with only
the spec's columns still works. The migrations in ``migrations/`` create exactly this.

Deliberate widenings of the spec: timestamps are TIMESTAMPTZ (UTC), ``billing_quotas.limit_value``
is NUMERIC(20,6) instead of BIGINT because the free plan's compute limit is 0.5 CPU-hours, and
ids are BIGINT. Quantities are also kept as exact integer micro-units (SQLite sums NUMERIC
in floating point).
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)

from .types import BigId, JsonDoc, UTCDateTime

metadata = MetaData()

NOW = func.now()

customers = Table(
    "billing_customers",
    metadata,
    Column("customer_id", String(255), primary_key=True),
    Column("project_name", String(255)),
    Column("email", String(255)),
    Column("name", String(255)),
    Column("created_at", UTCDateTime, server_default=NOW),
    Column("phone", String(64)),
    Column("updated_at", UTCDateTime, server_default=NOW),
)

plans = Table(
    "billing_plans",
    metadata,
    Column("plan_name", String(50), primary_key=True),
    Column("price_monthly", Numeric(10, 2)),
    Column("price_yearly", Numeric(10, 2)),
    Column("stripe_price_id", String(255)),
    Column("description", Text),
    Column("created_at", UTCDateTime, server_default=NOW),
    Column("tier", Integer, nullable=False, server_default=text("0")),
    Column("currency", String(3), nullable=False, server_default=text("'usd'")),
    Column("stripe_price_id_yearly", String(255)),
    Column("stripe_product_id", String(255)),
)

quotas = Table(
    "billing_quotas",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("plan_name", String(50), ForeignKey("billing_plans.plan_name", ondelete="CASCADE")),
    Column("service_name", String(50)),
    Column("limit_value", Numeric(20, 6)),
    Column("limit_type", String(50)),
    Column("enforcement_mode", String(10)),
    Column("overage_price", Numeric(18, 9)),
    UniqueConstraint("plan_name", "service_name", name="uq_billing_quotas_plan_service"),
)

subscriptions = Table(
    "billing_subscriptions",
    metadata,
    Column("subscription_id", String(255), primary_key=True),
    Column("customer_id", String(255), ForeignKey("billing_customers.customer_id")),
    Column("plan_name", String(50)),
    Column("status", String(50)),
    Column("current_period_start", UTCDateTime),
    Column("current_period_end", UTCDateTime),
    Column("cancel_at_period_end", Boolean, server_default=false()),
    Column("created_at", UTCDateTime, server_default=NOW),
    Column("updated_at", UTCDateTime, server_default=NOW),
    # additions: the billing cycle, scheduled changes and provider ordering
    Column("billing_interval", String(10), nullable=False, server_default=text("'month'")),
    Column("anchor_at", UTCDateTime),
    Column("trial_end", UTCDateTime),
    Column("scheduled_plan_name", String(50)),
    Column("canceled_at", UTCDateTime),
    Column("ended_at", UTCDateTime),
    Column("provider_schedule_id", String(255)),
    #: the provider's timestamp of the newest state applied (webhooks never roll back past it)
    Column("provider_updated_at", UTCDateTime),
    #: the plan the current period began on, whose price the period's invoice bills (upgrades
    #: during the period are charged at once); NULL means plan_name
    Column("period_plan_name", String(50)),
)
Index("idx_subscriptions_customer", subscriptions.c.customer_id)
Index("idx_subscriptions_period_end", subscriptions.c.status, subscriptions.c.current_period_end)

usage_records = Table(
    "billing_usage_records",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # no foreign key here: the customer is checked by the rollups' (migration 0016; every event
    # is written with its rollup row, which references the customer), once per (customer,
    # service, day) instead of once per event
    Column("customer_id", String(255)),
    Column("service_name", String(50)),
    Column("quantity", Numeric(20, 6)),
    Column("metadata", JsonDoc),
    Column("recorded_at", UTCDateTime, server_default=NOW),
    # additions: exactness, idempotency, late-arrival detection
    Column("quantity_micros", BigInteger),
    Column("idempotency_key", String(255)),
    Column("ingested_at", UTCDateTime, server_default=NOW),
    # an event's identity is the pair (customer, client id), migration 0008; the key first, so
    # time-ordered generated keys append to the index (store/events.py)
    UniqueConstraint(
        "idempotency_key", "customer_id", name="uq_billing_usage_records_customer_key"
    ),
)
Index("idx_usage_customer_service", usage_records.c.customer_id, usage_records.c.service_name)
# PostgreSQL also has the procedures billing_quota_consume(...) and billing_quota_consume_many
# over these two tables (quota consume in one CALL; migration 0008, kept equal to
# store.events.record_one by tests/store/test_quota_consume_parity.py)
Index("idx_usage_recorded_at", usage_records.c.recorded_at)

usage_daily = Table(
    "billing_usage_daily",
    metadata,
    #: the customer check of every event (migration 0016): a new (customer, service, day) row
    #: is checked, an update of an existing one keeps its key and is not
    Column(
        "customer_id", String(255), ForeignKey("billing_customers.customer_id"), primary_key=True
    ),
    Column("service_name", String(50), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("quantity_micros", BigInteger, nullable=False, server_default=text("0")),
    Column("events", BigInteger, nullable=False, server_default=text("0")),
    sqlite_with_rowid=False,
)

invoices = Table(
    "billing_invoices",
    metadata,
    Column("invoice_id", String(255), primary_key=True),
    Column("customer_id", String(255), ForeignKey("billing_customers.customer_id")),
    Column("total_amount", Numeric(10, 2)),
    Column("status", String(50)),
    Column("period_start", UTCDateTime),
    Column("period_end", UTCDateTime),
    Column("created_at", UTCDateTime, server_default=NOW),
    Column("paid_at", UTCDateTime),
    # additions
    Column("subscription_id", String(255)),
    Column("kind", String(20), nullable=False, server_default=text("'subscription'")),
    Column("currency", String(3), nullable=False, server_default=text("'usd'")),
    Column("subtotal_amount", Numeric(10, 2)),
    #: ``INV-000123``: given when the invoice is finalized, one gap-free sequence per prefix
    #: (billing_invoice_counters); Stripe's own number for an invoice mirrored from Stripe
    Column("number", String(64)),
    #: what made this invoice, e.g. "close:sub_x:2026-01-01T00:00:00+00:00" (one invoice each)
    Column("source_key", String(255)),
    Column("finalized_at", UTCDateTime),
    Column("hosted_invoice_url", Text),
    Column("invoice_pdf_url", Text),
    Column("provider_updated_at", UTCDateTime),
    Column("due_at", UTCDateTime),
    UniqueConstraint("source_key", name="uq_billing_invoices_source_key"),
)
Index("idx_invoices_customer_created", invoices.c.customer_id, invoices.c.created_at)

invoice_counters = Table(
    "billing_invoice_counters",
    metadata,
    #: one gap-free sequence per invoice number prefix
    Column("prefix", String(12), primary_key=True),
    #: the last number given; updated in the transaction that finalizes an invoice, whose
    #: row lock makes concurrent finalizations take their numbers one after the other
    Column("last_number", BigInteger, nullable=False, server_default=text("0")),
    Column("updated_at", UTCDateTime, server_default=NOW),
)

invoice_lines = Table(
    "billing_invoice_lines",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "invoice_id",
        String(255),
        ForeignKey("billing_invoices.invoice_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("line_no", Integer, nullable=False),
    #: base | overage | proration | adjustment
    Column("kind", String(20), nullable=False),
    Column("service_name", String(50)),
    Column("description", Text, nullable=False),
    Column("quantity", Numeric(20, 6), nullable=False, server_default=text("1")),
    Column("unit_price", Numeric(20, 9), nullable=False, server_default=text("0")),
    Column("amount", Numeric(12, 2), nullable=False),
    Column("period_start", UTCDateTime),
    Column("period_end", UTCDateTime),
    UniqueConstraint("invoice_id", "line_no", name="uq_billing_invoice_lines_no"),
)

payment_methods = Table(
    "billing_payment_methods",
    metadata,
    Column("payment_method_id", String(255), primary_key=True),
    Column("customer_id", String(255), ForeignKey("billing_customers.customer_id"), nullable=False),
    Column("type", String(32), nullable=False, server_default=text("'card'")),
    Column("brand", String(32)),
    Column("last4", String(4)),
    Column("exp_month", Integer),
    Column("exp_year", Integer),
    Column("is_default", Boolean, nullable=False, server_default=false()),
    Column("created_at", UTCDateTime, server_default=NOW),
    Column("detached_at", UTCDateTime),
    #: a provider token or vault reference (never a card number)
    Column("reference", String(255)),
)
Index("idx_payment_methods_customer", payment_methods.c.customer_id)

payments = Table(
    "billing_payments",
    metadata,
    Column("payment_id", String(255), primary_key=True),
    Column("invoice_id", String(255), ForeignKey("billing_invoices.invoice_id"), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("amount", Numeric(10, 2), nullable=False),
    Column("currency", String(3), nullable=False, server_default=text("'usd'")),
    Column("status", String(32), nullable=False),
    Column("payment_method_id", String(255)),
    Column("created_at", UTCDateTime, server_default=NOW),
    Column("idempotency_key", String(255)),
    UniqueConstraint("idempotency_key", name="uq_billing_payments_idempotency_key"),
)

rated_usage = Table(
    "billing_rated_usage",
    metadata,
    Column("subscription_id", String(255), primary_key=True),
    Column("period_start", UTCDateTime, primary_key=True),
    Column("service_name", String(50), primary_key=True),
    Column("period_end", UTCDateTime, nullable=False),
    #: the plan whose quotas rated the period
    Column("plan_name", String(50), nullable=False),
    #: usage billed so far for the period (micro-units) and what it cost
    Column("quantity_micros", BigInteger, nullable=False, server_default=text("0")),
    Column("amount", Numeric(12, 2), nullable=False, server_default=text("0")),
    #: the invoice that last billed it
    Column("invoice_id", String(255)),
    Column("updated_at", UTCDateTime, server_default=NOW),
    sqlite_with_rowid=False,
)
Index("idx_rated_usage_period_end", rated_usage.c.period_end)

webhook_events = Table(
    "billing_webhook_events",
    metadata,
    Column("event_id", String(255), primary_key=True),
    Column("type", String(100), nullable=False),
    Column("api_version", String(32)),
    #: when the provider created the event (its ordering clock)
    Column("created", UTCDateTime),
    Column("payload", Text, nullable=False),
    Column("received_at", UTCDateTime, server_default=NOW),
    Column("processed_at", UTCDateTime),
    #: received | processed | ignored | failed
    Column("status", String(20), nullable=False, server_default=text("'received'")),
    Column("error", Text),
)
Index("idx_webhook_events_received", webhook_events.c.received_at)

quota_overrides = Table(
    "billing_quota_overrides",
    metadata,
    Column(
        "customer_id", String(255), ForeignKey("billing_customers.customer_id"), primary_key=True
    ),
    Column("service_name", String(50), primary_key=True),
    #: NULL means unlimited for this customer
    Column("limit_value", Numeric(20, 6)),
    Column("enforcement_mode", String(10)),
    Column("overage_price", Numeric(18, 9)),
    Column("created_at", UTCDateTime, server_default=NOW),
)

quota_alerts = Table(
    "billing_quota_alerts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("customer_id", String(255), nullable=False),
    Column("service_name", String(50), nullable=False),
    Column("threshold", Integer, nullable=False),
    Column("period_start", UTCDateTime, nullable=False),
    Column("usage", Numeric(20, 6), nullable=False),
    Column("limit_value", Numeric(20, 6), nullable=False),
    Column("created_at", UTCDateTime, server_default=NOW),
    UniqueConstraint(
        "customer_id",
        "service_name",
        "threshold",
        "period_start",
        name="uq_billing_quota_alerts_once",
    ),
)

api_keys = Table(
    "billing_api_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    #: NULL for an admin key
    Column("customer_id", String(255), ForeignKey("billing_customers.customer_id")),
    Column("is_admin", Boolean, nullable=False, server_default=false()),
    Column("name", String(255)),
    Column("key_hash", String(128), nullable=False),
    Column("created_at", UTCDateTime, server_default=NOW),
    Column("revoked_at", UTCDateTime),
    UniqueConstraint("key_hash", name="uq_billing_api_keys_hash"),
)

usage_outbox = Table(
    "billing_usage_outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("usage_record_id", BigInteger),
    #: sent to Stripe with the event; the same on every retry, so Stripe counts it once
    Column("identifier", String(100), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("service_name", String(50), nullable=False),
    Column("quantity_micros", BigInteger, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    #: pending | sent | failed (rejected by Stripe) | expired (older than Stripe accepts) |
    #: unknown (first sent over 24 h ago without an answer: not resent, see reconcile)
    Column("status", String(10), nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", UTCDateTime),
    #: a drainer's lease on the row, so two drainers do not send the same batch at once
    Column("claimed_until", UTCDateTime),
    Column("claim_token", String(32)),
    Column("last_error", Text),
    Column("sent_at", UTCDateTime),
    Column("created_at", UTCDateTime, server_default=NOW),
    #: the first send whose outcome was unknown: Stripe deduplicates identifiers for 24 h
    Column("first_attempt_at", UTCDateTime),
    UniqueConstraint("identifier", name="uq_billing_usage_outbox_identifier"),
)
Index("idx_usage_outbox_status", usage_outbox.c.status, usage_outbox.c.id)
Index("idx_usage_outbox_usage_record", usage_outbox.c.usage_record_id)

stripe_object_state = Table(
    "billing_stripe_object_state",
    metadata,
    #: a Stripe object id (sub_..., in_..., cus_..., pm_...)
    Column("object_id", String(255), primary_key=True),
    Column("object_type", String(50), nullable=False),
    #: ``created`` of the newest event applied to it: an older event never rolls it back
    Column("last_event_created", UTCDateTime, nullable=False),
    Column("last_event_id", String(255), nullable=False),
)

provider_operations = Table(
    "billing_provider_operations",
    metadata,
    #: the idempotency key sent with the write
    Column("op_key", String(255), primary_key=True),
    Column("operation", String(50), nullable=False),
    Column("target", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    #: NULL while the outcome is unknown: a re-run of the same operation reuses the key
    Column("completed_at", UTCDateTime),
)
Index(
    "idx_provider_operations_open",
    provider_operations.c.operation,
    provider_operations.c.target,
    provider_operations.c.completed_at,
)

notify_endpoints = Table(
    "billing_notify_endpoints",
    metadata,
    Column("endpoint_id", String(40), primary_key=True),
    Column("url", Text, nullable=False),
    #: signs every delivery (shown once, at creation); needed in clear to sign
    Column("secret", String(100), nullable=False),
    #: ``*`` (every event) or a comma-separated list of event types
    Column("events", Text, nullable=False, server_default=text("'*'")),
    Column("description", Text),
    #: enabled | disabled (by hand, or after deliveries failed for the whole retry window)
    Column("status", String(10), nullable=False, server_default=text("'enabled'")),
    Column("disabled_reason", Text),
    Column("created_at", UTCDateTime, server_default=NOW),
    Column("updated_at", UTCDateTime, server_default=NOW),
)

notify_outbox = Table(
    "billing_notify_outbox",
    metadata,
    #: the delivery order of one target
    Column("id", BigId, primary_key=True, autoincrement=True),
    #: the envelope's id: the same on every retry, so a receiver can deduplicate
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(50), nullable=False),
    Column("customer_id", String(255)),
    #: webhook | email
    Column("channel", String(10), nullable=False),
    #: an endpoint id (webhook) or ``email:<address>``
    Column("target", String(320), nullable=False),
    #: the JSON envelope, exactly the bytes that are signed and sent
    Column("payload", Text, nullable=False),
    #: pending | sent | failed
    Column("status", String(10), nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime),
    Column("claim_token", String(32)),
    Column("last_error", Text),
    Column("last_status", Integer),
    Column("sent_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("event_id", "target", name="uq_billing_notify_outbox_event_target"),
)
Index(
    "idx_notify_outbox_pending", notify_outbox.c.status, notify_outbox.c.target, notify_outbox.c.id
)

cycle_runs = Table(
    "billing_cycle_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ran_at", UTCDateTime, nullable=False),
    Column("closed", Integer, nullable=False),
    Column("invoices", Integer, nullable=False),
    Column("total", Numeric(20, 2), nullable=False),
    Column("failures", Integer, nullable=False),
)

event_outbox = Table(
    "billing_event_outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    #: the ids of billing_usage_records rows not yet in ClickHouse, one row per accepting
    #: statement (per 10,000 events of a larger one), written by the trigger
    #: billing_event_capture, installed only when BILLING_CLICKHOUSE_URL is set (migration 0015)
    Column("record_ids", ARRAY(BigInteger).with_variant(JSON(), "sqlite"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False, server_default=NOW),
)

event_shipper = Table(
    "billing_event_shipper",
    metadata,
    #: one row per shipper ("clickhouse")
    Column("name", String(50), primary_key=True),
    Column("shipped_events", BigInteger, nullable=False, server_default=text("0")),
    Column("shipped_batches", BigInteger, nullable=False, server_default=text("0")),
    Column("last_shipped_at", UTCDateTime),
    Column("last_batch_token", String(100)),
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime),
    Column("last_reconcile_at", UTCDateTime),
    Column("last_reconcile_differences", Integer),
    Column("pruned_events", BigInteger, nullable=False, server_default=text("0")),
    #: raw events recorded before this may have been deleted from billing_usage_records
    #: (shipped, past the horizon, their period closed): the rollups are not rebuilt before it
    Column("raw_pruned_before", UTCDateTime),
)

#: tables in dependency order (parents first); tests truncate them in reverse
ALL_TABLES = tuple(metadata.sorted_tables)

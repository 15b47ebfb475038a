"""quotas: PostgreSQL's one-statement consume

Revision ID: 0004 (renumbered from 0003: see docs/ARCHITECTURE.md, "Schema")
Revises: 0003
Create Date: 2026-11-30

``billing_quota_consume`` checks and records one usage event under a per-(customer, service)
advisory lock, in one statement the server runs without waiting on its client (the lock is
never held across a network round trip). A VOLATILE PL/pgSQL function takes a fresh READ
COMMITTED snapshot for each statement, so the reads after the lock see every consume committed
before it. It writes exactly what ``store.events.record_one`` writes, and with ``p_outbox``
queues the event for Stripe as ``store.outbox.enqueue_records`` does (tests keep them equal).
The transaction commits asynchronously (``synchronous_commit`` off, local to it) so the lock is
released without waiting for the WAL flush; ``store.quotas.pg_consume`` waits for the flush
afterwards, outside the lock. SQLite needs nothing here.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CONSUME_FUNCTION = """
CREATE OR REPLACE FUNCTION billing_quota_consume(
    p_customer_id text, p_service text, p_quantity numeric, p_micros bigint, p_metadata jsonb,
    p_recorded_at timestamptz, p_key text, p_now timestamptz, p_first_day date,
    p_end_day date, p_day date, p_limit bigint, p_hard boolean, p_outbox boolean)
RETURNS TABLE (used_micros bigint, replayed boolean, inserted boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_used bigint := 0;
    v_id bigint;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    IF p_limit IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext(p_customer_id || ':' || p_service));
    END IF;
    IF EXISTS (SELECT 1 FROM billing_usage_records WHERE idempotency_key = p_key) THEN
        RETURN QUERY SELECT v_used, true, false;
        RETURN;
    END IF;
    IF p_limit IS NOT NULL THEN
        SELECT COALESCE(SUM(d.quantity_micros), 0) INTO v_used FROM billing_usage_daily d
        WHERE d.customer_id = p_customer_id AND d.service_name = p_service
          AND d.day >= p_first_day AND d.day < p_end_day;
        IF p_hard AND v_used + p_micros > p_limit THEN
            RETURN QUERY SELECT v_used, false, false;
            RETURN;
        END IF;
    END IF;
    INSERT INTO billing_usage_records (customer_id, service_name, quantity, quantity_micros,
                                       metadata, recorded_at, idempotency_key, ingested_at)
    VALUES (p_customer_id, p_service, p_quantity, p_micros, p_metadata, p_recorded_at, p_key,
            p_now)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RETURN QUERY SELECT v_used, true, false;
        RETURN;
    END IF;
    IF p_outbox THEN  -- queued for Stripe in the same transaction (store/outbox.py)
        INSERT INTO billing_usage_outbox (usage_record_id, identifier, customer_id,
                                          service_name, quantity_micros, recorded_at, status,
                                          attempts)
        VALUES (v_id, 'nself_' || left(encode(sha256(convert_to(
                    p_customer_id || chr(31) || p_key, 'UTF8')), 'hex'), 40),
                p_customer_id, p_service, p_micros, p_recorded_at, 'pending', 0)
        ON CONFLICT (identifier) DO NOTHING;
    END IF;
    INSERT INTO billing_usage_daily AS d (customer_id, service_name, day, quantity_micros,
                                          events)
    VALUES (p_customer_id, p_service, p_day, p_micros, 1)
    ON CONFLICT (customer_id, service_name, day) DO UPDATE
    SET quantity_micros = d.quantity_micros + excluded.quantity_micros,
        events = d.events + excluded.events;
    RETURN QUERY SELECT v_used, false, true;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CONSUME_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION IF EXISTS billing_quota_consume(text, text, numeric, bigint,"
            " jsonb, timestamptz, text, timestamptz, date, date, date, bigint, boolean,"
            " boolean)"
        )

"""quotas: PostgreSQL's consume in one round trip, durable included

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-30

Until 0006 a durable consume took two statements: the function ``billing_quota_consume``
(committed asynchronously, so the per-(customer, service) lock was never held during the WAL
flush), then a synchronously committed logical message to wait for that flush. The procedure
``billing_quota_consume`` does both in one ``CALL``: it checks and records under the lock,
COMMITs (asynchronously, releasing the lock), then, when ``p_durable``, emits the message in a
second transaction that the ``CALL`` commits with the session's ``synchronous_commit``; the
caller hears the result only after that commit. It writes exactly what
``store.events.record_one`` writes, and with ``p_outbox`` queues the event for Stripe as
``store.outbox.enqueue_records`` does (tests keep them equal).

``p_check_key`` false skips the lookup of a replayed key (inside the lock) for a key the caller
has just generated. The function of 0004 is dropped: processes of the previous version still
running when the database is migrated must be restarted before they consume again.
"""

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

_OLD_SIGNATURE = (
    "billing_quota_consume(text, text, numeric, bigint, jsonb, timestamptz, text,"
    " timestamptz, date, date, date, bigint, boolean, boolean)"
)

# A procedure, not a function: only a CALL may COMMIT. The COMMIT ends the transaction that holds
# the lock before the durable wait; the CALL must not run inside a transaction block
# (store.quotas runs it in autocommit). A VOLATILE PL/pgSQL routine takes a fresh READ COMMITTED
# snapshot for each statement, so the usage read after the lock sees every consume committed
# before it.
CONSUME_PROCEDURE = """
CREATE PROCEDURE billing_quota_consume(
    p_customer_id text, p_service text, p_quantity numeric, p_micros bigint, p_metadata jsonb,
    p_recorded_at timestamptz, p_key text, p_now timestamptz, p_first_day date,
    p_end_day date, p_day date, p_limit bigint, p_hard boolean, p_outbox boolean,
    p_check_key boolean, p_durable boolean,
    INOUT used_micros bigint DEFAULT NULL, INOUT replayed boolean DEFAULT NULL,
    INOUT inserted boolean DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    used_micros := 0;
    replayed := false;
    inserted := false;
    -- this transaction only: the lock is released without waiting for the WAL flush
    PERFORM set_config('synchronous_commit', 'off', true);
    IF p_limit IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext(p_customer_id || ':' || p_service));
    END IF;
    IF p_check_key AND EXISTS (
            SELECT 1 FROM billing_usage_records WHERE idempotency_key = p_key) THEN
        replayed := true;
    ELSE
        IF p_limit IS NOT NULL THEN
            SELECT COALESCE(SUM(d.quantity_micros), 0) INTO used_micros
            FROM billing_usage_daily d
            WHERE d.customer_id = p_customer_id AND d.service_name = p_service
              AND d.day >= p_first_day AND d.day < p_end_day;
        END IF;
        IF NOT (p_hard AND p_limit IS NOT NULL AND used_micros + p_micros > p_limit) THEN
            INSERT INTO billing_usage_records (customer_id, service_name, quantity,
                                               quantity_micros, metadata, recorded_at,
                                               idempotency_key, ingested_at)
            VALUES (p_customer_id, p_service, p_quantity, p_micros, p_metadata, p_recorded_at,
                    p_key, p_now)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id INTO v_id;
            IF v_id IS NULL THEN
                replayed := true;
            ELSE
                IF p_outbox THEN  -- queued for Stripe in the same transaction (store/outbox.py)
                    INSERT INTO billing_usage_outbox (usage_record_id, identifier, customer_id,
                                                      service_name, quantity_micros,
                                                      recorded_at, status, attempts)
                    VALUES (v_id, 'nself_' || left(encode(sha256(convert_to(
                                p_customer_id || chr(31) || p_key, 'UTF8')), 'hex'), 40),
                            p_customer_id, p_service, p_micros, p_recorded_at, 'pending', 0)
                    ON CONFLICT (identifier) DO NOTHING;
                END IF;
                INSERT INTO billing_usage_daily AS d (customer_id, service_name, day,
                                                      quantity_micros, events)
                VALUES (p_customer_id, p_service, p_day, p_micros, 1)
                ON CONFLICT (customer_id, service_name, day) DO UPDATE
                SET quantity_micros = d.quantity_micros + excluded.quantity_micros,
                    events = d.events + excluded.events;
                inserted := true;
            END IF;
        END IF;
    END IF;
    COMMIT;
    IF p_durable AND (inserted OR replayed) THEN
        -- a transactional message gets a transaction id, so the CALL's own commit waits for
        -- the WAL flush (group-committed), which covers the event committed above
        PERFORM pg_logical_emit_message(true, 'nself_billing', 'consume');
    END IF;
END
$$
"""

_PROCEDURE_SIGNATURE = (
    "billing_quota_consume(text, text, numeric, bigint, jsonb, timestamptz,"
    " text, timestamptz, date, date, date, bigint, boolean, boolean, boolean,"
    " boolean, bigint, boolean, boolean)"
)


def _load_sibling(filename: str) -> ModuleType:
    """Alembic loads revisions by path, not as a package: import the previous one likewise."""
    spec = importlib.util.spec_from_file_location(filename[:-3], Path(__file__).with_name(filename))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {_OLD_SIGNATURE}")
        op.execute(CONSUME_PROCEDURE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP PROCEDURE IF EXISTS {_PROCEDURE_SIGNATURE}")
        op.execute(_load_sibling("0004_quotas.py").CONSUME_FUNCTION)

"""usage: PostgreSQL's write of a group of small usage requests, committed before the WAL flush

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02

``billing_usage_write_group`` writes a few events with distinct identities (the small
``POST /v1/usage`` requests a worker groups, small ``record_many`` and ``BufferedRecorder``
batches: ``store/events.py``'s ``write_group``) as the single-event array statement did: new
events inserted in identity order, each day's rollup of the new ones updated, and, with
``p_outbox``, the new events queued for Stripe, in one transaction. ``p_events`` is a JSON
array with one ``[customer id, service, metadata (JSON text), recorded at (ISO 8601),
micro-units, idempotency key]`` per event (one parameter, bound, never SQL text; a JSON string
costs the client a fraction of six array parameters). It answers the identities that were new,
``new_events``: ``[[customer id, key], ...]``.

The difference is when the locks go. The statement ran in autocommit, so the group's rollup
rows (customer, service, day) stayed locked until its WAL flush, and the groups of one customer
were written one flush after the other. Here, as in the consume procedures (0006-0008), the
write commits asynchronously (releasing the rows at once), and a transactional logical message
committed synchronously afterwards makes the caller wait for the flush, which covers the
group's commit: the next group updates the same rollups during this one's flush, and their
flushes are shared. A crash before the flush loses the group, whose requests were not answered;
nothing acknowledged is lost. The message is committed even when every event was a duplicate:
the first copy may be another group's commit that is not yet flushed, and a duplicate is
answered only once it is durable.

SQLite needs no procedure (its writer holds the database lock through its commit either way).
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_SIGNATURE = "billing_usage_write_group(jsonb, timestamptz, boolean, jsonb)"

#: the group's rows (pairwise arrays) and their insert; ``{outbox}`` is the outbox CTE or empty
_WRITE = """
        WITH s AS (
            SELECT x->>0 AS customer_id, x->>1 AS service_name, x->>2 AS metadata,
                   (x->>3)::timestamptz AS recorded_at, (x->>4)::bigint AS quantity_micros,
                   x->>5 AS idempotency_key
            FROM jsonb_array_elements(p_events) AS x
        ), e AS (
            INSERT INTO billing_usage_records (customer_id, service_name, quantity, metadata,
                                               recorded_at, quantity_micros, idempotency_key,
                                               ingested_at)
            SELECT customer_id, service_name,
                   (quantity_micros::numeric / 1000000)::numeric(20, 6), metadata::jsonb,
                   recorded_at, quantity_micros, idempotency_key, p_now
            FROM s
            ORDER BY idempotency_key COLLATE "C", customer_id COLLATE "C"
            ON CONFLICT (idempotency_key, customer_id) DO NOTHING
            RETURNING id, customer_id, service_name, recorded_at, quantity_micros,
                      idempotency_key
        ){outbox}, r AS (
            INSERT INTO billing_usage_daily AS d (customer_id, service_name, day,
                                                  quantity_micros, events)
            SELECT customer_id, service_name, (recorded_at AT TIME ZONE 'UTC')::date AS day,
                   sum(quantity_micros), count(*)
            FROM e
            GROUP BY 1, 2, 3
            ORDER BY customer_id COLLATE "C", service_name COLLATE "C", 3
            ON CONFLICT (customer_id, service_name, day) DO UPDATE
            SET quantity_micros = d.quantity_micros + excluded.quantity_micros,
                events = d.events + excluded.events
        )
        SELECT coalesce(jsonb_agg(jsonb_build_array(customer_id, idempotency_key)), '[]')
        INTO new_events
        FROM e;"""

#: the Stripe usage outbox row of each new event (as store/outbox.py's PG_OUTBOX_CTE)
_OUTBOX = """, o AS (
            INSERT INTO billing_usage_outbox (usage_record_id, identifier, customer_id,
                                              service_name, quantity_micros, recorded_at,
                                              status, attempts)
            SELECT id, 'nself_' || left(encode(sha256(convert_to(
                       customer_id || chr(31) || idempotency_key, 'UTF8')), 'hex'), 40),
                   customer_id, service_name, quantity_micros, recorded_at, 'pending', 0
            FROM e
            ON CONFLICT (identifier) DO NOTHING
        )"""

WRITE_GROUP_PROCEDURE = (
    """
CREATE PROCEDURE billing_usage_write_group(
    p_events jsonb, p_now timestamptz, p_outbox boolean, INOUT new_events jsonb DEFAULT NULL)
LANGUAGE plpgsql AS $$
BEGIN
    -- this transaction only: its row locks go at its commit, without waiting for the flush
    PERFORM set_config('synchronous_commit', 'off', true);
    IF p_outbox THEN"""
    + _WRITE.format(outbox=_OUTBOX)
    + """
    ELSE"""
    + _WRITE.format(outbox="")
    + """
    END IF;
    COMMIT;
    -- a transactional message gets a transaction id, so the CALL's own commit waits for the
    -- WAL flush (group-committed with the other callers), which covers the group's commit
    PERFORM pg_logical_emit_message(true, 'nself_billing', 'usage');
END
$$
"""
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(WRITE_GROUP_PROCEDURE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP PROCEDURE IF EXISTS {_SIGNATURE}")

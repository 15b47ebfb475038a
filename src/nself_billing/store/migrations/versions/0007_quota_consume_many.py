"""quotas: PostgreSQL's consume for a group of requests in one transaction (group commit)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

``billing_quota_consume_many`` runs, in one transaction, what ``billing_quota_consume`` (0006)
does for one request, for each element of ``p_events`` in order: the HTTP service sends the
consume requests that arrived while its previous group was being written, so a worker pays one
transaction, one lock round and one WAL flush per group instead of per request. Each element
is a JSON object: ``c`` customer id, ``s`` service, ``q`` quantity (decimal text), ``m``
micro-units, ``md`` metadata, ``k`` idempotency key, ``ck`` whether to look the key up (false
for a key just generated), ``f``/``e`` first and end day of the quota period, ``l`` limit in
micro-units (null: unlimited), ``h`` hard. The answer ``results`` holds one
``[used_micros, replayed, inserted]`` per element, in order.

The per-(customer, service) locks of the whole group are taken first, in the order of their
lock numbers, so two groups (or a group and single consumes, which take one lock) never wait on
each other in a cycle. Inside the group each element reads the usage the elements before it
wrote (same transaction), so admission is exactly that of the same requests consumed one after
the other. Like 0006, the checked writes commit asynchronously (releasing the locks) and, when
``p_durable``, a synchronously committed logical message makes the caller wait for the flush.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CONSUME_MANY_PROCEDURE = """
CREATE PROCEDURE billing_quota_consume_many(
    p_events jsonb, p_now timestamptz, p_day date, p_outbox boolean, p_durable boolean,
    INOUT results jsonb DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    v_lock integer;
    e jsonb;
    v_key text;
    v_limit bigint;
    v_micros bigint;
    v_used bigint;
    v_replayed boolean;
    v_inserted boolean;
    v_written boolean := false;
    v_id bigint;
BEGIN
    results := '[]'::jsonb;
    PERFORM set_config('synchronous_commit', 'off', true);
    FOR v_lock IN
        SELECT DISTINCT hashtext((x->>'c') || ':' || (x->>'s'))
        FROM jsonb_array_elements(p_events) AS x
        WHERE x->>'l' IS NOT NULL
        ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(v_lock);
    END LOOP;
    FOR e IN
        SELECT x FROM jsonb_array_elements(p_events) WITH ORDINALITY AS t(x, n) ORDER BY n
    LOOP
        v_used := 0;
        v_replayed := false;
        v_inserted := false;
        v_key := e->>'k';
        v_limit := (e->>'l')::bigint;
        v_micros := (e->>'m')::bigint;
        IF (e->>'ck')::boolean AND EXISTS (
                SELECT 1 FROM billing_usage_records WHERE idempotency_key = v_key) THEN
            v_replayed := true;
        ELSE
            IF v_limit IS NOT NULL THEN
                SELECT COALESCE(SUM(d.quantity_micros), 0) INTO v_used
                FROM billing_usage_daily d
                WHERE d.customer_id = e->>'c' AND d.service_name = e->>'s'
                  AND d.day >= (e->>'f')::date AND d.day < (e->>'e')::date;
            END IF;
            IF NOT ((e->>'h')::boolean AND v_limit IS NOT NULL
                    AND v_used + v_micros > v_limit) THEN
                v_id := NULL;
                INSERT INTO billing_usage_records (customer_id, service_name, quantity,
                                                   quantity_micros, metadata, recorded_at,
                                                   idempotency_key, ingested_at)
                VALUES (e->>'c', e->>'s', (e->>'q')::numeric, v_micros, e->'md', p_now,
                        v_key, p_now)
                ON CONFLICT (idempotency_key) DO NOTHING
                RETURNING id INTO v_id;
                IF v_id IS NULL THEN
                    v_replayed := true;
                ELSE
                    IF p_outbox THEN  -- as store/outbox.py and billing_quota_consume (0006)
                        INSERT INTO billing_usage_outbox (usage_record_id, identifier,
                                                          customer_id, service_name,
                                                          quantity_micros, recorded_at, status,
                                                          attempts)
                        VALUES (v_id, 'nself_' || left(encode(sha256(convert_to(
                                    (e->>'c') || chr(31) || v_key, 'UTF8')), 'hex'), 40),
                                e->>'c', e->>'s', v_micros, p_now, 'pending', 0)
                        ON CONFLICT (identifier) DO NOTHING;
                    END IF;
                    INSERT INTO billing_usage_daily AS d (customer_id, service_name, day,
                                                          quantity_micros, events)
                    VALUES (e->>'c', e->>'s', p_day, v_micros, 1)
                    ON CONFLICT (customer_id, service_name, day) DO UPDATE
                    SET quantity_micros = d.quantity_micros + excluded.quantity_micros,
                        events = d.events + excluded.events;
                    v_inserted := true;
                END IF;
            END IF;
        END IF;
        v_written := v_written OR v_inserted OR v_replayed;
        results := results || jsonb_build_array(jsonb_build_array(v_used, v_replayed,
                                                                   v_inserted));
    END LOOP;
    COMMIT;
    IF p_durable AND v_written THEN
        PERFORM pg_logical_emit_message(true, 'nself_billing', 'consume');
    END IF;
END
$$
"""

_SIGNATURE = "billing_quota_consume_many(jsonb, timestamptz, date, boolean, boolean, jsonb)"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CONSUME_MANY_PROCEDURE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP PROCEDURE IF EXISTS {_SIGNATURE}")

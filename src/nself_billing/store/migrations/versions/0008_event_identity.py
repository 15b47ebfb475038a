"""usage: one event identity, the pair (customer, client id)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

Until 0008 ``billing_usage_records.idempotency_key`` was unique across all customers, and the
HTTP service made it per customer by storing ``<customer_id>:<id>`` (a joined string: a
customer id may contain ``:``, so two tenants could collide). From 0008 the unique constraint
``uq_billing_usage_records_customer_key`` is on ``(idempotency_key, customer_id)`` and every
entry point stores the client's id as given (``store/events.py``).

Existing keys keep what they meant:

- a key ``<customer_id>:<id>`` on a row of that customer (what the HTTP service wrote, for
  ``POST /v1/usage`` and consume) becomes ``<id>``, so the same id sent again over HTTP is still
  a replay of it; when that customer already has an event ``<id>`` (recorded by the CLI or the
  library: before 0008 the two counted twice) the row keeps its old key, so nothing merges;
- every other key stays as it is: it was unique across customers, so it is unique per customer.

PostgreSQL: the consume procedures (``billing_quota_consume`` of 0006, ``..._many`` of 0007)
are replaced by versions that look a key up per customer and compare a replay with what the
pair first recorded: the same service and quantity is a replay (nothing written), anything
else a conflict (nothing written either; ``conflict`` true in the answer). The procedure
``billing_quota_consume`` gains the INOUT ``conflict``; ``..._many`` answers
``[used_micros, replayed, inserted, conflict]`` per element. Processes of the previous version
must be restarted before they consume again. SQLite needs no procedure; its table is rebuilt
(a UNIQUE constraint cannot be dropped in place), copying every row once.
"""

import importlib.util
import re
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TABLE = "billing_usage_records"
_OLD_UNIQUE = "CONSTRAINT uq_billing_usage_records_idempotency_key UNIQUE (idempotency_key)"
_NEW_UNIQUE = (
    "CONSTRAINT uq_billing_usage_records_customer_key UNIQUE (idempotency_key, customer_id)"
)

#: a key ``<customer_id>:<id>`` of the row's own customer, and the ``<id>`` it becomes unless
#: that customer already has it (``r`` is the row; ``{table}`` the table looked in)
_STRIPPABLE = (
    "length(r.idempotency_key) > length(r.customer_id) + 1"
    " AND substr(r.idempotency_key, 1, length(r.customer_id) + 1) = r.customer_id || ':'"
    " AND NOT EXISTS (SELECT 1 FROM {table} o WHERE o.customer_id = r.customer_id"
    " AND o.idempotency_key = substr(r.idempotency_key, length(r.customer_id) + 2))"
)
_STRIPPED = "substr(r.idempotency_key, length(r.customer_id) + 2)"

# The procedures of 0006 and 0007 with the per-customer key and the replay check. A VOLATILE
# PL/pgSQL routine takes a fresh READ COMMITTED snapshot for each statement, so the reads after
# the lock see every consume committed before it; only a CALL may COMMIT (see 0006).
CONSUME_PROCEDURE = """
CREATE PROCEDURE billing_quota_consume(
    p_customer_id text, p_service text, p_quantity numeric, p_micros bigint, p_metadata jsonb,
    p_recorded_at timestamptz, p_key text, p_now timestamptz, p_first_day date,
    p_end_day date, p_day date, p_limit bigint, p_hard boolean, p_outbox boolean,
    p_check_key boolean, p_durable boolean,
    INOUT used_micros bigint DEFAULT NULL, INOUT replayed boolean DEFAULT NULL,
    INOUT inserted boolean DEFAULT NULL, INOUT conflict boolean DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_service text;
    v_micros bigint;
    v_found boolean := false;
BEGIN
    used_micros := 0;
    replayed := false;
    inserted := false;
    conflict := false;
    -- this transaction only: the lock is released without waiting for the WAL flush
    PERFORM set_config('synchronous_commit', 'off', true);
    IF p_limit IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext(p_customer_id || ':' || p_service));
    END IF;
    IF p_check_key THEN
        SELECT r.service_name, COALESCE(r.quantity_micros, (r.quantity * 1000000)::bigint)
        INTO v_service, v_micros
        FROM billing_usage_records r
        WHERE r.idempotency_key = p_key AND r.customer_id = p_customer_id;
        v_found := FOUND;
    END IF;
    IF NOT v_found THEN
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
            ON CONFLICT (idempotency_key, customer_id) DO NOTHING
            RETURNING id INTO v_id;
            IF v_id IS NULL THEN
                -- written meanwhile by a concurrent request with the same pair
                SELECT r.service_name,
                       COALESCE(r.quantity_micros, (r.quantity * 1000000)::bigint)
                INTO v_service, v_micros
                FROM billing_usage_records r
                WHERE r.idempotency_key = p_key AND r.customer_id = p_customer_id;
                v_found := true;
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
    IF v_found THEN
        used_micros := 0;
        IF v_service = p_service AND v_micros = p_micros THEN
            replayed := true;
        ELSE
            conflict := true;
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

CONSUME_MANY_PROCEDURE = """
CREATE OR REPLACE PROCEDURE billing_quota_consume_many(
    p_events jsonb, p_now timestamptz, p_day date, p_outbox boolean, p_durable boolean,
    INOUT results jsonb DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    v_lock integer;
    e jsonb;
    v_customer text;
    v_service text;
    v_key text;
    v_limit bigint;
    v_micros bigint;
    v_used bigint;
    v_first_service text;
    v_first_micros bigint;
    v_found boolean;
    v_replayed boolean;
    v_inserted boolean;
    v_conflict boolean;
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
        v_found := false;
        v_replayed := false;
        v_inserted := false;
        v_conflict := false;
        v_customer := e->>'c';
        v_service := e->>'s';
        v_key := e->>'k';
        v_limit := (e->>'l')::bigint;
        v_micros := (e->>'m')::bigint;
        IF (e->>'ck')::boolean THEN
            SELECT r.service_name, COALESCE(r.quantity_micros, (r.quantity * 1000000)::bigint)
            INTO v_first_service, v_first_micros
            FROM billing_usage_records r
            WHERE r.idempotency_key = v_key AND r.customer_id = v_customer;
            v_found := FOUND;
        END IF;
        IF NOT v_found THEN
            IF v_limit IS NOT NULL THEN
                SELECT COALESCE(SUM(d.quantity_micros), 0) INTO v_used
                FROM billing_usage_daily d
                WHERE d.customer_id = v_customer AND d.service_name = v_service
                  AND d.day >= (e->>'f')::date AND d.day < (e->>'e')::date;
            END IF;
            IF NOT ((e->>'h')::boolean AND v_limit IS NOT NULL
                    AND v_used + v_micros > v_limit) THEN
                v_id := NULL;
                INSERT INTO billing_usage_records (customer_id, service_name, quantity,
                                                   quantity_micros, metadata, recorded_at,
                                                   idempotency_key, ingested_at)
                VALUES (v_customer, v_service, (e->>'q')::numeric, v_micros, e->'md', p_now,
                        v_key, p_now)
                ON CONFLICT (idempotency_key, customer_id) DO NOTHING
                RETURNING id INTO v_id;
                IF v_id IS NULL THEN
                    SELECT r.service_name,
                           COALESCE(r.quantity_micros, (r.quantity * 1000000)::bigint)
                    INTO v_first_service, v_first_micros
                    FROM billing_usage_records r
                    WHERE r.idempotency_key = v_key AND r.customer_id = v_customer;
                    v_found := true;
                ELSE
                    IF p_outbox THEN  -- as store/outbox.py and billing_quota_consume
                        INSERT INTO billing_usage_outbox (usage_record_id, identifier,
                                                          customer_id, service_name,
                                                          quantity_micros, recorded_at, status,
                                                          attempts)
                        VALUES (v_id, 'nself_' || left(encode(sha256(convert_to(
                                    v_customer || chr(31) || v_key, 'UTF8')), 'hex'), 40),
                                v_customer, v_service, v_micros, p_now, 'pending', 0)
                        ON CONFLICT (identifier) DO NOTHING;
                    END IF;
                    INSERT INTO billing_usage_daily AS d (customer_id, service_name, day,
                                                          quantity_micros, events)
                    VALUES (v_customer, v_service, p_day, v_micros, 1)
                    ON CONFLICT (customer_id, service_name, day) DO UPDATE
                    SET quantity_micros = d.quantity_micros + excluded.quantity_micros,
                        events = d.events + excluded.events;
                    v_inserted := true;
                END IF;
            END IF;
        END IF;
        IF v_found THEN
            v_used := 0;
            IF v_first_service = v_service AND v_first_micros = v_micros THEN
                v_replayed := true;
            ELSE
                v_conflict := true;
            END IF;
        END IF;
        v_written := v_written OR v_inserted OR v_replayed;
        results := results || jsonb_build_array(jsonb_build_array(v_used, v_replayed,
                                                                   v_inserted, v_conflict));
    END LOOP;
    COMMIT;
    IF p_durable AND v_written THEN
        PERFORM pg_logical_emit_message(true, 'nself_billing', 'consume');
    END IF;
END
$$
"""

_OLD_CONSUME_SIGNATURE = (
    "billing_quota_consume(text, text, numeric, bigint, jsonb, timestamptz,"
    " text, timestamptz, date, date, date, bigint, boolean, boolean, boolean,"
    " boolean, bigint, boolean, boolean)"
)
_CONSUME_SIGNATURE = (
    "billing_quota_consume(text, text, numeric, bigint, jsonb, timestamptz,"
    " text, timestamptz, date, date, date, bigint, boolean, boolean, boolean,"
    " boolean, bigint, boolean, boolean, boolean)"
)


def _load_sibling(filename: str) -> ModuleType:
    """Alembic loads revisions by path, not as a package: import an earlier one likewise."""
    spec = importlib.util.spec_from_file_location(filename[:-3], Path(__file__).with_name(filename))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sqlite_rebuild(old_unique: str, new_unique: str, key: str) -> None:
    """Copy the table into one with ``new_unique`` instead of ``old_unique``, each row's key
    computed by the SQL expression ``key`` (over the old row ``r``), then swap the two."""
    bind = op.get_bind()
    create = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (_TABLE,)
    ).scalar_one()
    if old_unique not in create:
        raise RuntimeError(f"{_TABLE}: unexpected schema, cannot migrate: {create}")
    indexes = [
        sql
        for (sql,) in bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
            " AND sql IS NOT NULL",
            (_TABLE,),
        )
    ]
    columns = [row[1] for row in bind.exec_driver_sql(f"PRAGMA table_info({_TABLE})")]
    listed = ", ".join(columns)
    picked = ", ".join(key if c == "idempotency_key" else f"r.{c}" for c in columns)
    staging = f"{_TABLE}_0008"
    # the name may be quoted: SQLite quotes it in the schema of a renamed table
    head = re.match(rf'CREATE TABLE ("?){_TABLE}\1', create)
    if head is None:
        raise RuntimeError(f"{_TABLE}: unexpected schema, cannot migrate: {create}")
    op.execute(f"CREATE TABLE {staging}" + create[head.end() :].replace(old_unique, new_unique))
    op.execute(f"INSERT INTO {staging} ({listed}) SELECT {picked} FROM {_TABLE} r")  # noqa: S608
    op.execute(f"DROP TABLE {_TABLE}")
    op.execute(f"ALTER TABLE {staging} RENAME TO {_TABLE}")
    for sql in indexes:
        op.execute(sql)


def upgrade() -> None:
    strippable = _STRIPPABLE.format(table=_TABLE)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP PROCEDURE IF EXISTS {_OLD_CONSUME_SIGNATURE}")
        op.execute(f"ALTER TABLE {_TABLE} DROP CONSTRAINT uq_billing_usage_records_idempotency_key")
        op.execute(
            f"UPDATE {_TABLE} AS r SET idempotency_key = {_STRIPPED} WHERE {strippable}"  # noqa: S608
        )
        op.execute(
            f"ALTER TABLE {_TABLE} ADD CONSTRAINT uq_billing_usage_records_customer_key"
            " UNIQUE (idempotency_key, customer_id)"
        )
        op.execute(CONSUME_PROCEDURE)
        op.execute(CONSUME_MANY_PROCEDURE)
        return
    _sqlite_rebuild(
        _OLD_UNIQUE,
        _NEW_UNIQUE,
        f"CASE WHEN {strippable} THEN {_STRIPPED} ELSE r.idempotency_key END",
    )


def downgrade() -> None:
    """Back to one key space (keys are left as 0008 made them: which ones the HTTP service had
    prefixed cannot be told apart any more). It fails, changing nothing, once two customers
    share an id, rather than drop an event."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP PROCEDURE IF EXISTS {_CONSUME_SIGNATURE}")
        op.execute(
            "DROP PROCEDURE IF EXISTS"
            " billing_quota_consume_many(jsonb, timestamptz, date, boolean, boolean, jsonb)"
        )
        op.execute(f"ALTER TABLE {_TABLE} DROP CONSTRAINT uq_billing_usage_records_customer_key")
        op.execute(
            f"ALTER TABLE {_TABLE} ADD CONSTRAINT uq_billing_usage_records_idempotency_key"
            " UNIQUE (idempotency_key)"
        )
        op.execute(_load_sibling("0006_quota_consume_procedure.py").CONSUME_PROCEDURE)
        op.execute(_load_sibling("0007_quota_consume_many.py").CONSUME_MANY_PROCEDURE)
        return
    _sqlite_rebuild(_NEW_UNIQUE, _OLD_UNIQUE, "r.idempotency_key")

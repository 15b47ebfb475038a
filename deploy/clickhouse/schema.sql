-- nself-billing's raw usage events on the cluster "billing" (deploy/clickhouse/compose.yaml).
-- Run once before `nself tenant billing migrate`: migrate's CREATE TABLE IF NOT EXISTS then
-- finds billing.usage_events (the Distributed table) and leaves it as it is.

CREATE DATABASE IF NOT EXISTS billing ON CLUSTER billing;

-- each shard keeps its customers' events on two replicas; the sorting key is the one the
-- single-node table has, so a row shipped twice collapses on its shard and FINAL is exact
CREATE TABLE IF NOT EXISTS billing.usage_events_local ON CLUSTER billing
(
    id UInt64,
    customer_id String,
    service_name LowCardinality(String),
    quantity Decimal(18, 6),
    metadata String CODEC(ZSTD(3)),
    recorded_at DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    ingested_at DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    idempotency_key String,
    shipped_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/billing/usage_events_local', '{replica}')
PARTITION BY toYYYYMM(recorded_at)
ORDER BY (customer_id, service_name, recorded_at, idempotency_key)
-- the deduplication tokens of the last 10,000 blocks per shard, kept a week: a shipper
-- retrying a batch after an outage of up to a week is still recognised
SETTINGS replicated_deduplication_window = 10000,
         replicated_deduplication_window_seconds = 604800;

-- what nself-billing reads and writes: all of a customer's events on one shard, so per-shard
-- FINAL collapses every duplicate; inserts wait for the shards (insert_distributed_sync=1,
-- set by the shipper on every insert), so an acknowledged batch is on its shards' replicas
CREATE TABLE IF NOT EXISTS billing.usage_events ON CLUSTER billing
AS billing.usage_events_local
ENGINE = Distributed(billing, billing, usage_events_local, cityHash64(customer_id));

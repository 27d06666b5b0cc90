-- 003_retention_indexes.sql — indexes retention needs to find old rows cheaply.
CREATE INDEX idempotency_key_created_at_idx ON chargegate.idempotency_key (created_at);

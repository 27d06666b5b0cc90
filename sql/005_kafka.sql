-- 005_kafka.sql — what the Kafka transport (transport.kind = kafka) keeps in
-- PostgreSQL.
--
-- Publishing: in Kafka mode an outbox row is marked published only after
-- Kafka acknowledged it (the producer's delivery report), so between the claim
-- and the report the row is leased, not published.  A lease is a row of
-- outbox_lease; an expired lease (the daemon died before the report came)
-- makes the outbox row claimable again, and it is published once more — at
-- least once; consumers de-duplicate on event_id.  Functions: claim_outbox,
-- mark_published, record_publish_error, outbox_next_due_ms.
--
-- Consuming: offsets are committed to Kafka only after the handler's
-- transaction committed.  A message whose handler failed is copied into the
-- PostgreSQL retry storage of 002_topics.sql (topic_message plus a
-- subscription_batch that is ready after its retry delay, or dead) in that
-- same transaction (defer_messages), so Kafka's offset may move on without
-- losing it: retries and dead letters of both transports look the same to a
-- DBA.

CREATE TABLE chargegate.outbox_lease (
    outbox     text        NOT NULL,
    row_id     bigint      NOT NULL,
    owner      text        NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CONSTRAINT outbox_lease_pkey PRIMARY KEY (outbox, row_id),
    CONSTRAINT outbox_lease_outbox_fkey FOREIGN KEY (outbox) REFERENCES chargegate.outbox (name),
    CONSTRAINT outbox_lease_expiry_check CHECK (expires_at >= claimed_at)
) WITH (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);
COMMENT ON TABLE chargegate.outbox_lease IS
    'Kafka transport: outbox rows handed to the Kafka producer and waiting for their delivery report. '
    'Deleted when the row is marked published or its delivery failed; a row whose lease expired (its '
    'daemon died) is claimable again. Empty in PostgreSQL mode.';
COMMENT ON COLUMN chargegate.outbox_lease.outbox IS 'The outbox table (chargegate.outbox.name).';
COMMENT ON COLUMN chargegate.outbox_lease.row_id IS 'id of the leased row in that outbox table.';
COMMENT ON COLUMN chargegate.outbox_lease.owner IS 'Relay holding the lease (host:pid:relay).';
COMMENT ON COLUMN chargegate.outbox_lease.expires_at IS
    'After this time another relay may publish the row again (at least once).';

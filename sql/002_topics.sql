-- 002_topics.sql — topics emulated with tables: the PostgreSQL transport.
--
-- A topic is a named stream; every subscription of a topic sees every message
-- (fan-out: one subscription_batch row per subscription and relayed batch).
-- Inside a subscription any number of consumers share the rows through
-- SELECT … FOR UPDATE SKIP LOCKED; there is no cursor over a sequence, so a
-- slow transaction's rows can never be skipped.
--
-- A claimed row is a lease: owner, expiry (available_at while leased) and a
-- fencing counter.  An expired lease makes the row claimable again; an
-- acknowledgement that does not carry the current fence is refused.  An
-- acknowledged row is deleted at once; the message itself stays in
-- topic_message and the handled event id in handled_event for
-- queue.retention.

CREATE TABLE chargegate.topic (
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT topic_pkey PRIMARY KEY (name),
    CONSTRAINT topic_name_check CHECK (name ~ '^[a-z][a-z0-9_]{0,40}$')
);
COMMENT ON TABLE chargegate.topic IS
    'Topics of the PostgreSQL transport; NOTIFY channel chargegate_topic_<name> wakes its consumers.';

CREATE TABLE chargegate.outbox (
    name       text NOT NULL,
    topic      text NOT NULL,
    CONSTRAINT outbox_pkey PRIMARY KEY (name),
    CONSTRAINT outbox_topic_fkey FOREIGN KEY (topic) REFERENCES chargegate.topic (name)
);
COMMENT ON TABLE chargegate.outbox IS
    'Which topic each outbox table is relayed to; NOTIFY channel chargegate_<outbox> wakes its relay.';

CREATE TABLE chargegate.subscription (
    name       text        NOT NULL,
    topic      text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subscription_pkey PRIMARY KEY (name),
    CONSTRAINT subscription_topic_fkey FOREIGN KEY (topic) REFERENCES chargegate.topic (name),
    CONSTRAINT subscription_name_check CHECK (name ~ '^[a-z][a-z0-9_]{0,40}$')
);
COMMENT ON TABLE chargegate.subscription IS
    'Named subscriptions; each receives every message published to its topic after it was created.';

CREATE TABLE chargegate.topic_message (
    id           bigint      GENERATED ALWAYS AS IDENTITY,
    topic        text        NOT NULL,
    event_id     uuid        NOT NULL,
    event_type   text        NOT NULL,
    aggregate_id uuid        NOT NULL,
    payload      jsonb       NOT NULL,
    created_at   timestamptz NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT topic_message_pkey PRIMARY KEY (id),
    CONSTRAINT topic_message_topic_fkey FOREIGN KEY (topic) REFERENCES chargegate.topic (name),
    CONSTRAINT topic_message_event_key UNIQUE (topic, event_id)
) WITH (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_vacuum_cost_delay = 0
);
-- BRIN: rows arrive in published_at order, and retention only needs ranges.
CREATE INDEX topic_message_published_idx ON chargegate.topic_message USING brin (published_at);
COMMENT ON TABLE chargegate.topic_message IS
    'Messages published to topics, delivered through subscription_batch. Removed by retention once '
    'every subscription is done with them.';
COMMENT ON COLUMN chargegate.topic_message.created_at IS 'created_at of the outbox row it came from.';

-- Deliveries are leased in batches, the way PgQ hands out batches: the relay
-- writes one subscription_batch row per subscription for all the messages it
-- published in one transaction, and a consumer leases whole rows.  Under load
-- that makes the per-message cost of claiming and acknowledging nearly zero;
-- at light load a batch holds a single message.  A message that fails is
-- split off into a batch of its own, so retries and dead letters are per
-- message.
CREATE TABLE chargegate.subscription_batch (
    id                bigint      GENERATED ALWAYS AS IDENTITY,
    subscription      text        NOT NULL,
    message_ids       bigint[]    NOT NULL,
    oldest_message_id bigint      NOT NULL,
    state             text        NOT NULL DEFAULT 'ready',
    available_at      timestamptz NOT NULL DEFAULT now(),
    attempts          integer     NOT NULL DEFAULT 0,
    lease_owner       text,
    fence             bigint      NOT NULL DEFAULT 0,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subscription_batch_pkey PRIMARY KEY (id),
    CONSTRAINT subscription_batch_subscription_fkey FOREIGN KEY (subscription)
        REFERENCES chargegate.subscription (name),
    CONSTRAINT subscription_batch_state_check CHECK (state IN ('ready', 'leased', 'dead')),
    CONSTRAINT subscription_batch_attempts_check CHECK (attempts >= 0),
    CONSTRAINT subscription_batch_lease_check CHECK ((state = 'leased') = (lease_owner IS NOT NULL)),
    CONSTRAINT subscription_batch_messages_check CHECK (cardinality(message_ids) >= 1)
) WITH (
    fillfactor = 80,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);
-- The claim path: rows that are ready, or leased with an expired lease, by due time.
CREATE INDEX subscription_batch_claim_idx
    ON chargegate.subscription_batch (subscription, available_at)
    WHERE state IN ('ready', 'leased');
-- Retention keeps every message a pending batch still refers to.
CREATE INDEX subscription_batch_oldest_idx ON chargegate.subscription_batch (oldest_message_id);
COMMENT ON TABLE chargegate.subscription_batch IS
    'Deliveries not yet acknowledged, per subscription, in batches of messages: ready -> leased -> '
    '(deleted when acknowledged); a failed message is split into a batch of its own, ready again after '
    'its retry delay, or dead after queue.max_attempts.';
COMMENT ON COLUMN chargegate.subscription_batch.message_ids IS 'topic_message ids delivered together.';
COMMENT ON COLUMN chargegate.subscription_batch.oldest_message_id IS 'Smallest of message_ids, for retention.';
COMMENT ON COLUMN chargegate.subscription_batch.available_at IS
    'ready: when the batch may be claimed (later for a retry). leased: when the lease expires and '
    'another consumer may claim it.';
COMMENT ON COLUMN chargegate.subscription_batch.fence IS
    'Incremented by every claim; an acknowledgement must carry the current value, so a consumer whose '
    'lease expired cannot acknowledge work another consumer now owns.';
COMMENT ON COLUMN chargegate.subscription_batch.lease_owner IS
    'Consumer holding the lease (host:pid:subscription) while leased.';

CREATE TABLE chargegate.handled_event (
    subscription text        NOT NULL,
    event_id     uuid        NOT NULL,
    handled_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT handled_event_pkey PRIMARY KEY (subscription, event_id)
) WITH (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_vacuum_cost_delay = 0
);
CREATE INDEX handled_event_handled_at_idx ON chargegate.handled_event USING brin (handled_at);
COMMENT ON TABLE chargegate.handled_event IS
    'Event ids each subscription has handled, written in the same transaction as the handler''s own '
    'writes: a redelivered event changes nothing twice. Removed by retention.';

-- The wiring of the design's flow (DESIGN.md §1).
INSERT INTO chargegate.topic (name) VALUES
    ('charging_session_request'), ('authorization_decision_callback'), ('callback_delivery');
INSERT INTO chargegate.outbox (name, topic) VALUES
    ('charging_session_request_outbox', 'charging_session_request'),
    ('authorization_decision_callback_outbox', 'authorization_decision_callback'),
    ('callback_delivery_outbox', 'callback_delivery');

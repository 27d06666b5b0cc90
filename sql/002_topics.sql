-- 002_topics.sql — topics emulated with tables: the PostgreSQL transport.
--
-- A topic is a named stream; every subscription of a topic sees every message
-- (fan-out: one subscription_message row per subscription and message).
-- Inside a subscription any number of consumers share the rows through
-- SELECT … FOR UPDATE SKIP LOCKED; there is no cursor over a sequence, so a
-- slow transaction's rows can never be skipped.
--
-- A claimed row is a lease: owner, expiry (available_at while leased) and a
-- fencing counter.  An expired lease makes the row claimable again; an
-- acknowledgement that does not carry the current fence is refused.

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
CREATE INDEX topic_message_published_idx ON chargegate.topic_message (published_at);
COMMENT ON TABLE chargegate.topic_message IS
    'Messages published to topics; the body of every subscription_message. Removed by retention once '
    'every subscription is done with them.';
COMMENT ON COLUMN chargegate.topic_message.created_at IS 'created_at of the outbox row it came from.';

CREATE TABLE chargegate.subscription_message (
    subscription     text        NOT NULL,
    message_id       bigint      NOT NULL,
    state            text        NOT NULL DEFAULT 'ready',
    available_at     timestamptz NOT NULL DEFAULT now(),
    attempts         integer     NOT NULL DEFAULT 0,
    lease_owner      text,
    fence            bigint      NOT NULL DEFAULT 0,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    done_at          timestamptz,
    CONSTRAINT subscription_message_pkey PRIMARY KEY (subscription, message_id),
    CONSTRAINT subscription_message_subscription_fkey FOREIGN KEY (subscription)
        REFERENCES chargegate.subscription (name),
    CONSTRAINT subscription_message_message_fkey FOREIGN KEY (message_id)
        REFERENCES chargegate.topic_message (id) ON DELETE CASCADE,
    CONSTRAINT subscription_message_state_check CHECK (state IN ('ready', 'leased', 'done', 'dead')),
    CONSTRAINT subscription_message_attempts_check CHECK (attempts >= 0),
    CONSTRAINT subscription_message_lease_check CHECK ((state = 'leased') = (lease_owner IS NOT NULL)),
    CONSTRAINT subscription_message_done_check CHECK ((state = 'done') = (done_at IS NOT NULL))
) WITH (
    fillfactor = 80,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);
-- The claim path: rows that are ready, or leased with an expired lease, by due time.
CREATE INDEX subscription_message_claim_idx
    ON chargegate.subscription_message (subscription, available_at)
    WHERE state IN ('ready', 'leased');
CREATE INDEX subscription_message_done_idx
    ON chargegate.subscription_message (done_at) WHERE state = 'done';
CREATE INDEX subscription_message_message_idx ON chargegate.subscription_message (message_id);
COMMENT ON TABLE chargegate.subscription_message IS
    'One row per subscription and message: its delivery state. ready -> leased -> done, or back to ready '
    'with a later available_at after a handler failure, or dead after queue.max_attempts.';
COMMENT ON COLUMN chargegate.subscription_message.available_at IS
    'ready: when the message may be claimed (later for a retry). leased: when the lease expires and '
    'another consumer may claim it.';
COMMENT ON COLUMN chargegate.subscription_message.fence IS
    'Incremented by every claim; an acknowledgement must carry the current value, so a consumer whose '
    'lease expired cannot acknowledge work another consumer now owns.';
COMMENT ON COLUMN chargegate.subscription_message.lease_owner IS
    'Consumer holding the lease (daemon host:pid/subscription) while leased.';

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
CREATE INDEX handled_event_handled_at_idx ON chargegate.handled_event (handled_at);
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

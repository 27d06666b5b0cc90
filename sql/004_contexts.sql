-- 004_contexts.sql — the three contexts' own tables: the authorization
-- audit, callback delivery attempts, and the Notification context's retry
-- outbox (delayed re-sends: available_at is the next attempt's time).

CREATE TABLE chargegate.authorization_audit (
    id           bigint      GENERATED ALWAYS AS IDENTITY,
    request_id   uuid        NOT NULL,
    event_id     uuid        NOT NULL,
    sent         jsonb,
    http_status  integer,
    response     text,
    decision     text        NOT NULL,
    reason       text,
    latency_ms   integer,
    cause        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT authorization_audit_pkey PRIMARY KEY (id),
    CONSTRAINT authorization_audit_decision_check
        CHECK (decision IN ('allowed', 'not_allowed', 'unknown', 'invalid'))
);
CREATE INDEX authorization_audit_request_idx ON chargegate.authorization_audit (request_id);
COMMENT ON TABLE chargegate.authorization_audit IS
    'Every authorization decision: what was sent to the authorization service, its answer (truncated), '
    'HTTP status, latency, and why the decision is what it is (cause: timeout, http_500, bad body, ...).';
COMMENT ON COLUMN chargegate.authorization_audit.sent IS 'Body POSTed to authorization.url; NULL when no call was made (invalid).';
COMMENT ON COLUMN chargegate.authorization_audit.response IS 'The answer''s body, at most 64 KiB.';

CREATE TABLE chargegate.callback_delivery_attempt (
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    request_id      uuid        NOT NULL,
    webhook_id      uuid        NOT NULL,
    attempt         integer     NOT NULL,
    callback_url    text        NOT NULL,
    http_status     integer,
    latency_ms      integer,
    error_class     text,
    response_body   text,
    final           boolean     NOT NULL,
    next_attempt_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT callback_delivery_attempt_pkey PRIMARY KEY (id),
    CONSTRAINT callback_delivery_attempt_attempt_check CHECK (attempt >= 1),
    CONSTRAINT callback_delivery_attempt_error_class_check
        CHECK (error_class IS NULL OR error_class ~ '^(dns|connect|tls|timeout|blocked_address|http_[0-9]{3})$')
);
CREATE INDEX callback_delivery_attempt_request_idx ON chargegate.callback_delivery_attempt (request_id);
COMMENT ON TABLE chargegate.callback_delivery_attempt IS
    'Every POST to a callback_url: status, latency, error class, the response body (at most 64 KiB), '
    'and whether another attempt follows (next_attempt_at) or the delivery is over (final).';

CREATE TABLE chargegate.callback_retry_outbox (
    id               bigint      GENERATED ALWAYS AS IDENTITY,
    event_id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    event_type       text        NOT NULL,
    aggregate_id     uuid        NOT NULL,
    payload          jsonb       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    available_at     timestamptz NOT NULL DEFAULT now(),
    published_at     timestamptz,
    publish_attempts integer     NOT NULL DEFAULT 0,
    last_error       text,
    CONSTRAINT callback_retry_outbox_pkey PRIMARY KEY (id),
    CONSTRAINT callback_retry_outbox_event_id_key UNIQUE (event_id),
    CONSTRAINT callback_retry_outbox_event_type_check CHECK (event_type IN ('CallbackRetryRequested')),
    CONSTRAINT callback_retry_outbox_payload_check CHECK (jsonb_typeof(payload) = 'object'),
    CONSTRAINT callback_retry_outbox_publish_attempts_check CHECK (publish_attempts >= 0)
) WITH (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);
CREATE INDEX callback_retry_outbox_pending_idx
    ON chargegate.callback_retry_outbox (available_at, id) WHERE published_at IS NULL;
CREATE INDEX callback_retry_outbox_published_idx
    ON chargegate.callback_retry_outbox (published_at) WHERE published_at IS NOT NULL;
COMMENT ON TABLE chargegate.callback_retry_outbox IS
    'Scheduled callback re-sends of the Notification context; available_at is when the next attempt is due, '
    'so the schedule lives in the database and survives restarts.';

INSERT INTO chargegate.topic (name) VALUES ('callback_retry');
INSERT INTO chargegate.outbox (name, topic) VALUES ('callback_retry_outbox', 'callback_retry');

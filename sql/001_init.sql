-- 001_init.sql — chargegate's foundation: requests, idempotency keys and the
-- three transactional outbox tables.
--
-- Applied once by `chargegatectl migrate`, inside the runner's single
-- transaction (no BEGIN/COMMIT here).  The runner has already created the
-- schema "chargegate" and chargegate.schema_version.  Table names are stable
-- (DESIGN.md §7): extend, never rename.

-- ---------------------------------------------------------------------------
-- charging_session_request: one row per accepted POST /v1/charging-sessions
-- ---------------------------------------------------------------------------
CREATE TABLE chargegate.charging_session_request (
    request_id        uuid        NOT NULL,
    station_id        uuid        NOT NULL,
    driver_token      text        NOT NULL,
    callback_url      text        NOT NULL,
    status            text        NOT NULL DEFAULT 'accepted',
    decision          text,
    decision_reason   text,
    callback_attempts integer     NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT charging_session_request_pkey PRIMARY KEY (request_id),
    CONSTRAINT charging_session_request_driver_token_check
        CHECK (char_length(driver_token) BETWEEN 1 AND 255
               AND driver_token ~ '^[\x21-\x7E]+$'),
    CONSTRAINT charging_session_request_callback_url_check
        CHECK (octet_length(callback_url) <= 2048
               AND callback_url ~* '^https?://'),
    CONSTRAINT charging_session_request_status_check
        CHECK (status IN ('accepted', 'decided', 'delivered', 'delivery_failed')),
    CONSTRAINT charging_session_request_decision_check
        CHECK (decision IN ('allowed', 'not_allowed', 'unknown', 'invalid')),
    CONSTRAINT charging_session_request_callback_attempts_check
        CHECK (callback_attempts >= 0),
    -- 'accepted' is exactly the state without a decision; every later state
    -- (decided, delivered, delivery_failed) carries one.
    CONSTRAINT charging_session_request_status_decision_check
        CHECK ((status = 'accepted') = (decision IS NULL))
);

COMMENT ON TABLE chargegate.charging_session_request IS
    'One row per accepted start-charging-session request (POST /v1/charging-sessions). '
    'Written together with its StartChargingSessionRequestCommand in charging_session_request_outbox, '
    'in one transaction, before the API answers 202.';
COMMENT ON COLUMN chargegate.charging_session_request.request_id IS
    'Identifier returned to the client in the 202 answer and the Location header; '
    'also the aggregate_id of every outbox event about this request.';
COMMENT ON COLUMN chargegate.charging_session_request.station_id IS
    'Charging station the driver wants to start a session at (from the request body).';
COMMENT ON COLUMN chargegate.charging_session_request.driver_token IS
    'Driver identification token as sent by the client: 1-255 printable ASCII characters (0x21-0x7E).';
COMMENT ON COLUMN chargegate.charging_session_request.callback_url IS
    'Absolute http(s) URL the decision is POSTed to, at most 2048 bytes. '
    'Whether its address is allowed (SSRF checks) is decided at delivery time, not here.';
COMMENT ON COLUMN chargegate.charging_session_request.status IS
    'Lifecycle: accepted (no decision yet) -> decided (decision known, callback pending) -> '
    'delivered (callback answered 2xx) or delivery_failed (retries spent or 410 Gone).';
COMMENT ON COLUMN chargegate.charging_session_request.decision IS
    'Authorization decision: allowed, not_allowed, unknown (timeout or unusable answer from the '
    'authorization service) or invalid (failed re-validation). NULL exactly while status = accepted.';
COMMENT ON COLUMN chargegate.charging_session_request.decision_reason IS
    'Optional reason given by the authorization service (e.g. OCPI BLOCKED, EXPIRED, NO_CREDIT); '
    'passed on to the callback as "reason".';
COMMENT ON COLUMN chargegate.charging_session_request.callback_attempts IS
    'Number of callback delivery attempts made so far (successful or not).';
COMMENT ON COLUMN chargegate.charging_session_request.updated_at IS
    'Time of the last status change; maintained by the SQL that changes the row (no trigger).';

-- ---------------------------------------------------------------------------
-- idempotency_key: Idempotency-Key header -> the request it first created
-- ---------------------------------------------------------------------------
CREATE TABLE chargegate.idempotency_key (
    key        text        NOT NULL,
    request_id uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT idempotency_key_pkey PRIMARY KEY (key),
    CONSTRAINT idempotency_key_request_id_key UNIQUE (request_id),
    -- Deferred so that accept_requests can claim the key first (the claim is
    -- what serialises concurrent requests with the same key) and insert the
    -- request row afterwards in the same transaction.
    CONSTRAINT idempotency_key_request_id_fkey FOREIGN KEY (request_id)
        REFERENCES chargegate.charging_session_request (request_id)
        ON DELETE CASCADE
        DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT idempotency_key_key_check
        CHECK (char_length(key) BETWEEN 1 AND 255 AND key ~ '^[\x21-\x7E]+$')
);

COMMENT ON TABLE chargegate.idempotency_key IS
    'Idempotency-Key header values and the request each one first created. The same key with '
    'the same body replays that request_id; with a different body the API answers 422. '
    'Rows disappear with their request (ON DELETE CASCADE).';
COMMENT ON COLUMN chargegate.idempotency_key.key IS
    'Idempotency-Key header value as sent by the client: 1-255 printable ASCII characters (0x21-0x7E).';
COMMENT ON COLUMN chargegate.idempotency_key.request_id IS
    'The request created by the first use of this key.';

-- ---------------------------------------------------------------------------
-- Outbox tables.  All three have the same shape; the relay claims pending
-- rows (published_at IS NULL AND available_at <= now()) with
-- FOR UPDATE SKIP LOCKED in (available_at, id) order, hands them to the
-- transport and sets published_at.
--
-- Autovacuum: these are hot queue tables — every row is inserted, updated
-- once when published and deleted by retention soon after, so dead tuples
-- pile up quickly while the live set stays small.  The global default
-- (vacuum at 20 % dead tuples, cost-throttled) lets the pending index and the
-- heap bloat and the relay's claim query slow down.  Vacuum them at 1 %
-- without throttling; on a small table that is cheap and frequent.
-- ---------------------------------------------------------------------------
CREATE TABLE chargegate.charging_session_request_outbox (
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

    CONSTRAINT charging_session_request_outbox_pkey PRIMARY KEY (id),
    CONSTRAINT charging_session_request_outbox_event_id_key UNIQUE (event_id),
    CONSTRAINT charging_session_request_outbox_event_type_check
        CHECK (event_type IN ('StartChargingSessionRequestCommand')),
    CONSTRAINT charging_session_request_outbox_payload_check
        CHECK (jsonb_typeof(payload) = 'object'),
    CONSTRAINT charging_session_request_outbox_publish_attempts_check
        CHECK (publish_attempts >= 0)
) WITH (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);

CREATE INDEX charging_session_request_outbox_pending_idx
    ON chargegate.charging_session_request_outbox (available_at, id)
    WHERE published_at IS NULL;
CREATE INDEX charging_session_request_outbox_published_idx
    ON chargegate.charging_session_request_outbox (published_at)
    WHERE published_at IS NOT NULL;

CREATE TABLE chargegate.authorization_decision_callback_outbox (
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

    CONSTRAINT authorization_decision_callback_outbox_pkey PRIMARY KEY (id),
    CONSTRAINT authorization_decision_callback_outbox_event_id_key UNIQUE (event_id),
    CONSTRAINT authorization_decision_callback_outbox_event_type_check
        CHECK (event_type IN ('AuthorizationDecisionCallback')),
    CONSTRAINT authorization_decision_callback_outbox_payload_check
        CHECK (jsonb_typeof(payload) = 'object'),
    CONSTRAINT authorization_decision_callback_outbox_publish_attempts_check
        CHECK (publish_attempts >= 0)
) WITH (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);

CREATE INDEX authorization_decision_callback_outbox_pending_idx
    ON chargegate.authorization_decision_callback_outbox (available_at, id)
    WHERE published_at IS NULL;
CREATE INDEX authorization_decision_callback_outbox_published_idx
    ON chargegate.authorization_decision_callback_outbox (published_at)
    WHERE published_at IS NOT NULL;

CREATE TABLE chargegate.callback_delivery_outbox (
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

    CONSTRAINT callback_delivery_outbox_pkey PRIMARY KEY (id),
    CONSTRAINT callback_delivery_outbox_event_id_key UNIQUE (event_id),
    CONSTRAINT callback_delivery_outbox_event_type_check
        CHECK (event_type IN ('CallbackDeliverySucceeded', 'CallbackFailed')),
    CONSTRAINT callback_delivery_outbox_payload_check
        CHECK (jsonb_typeof(payload) = 'object'),
    CONSTRAINT callback_delivery_outbox_publish_attempts_check
        CHECK (publish_attempts >= 0)
) WITH (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);

CREATE INDEX callback_delivery_outbox_pending_idx
    ON chargegate.callback_delivery_outbox (available_at, id)
    WHERE published_at IS NULL;
CREATE INDEX callback_delivery_outbox_published_idx
    ON chargegate.callback_delivery_outbox (published_at)
    WHERE published_at IS NOT NULL;

-- Comments: the three outboxes share their column meanings.
COMMENT ON TABLE chargegate.charging_session_request_outbox IS
    'Transactional outbox of the ChargingSessionRequest context: StartChargingSessionRequestCommand '
    'events, written in the same transaction as the request row; the relay publishes them to topic '
    'charging_session_request. NOTIFY channel: chargegate_charging_session_request_outbox (payload-free hint).';
COMMENT ON TABLE chargegate.authorization_decision_callback_outbox IS
    'Transactional outbox of the Authorization worker: AuthorizationDecisionCallback events (one per '
    'decision); the relay publishes them to topic authorization_decision_callback. '
    'NOTIFY channel: chargegate_authorization_decision_callback_outbox (payload-free hint).';
COMMENT ON TABLE chargegate.callback_delivery_outbox IS
    'Transactional outbox of the Notification context: CallbackDeliverySucceeded and CallbackFailed '
    'events, one per callback attempt; the relay publishes them to topic callback_delivery. '
    'NOTIFY channel: chargegate_callback_delivery_outbox (payload-free hint).';

COMMENT ON COLUMN chargegate.charging_session_request_outbox.id IS
    'Insertion order, for tie-breaking and paging only. Not a cursor: ids are assigned before commit, '
    'so a larger id can become visible before a smaller one.';
COMMENT ON COLUMN chargegate.charging_session_request_outbox.event_id IS
    'Stable identifier of the event across every publish attempt; consumers de-duplicate on it.';
COMMENT ON COLUMN chargegate.charging_session_request_outbox.aggregate_id IS
    'request_id of the charging_session_request the event is about: ordering and partition key.';
COMMENT ON COLUMN chargegate.charging_session_request_outbox.payload IS
    'Event body, a JSON object: {"request_id","station_id","driver_token","callback_url"}.';
COMMENT ON COLUMN chargegate.charging_session_request_outbox.available_at IS
    'Earliest time the relay may publish the row; later than created_at for delayed retries.';
COMMENT ON COLUMN chargegate.charging_session_request_outbox.published_at IS
    'When the relay handed the row to the transport; NULL while pending. Published rows are '
    'removed by retention after queue.retention.';
COMMENT ON COLUMN chargegate.charging_session_request_outbox.publish_attempts IS
    'Number of failed attempts to publish the row.';
COMMENT ON COLUMN chargegate.charging_session_request_outbox.last_error IS
    'Error of the last failed publish attempt, NULL if none failed.';

COMMENT ON COLUMN chargegate.authorization_decision_callback_outbox.id IS
    'Insertion order, for tie-breaking and paging only. Not a cursor: ids are assigned before commit, '
    'so a larger id can become visible before a smaller one.';
COMMENT ON COLUMN chargegate.authorization_decision_callback_outbox.event_id IS
    'Stable identifier of the event across every publish attempt; consumers de-duplicate on it, '
    'and the callback carries it as webhook-id.';
COMMENT ON COLUMN chargegate.authorization_decision_callback_outbox.aggregate_id IS
    'request_id of the charging_session_request the event is about: ordering and partition key.';
COMMENT ON COLUMN chargegate.authorization_decision_callback_outbox.payload IS
    'Event body, a JSON object (the decision and what the callback needs).';
COMMENT ON COLUMN chargegate.authorization_decision_callback_outbox.available_at IS
    'Earliest time the relay may publish the row; later than created_at for delayed retries.';
COMMENT ON COLUMN chargegate.authorization_decision_callback_outbox.published_at IS
    'When the relay handed the row to the transport; NULL while pending. Published rows are '
    'removed by retention after queue.retention.';
COMMENT ON COLUMN chargegate.authorization_decision_callback_outbox.publish_attempts IS
    'Number of failed attempts to publish the row.';
COMMENT ON COLUMN chargegate.authorization_decision_callback_outbox.last_error IS
    'Error of the last failed publish attempt, NULL if none failed.';

COMMENT ON COLUMN chargegate.callback_delivery_outbox.id IS
    'Insertion order, for tie-breaking and paging only. Not a cursor: ids are assigned before commit, '
    'so a larger id can become visible before a smaller one.';
COMMENT ON COLUMN chargegate.callback_delivery_outbox.event_id IS
    'Stable identifier of the event across every publish attempt; consumers de-duplicate on it.';
COMMENT ON COLUMN chargegate.callback_delivery_outbox.aggregate_id IS
    'request_id of the charging_session_request the event is about: ordering and partition key.';
COMMENT ON COLUMN chargegate.callback_delivery_outbox.payload IS
    'Event body, a JSON object (outcome of one callback attempt).';
COMMENT ON COLUMN chargegate.callback_delivery_outbox.available_at IS
    'Earliest time the relay may publish the row; later than created_at for delayed retries.';
COMMENT ON COLUMN chargegate.callback_delivery_outbox.published_at IS
    'When the relay handed the row to the transport; NULL while pending. Published rows are '
    'removed by retention after queue.retention.';
COMMENT ON COLUMN chargegate.callback_delivery_outbox.publish_attempts IS
    'Number of failed attempts to publish the row.';
COMMENT ON COLUMN chargegate.callback_delivery_outbox.last_error IS
    'Error of the last failed publish attempt, NULL if none failed.';

COMMENT ON INDEX chargegate.charging_session_request_outbox_pending_idx IS
    'Pending rows in claim order, for the relay.';
COMMENT ON INDEX chargegate.charging_session_request_outbox_published_idx IS
    'Published rows by age, for retention.';
COMMENT ON INDEX chargegate.authorization_decision_callback_outbox_pending_idx IS
    'Pending rows in claim order, for the relay.';
COMMENT ON INDEX chargegate.authorization_decision_callback_outbox_published_idx IS
    'Published rows by age, for retention.';
COMMENT ON INDEX chargegate.callback_delivery_outbox_pending_idx IS
    'Pending rows in claim order, for the relay.';
COMMENT ON INDEX chargegate.callback_delivery_outbox_published_idx IS
    'Published rows by age, for retention.';

-- 013_failure_notices.sql — operational failure notifications
-- (callback.failure_url, DESIGN §6): when a request's callback delivery
-- ends failed, a signed CallbackDeliveryFailed summary goes to the
-- operator's endpoint.
--
-- The notices ride the callback_delivery topic: the built-in subscription
-- failure_notice receives every delivery outcome, acts on the final
-- CallbackFailed ones and acknowledges the rest at once (also every one
-- while callback.failure_url is unset, so its backlog stays truthful in
-- subscription_status).  A kill -9 between the final failure and the
-- notice leaves the message leased, and the lease's expiry hands it over.
--
-- Each POST to the operator's endpoint is one failure_notice_attempt row,
-- apart from callback_delivery_attempt: the request's own story keeps
-- only the attempts to its callback_url.

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM chargegate.subscription
                WHERE name = 'failure_notice' AND topic <> 'callback_delivery') THEN
        RAISE EXCEPTION 'a subscription named failure_notice exists on another topic than callback_delivery'
            USING HINT = 'Rename or drop it, then run chargegatectl migrate again.';
    END IF;
END;
$$;

-- A subscription may take only some event types of its topic: the relay
-- fans a message out only to the subscriptions that want it, so
-- failure_notice is not handed every delivery success (most of the topic)
-- only to acknowledge it.
ALTER TABLE chargegate.subscription ADD COLUMN event_types text[];
COMMENT ON COLUMN chargegate.subscription.event_types IS
    'Event types the relay hands this subscription (NULL: every message of its topic).';

INSERT INTO chargegate.subscription (name, topic, builtin, event_types)
VALUES ('failure_notice', 'callback_delivery', true, ARRAY['CallbackFailed'])
ON CONFLICT (name) DO UPDATE SET builtin = true, event_types = EXCLUDED.event_types;

-- Failures that ended before this version are not announced on upgrade:
-- what the topic (PostgreSQL transport) and the outbox (also the Kafka
-- transport, whose new consumer group starts at the earliest offset) still
-- hold counts as handled for the new subscription, so neither
-- chargegate.stranded_messages nor Kafka hands it over.
-- Only failures: the subscription is never handed anything else (event_types).
INSERT INTO chargegate.handled_event (subscription, event_id)
SELECT 'failure_notice', m.event_id
  FROM chargegate.topic_message m
 WHERE m.topic = 'callback_delivery' AND m.event_type = 'CallbackFailed'
UNION
SELECT 'failure_notice', o.event_id
  FROM chargegate.callback_delivery_outbox o
 WHERE o.event_type = 'CallbackFailed'
ON CONFLICT DO NOTHING;

CREATE TABLE chargegate.failure_notice_attempt (
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    request_id    uuid        NOT NULL,
    webhook_id    uuid        NOT NULL,
    attempt       integer     NOT NULL,
    failure_url   text        NOT NULL,
    http_status   integer,
    latency_ms    integer,
    error_class   text,
    response_body text,
    final         boolean     NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT failure_notice_attempt_pkey PRIMARY KEY (id),
    CONSTRAINT failure_notice_attempt_attempt_check CHECK (attempt >= 1),
    CONSTRAINT failure_notice_attempt_error_class_check
        CHECK (error_class IS NULL OR error_class ~ '^(dns|connect|tls|timeout|blocked_address|http_[0-9]{3})$')
);
CREATE INDEX failure_notice_attempt_request_idx ON chargegate.failure_notice_attempt (request_id);
COMMENT ON TABLE chargegate.failure_notice_attempt IS
    'Every POST of a CallbackDeliveryFailed notice to callback.failure_url: the request it is about, the '
    'notice''s webhook-id (the same on every attempt), status, latency, error class, at most 4 KiB of the '
    'answer, and whether the notice is over (final: sent, or its retries spent).';

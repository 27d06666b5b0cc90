-- 007_builtin_subscriptions.sql — the subscriptions the product itself
-- needs are part of the schema.
--
-- Until now each consumer created its subscription when it first started,
-- while a relay started at the same moment (or earlier, on another host)
-- fanned batches out to the subscriptions that existed then: a message
-- published before its subscription existed reached nobody, and its request
-- stayed "accepted" forever.  From this migration on the built-in
-- subscriptions exist before any message can be published, whatever the
-- order in which the daemons' roles start; the relay also refuses to publish
-- to a topic that has no subscription at all (relay_outbox).
--
-- Databases that ran an earlier version heal here: the stranded messages
-- still on their topic are re-queued by chargegate.requeue_stranded_messages()
-- (run by every `chargegatectl migrate`, sql/after/), and requests whose
-- trail retention has already removed get their command or decision again
-- (below).

ALTER TABLE chargegate.subscription ADD COLUMN builtin boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN chargegate.subscription.builtin IS
    'true for the subscriptions chargegate''s own consumers use; created by the migrations, never by a consumer.';

-- A subscription of that name on another topic cannot be ours: stop here
-- rather than guess.
DO $$
DECLARE
    v_clash text;
BEGIN
    SELECT string_agg(format('%s (on %s, expected %s)', s.name, s.topic, b.topic), ', ') INTO v_clash
      FROM chargegate.subscription s
      JOIN (VALUES ('authorization', 'charging_session_request'),
                   ('notification', 'authorization_decision_callback'),
                   ('request_status_decisions', 'authorization_decision_callback'),
                   ('retry_scheduler', 'callback_delivery'),
                   ('request_status_deliveries', 'callback_delivery'),
                   ('notification_retry', 'callback_retry')) AS b(name, topic) ON b.name = s.name
     WHERE s.topic <> b.topic;
    IF v_clash IS NOT NULL THEN
        RAISE EXCEPTION 'subscriptions with built-in names exist on other topics: %', v_clash
            USING HINT = 'Rename or drop them, then run chargegatectl migrate again.';
    END IF;
END;
$$;

-- Existing rows keep their created_at: requeue_stranded_messages() needs it
-- to tell which messages were published before the subscription existed.
INSERT INTO chargegate.subscription (name, topic, builtin)
VALUES ('authorization', 'charging_session_request', true),
       ('notification', 'authorization_decision_callback', true),
       ('request_status_decisions', 'authorization_decision_callback', true),
       ('retry_scheduler', 'callback_delivery', true),
       ('request_status_deliveries', 'callback_delivery', true),
       ('notification_retry', 'callback_retry', true)
ON CONFLICT (name) DO UPDATE SET builtin = true;

-- Requests whose command or decision was stranded and then removed by
-- retention (an earlier version deleted a topic message nobody held after
-- queue.retention) have no trail left to re-queue: write the event again.
-- Only what no consumer ever acted on qualifies — a request still accepted
-- with no audit row, or decided with no callback attempt — so nothing
-- happens twice.  Needs no index: it runs once, on an upgrade.
DO $$
DECLARE
    v_commands  integer;
    v_decisions integer;
BEGIN
    WITH lost AS (
        SELECT r.request_id, r.station_id, r.driver_token, r.callback_url
          FROM chargegate.charging_session_request r
         WHERE r.status = 'accepted'
           AND NOT EXISTS (SELECT 1 FROM chargegate.charging_session_request_outbox o
                            WHERE o.aggregate_id = r.request_id)
           AND NOT EXISTS (SELECT 1 FROM chargegate.topic_message m
                            WHERE m.topic = 'charging_session_request' AND m.aggregate_id = r.request_id)
           AND NOT EXISTS (SELECT 1 FROM chargegate.authorization_audit a WHERE a.request_id = r.request_id)
    ), written AS (
        INSERT INTO chargegate.charging_session_request_outbox (event_type, aggregate_id, payload)
        SELECT 'StartChargingSessionRequestCommand', l.request_id,
               jsonb_build_object('request_id', l.request_id::text, 'station_id', l.station_id::text,
                                  'driver_token', l.driver_token, 'callback_url', l.callback_url)
          FROM lost l
        RETURNING 1
    )
    SELECT count(*) INTO v_commands FROM written;

    WITH lost AS (
        SELECT r.request_id, r.station_id, r.driver_token, r.callback_url, r.decision, r.decision_reason
          FROM chargegate.charging_session_request r
         WHERE r.status = 'decided'
           AND NOT EXISTS (SELECT 1 FROM chargegate.authorization_decision_callback_outbox o
                            WHERE o.aggregate_id = r.request_id AND o.published_at IS NULL)
           AND NOT EXISTS (SELECT 1 FROM chargegate.topic_message m
                            WHERE m.topic = 'authorization_decision_callback' AND m.aggregate_id = r.request_id)
           AND NOT EXISTS (SELECT 1 FROM chargegate.callback_delivery_attempt a WHERE a.request_id = r.request_id)
    ), written AS (
        INSERT INTO chargegate.authorization_decision_callback_outbox (event_type, aggregate_id, payload)
        SELECT 'AuthorizationDecisionCallback', l.request_id,
               jsonb_strip_nulls(jsonb_build_object(
                   'request_id', l.request_id, 'station_id', l.station_id, 'driver_token', l.driver_token,
                   'callback_url', l.callback_url, 'status', l.decision, 'reason', l.decision_reason))
          FROM lost l
        RETURNING 1
    )
    SELECT count(*) INTO v_decisions FROM written;

    IF v_commands > 0 OR v_decisions > 0 THEN
        RAISE WARNING 'written again: % lost StartChargingSessionRequestCommand and % lost '
                      'AuthorizationDecisionCallback events of requests an earlier version stranded',
                      v_commands, v_decisions;
    END IF;
END;
$$;

-- Idempotency keys now live as long as their request (they are deleted with
-- it, through the foreign key), no longer by queue.retention: the index that
-- retention used costs every insert and serves nothing.
DROP INDEX chargegate.idempotency_key_created_at_idx;

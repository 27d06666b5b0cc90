-- chargegate.relay_outbox: moves due outbox rows to the outbox's topic
-- exactly once, in (available_at, id) order, up to the limit; fans out one
-- subscription_batch per subscription of that topic (and of no other);
-- reports when the next delayed row is due; moves nothing to a topic that
-- has no subscription and says so; refuses unknown outboxes and bad
-- limits.  (Concurrent relays and NOTIFY: 023_queue_sessions.sql.)
BEGIN;
SELECT plan(46);

-- A clean slate (rolled back at the end)
DELETE FROM chargegate.subscription_batch;
DELETE FROM chargegate.handled_event;
DELETE FROM chargegate.topic_message;
DELETE FROM chargegate.subscription;
DELETE FROM chargegate.charging_session_request_outbox;
DELETE FROM chargegate.authorization_decision_callback_outbox;
DELETE FROM chargegate.callback_delivery_outbox;
DELETE FROM chargegate.callback_retry_outbox;

SELECT chargegate.ensure_subscription(s, t)
  FROM (VALUES ('ra', 'charging_session_request'), ('rb', 'charging_session_request'),
               ('rc', 'callback_delivery'), ('re', 'callback_retry')) AS v(s, t);

-- Four due rows (distinct due times, so the order is known), two delayed.
INSERT INTO chargegate.charging_session_request_outbox (event_id, event_type, aggregate_id, payload, created_at, available_at)
SELECT format('00000000-0000-4000-8000-0000000021%s', lpad(n::text, 2, '0'))::uuid,
       'StartChargingSessionRequestCommand', gen_random_uuid(), jsonb_build_object('n', n),
       now() - interval '1 hour' + n * interval '1 s', now() + d
  FROM (VALUES (1, interval '-1 s'), (2, interval '-3 s'), (3, interval '0'), (4, interval '-2 s'),
               (5, interval '1.5 s'), (6, interval '1 hour')) AS v(n, d);

CREATE FUNCTION pg_temp.ev(p_n int) RETURNS uuid LANGUAGE sql AS $$
    SELECT format('00000000-0000-4000-8000-0000000021%s', lpad(p_n::text, 2, '0'))::uuid
$$;
CREATE FUNCTION pg_temp.msg(p_n int) RETURNS bigint LANGUAGE sql AS $$
    SELECT id FROM chargegate.topic_message WHERE event_id = pg_temp.ev(p_n)
$$;

-- ---------------------------------------------------------------------------
-- The first two due rows, by available_at
-- ---------------------------------------------------------------------------
SELECT results_eq($$SELECT * FROM chargegate.relay_outbox('charging_session_request_outbox', 2)$$,
                  $$VALUES (2, 1500::bigint, false)$$,
                  'relay_outbox moves 2 rows (the limit) and reports the next delayed row due in 1500 ms');
SELECT set_eq($$SELECT event_id FROM chargegate.charging_session_request_outbox WHERE published_at IS NOT NULL$$,
              ARRAY[pg_temp.ev(2), pg_temp.ev(4)], 'the two rows due first are published');
SELECT is((SELECT count(*) FROM chargegate.charging_session_request_outbox
            WHERE published_at = now() AND publish_attempts = 0 AND last_error IS NULL), 2::bigint,
          'published_at is the relay''s time; publish_attempts and last_error are untouched');
SELECT results_eq(
    $$SELECT m.topic, m.event_id, m.event_type, m.aggregate_id, m.payload, m.created_at, m.published_at
        FROM chargegate.topic_message m ORDER BY m.id$$,
    $$SELECT 'charging_session_request'::text, o.event_id, o.event_type, o.aggregate_id, o.payload, o.created_at, now()
        FROM chargegate.charging_session_request_outbox o
       WHERE o.event_id IN (pg_temp.ev(2), pg_temp.ev(4)) ORDER BY o.available_at$$,
    'the topic holds both events, in due order, with their type, aggregate, payload and created_at');
SELECT results_eq(
    $$SELECT subscription, message_ids, oldest_message_id, state, attempts, fence, lease_owner, available_at = now()
        FROM chargegate.subscription_batch ORDER BY subscription$$,
    $$SELECT s, ARRAY[pg_temp.msg(2), pg_temp.msg(4)], pg_temp.msg(2), 'ready'::text, 0, 0::bigint, NULL::text, true
        FROM unnest(ARRAY['ra', 'rb']) AS s$$,
    'fan-out: each subscription of the topic gets one ready batch of both messages');
SELECT is_empty($$SELECT 1 FROM chargegate.subscription_batch WHERE subscription = 'rc'$$,
                'a subscription of another topic gets nothing');

-- ---------------------------------------------------------------------------
-- The rest of the due rows; the delayed ones stay
-- ---------------------------------------------------------------------------
SELECT results_eq($$SELECT * FROM chargegate.relay_outbox('charging_session_request_outbox', 100)$$,
                  $$VALUES (2, 1500::bigint, false)$$, 'the next call moves the two remaining due rows');
SELECT set_eq($$SELECT event_id FROM chargegate.charging_session_request_outbox WHERE published_at IS NULL$$,
              ARRAY[pg_temp.ev(5), pg_temp.ev(6)], 'the rows not yet due stay pending');
SELECT is((SELECT count(*) FROM chargegate.topic_message WHERE event_id = pg_temp.ev(5) OR event_id = pg_temp.ev(6)),
          0::bigint, 'rows not yet due are not on the topic');
SELECT results_eq(
    $$SELECT subscription, message_ids FROM chargegate.subscription_batch ORDER BY subscription, id$$,
    $$SELECT s, ids FROM unnest(ARRAY['ra', 'rb']) AS s
       CROSS JOIN (VALUES (1, ARRAY[pg_temp.msg(2), pg_temp.msg(4)]), (2, ARRAY[pg_temp.msg(1), pg_temp.msg(3)])) AS v(k, ids)
       ORDER BY s, k$$,
    'each call makes one batch per subscription, its messages in due order');
SELECT results_eq($$SELECT * FROM chargegate.relay_outbox('charging_session_request_outbox', 100)$$,
                  $$VALUES (0, 1500::bigint, false)$$, 'nothing is due any more: 0 rows moved');
SELECT results_eq(
    $$SELECT (SELECT count(*) FROM chargegate.topic_message), (SELECT count(DISTINCT event_id) FROM chargegate.topic_message),
             (SELECT count(*) FROM chargegate.subscription_batch)$$,
    $$VALUES (4::bigint, 4::bigint, 4::bigint)$$,
    'each due row was moved exactly once; an empty relay makes no batch');

-- A delayed row becomes due
UPDATE chargegate.charging_session_request_outbox SET available_at = now() - interval '1 ms'
 WHERE event_id = pg_temp.ev(5);
SELECT results_eq($$SELECT * FROM chargegate.relay_outbox('charging_session_request_outbox', 100)$$,
                  $$VALUES (1, 3600000::bigint, false)$$,
                  'a delayed row is moved once due; the next one is due in an hour');
SELECT is((SELECT array_agg(subscription ORDER BY subscription) FROM chargegate.subscription_batch
            WHERE message_ids = ARRAY[pg_temp.msg(5)]),
          ARRAY['ra', 'rb'], 'and fanned out as a batch of one');
UPDATE chargegate.charging_session_request_outbox SET available_at = now() WHERE event_id = pg_temp.ev(6);
SELECT results_eq($$SELECT * FROM chargegate.relay_outbox('charging_session_request_outbox', 100)$$,
                  $$VALUES (1, NULL::bigint, false)$$,
                  'with no delayed row left, next_due_ms is NULL');
SELECT is((SELECT count(*) FROM chargegate.charging_session_request_outbox WHERE published_at IS NULL), 0::bigint,
          'the outbox has no pending row left');

-- ---------------------------------------------------------------------------
-- Other outboxes: their own topic, their own subscriptions
-- ---------------------------------------------------------------------------
INSERT INTO chargegate.callback_delivery_outbox (event_id, event_type, aggregate_id, payload)
VALUES ('00000000-0000-4000-8000-000000002131', 'CallbackFailed', gen_random_uuid(), '{"attempt": 1}'),
       ('00000000-0000-4000-8000-000000002132', 'CallbackDeliverySucceeded', gen_random_uuid(), '{"attempt": 2}');
SELECT results_eq($$SELECT * FROM chargegate.relay_outbox('callback_delivery_outbox', 10)$$,
                  $$VALUES (2, NULL::bigint, false)$$, 'callback_delivery_outbox: 2 rows moved');
SELECT set_eq($$SELECT topic, event_id, event_type FROM chargegate.topic_message
                 WHERE event_id::text LIKE '%00000000213_'$$,
              $$VALUES ('callback_delivery', '00000000-0000-4000-8000-000000002131'::uuid, 'CallbackFailed'),
                       ('callback_delivery', '00000000-0000-4000-8000-000000002132'::uuid, 'CallbackDeliverySucceeded')$$,
              'to topic callback_delivery');
SELECT results_eq($$SELECT subscription, cardinality(message_ids) FROM chargegate.subscription_batch
                     WHERE subscription = 'rc'$$,
                  $$VALUES ('rc'::text, 2)$$, 'only its subscription rc gets a batch');
SELECT is((SELECT count(*) FROM chargegate.subscription_batch WHERE subscription IN ('ra', 'rb')), 8::bigint,
          'the charging_session_request subscriptions get nothing new');

INSERT INTO chargegate.authorization_decision_callback_outbox (event_type, aggregate_id, payload)
VALUES ('AuthorizationDecisionCallback', gen_random_uuid(), '{}');
SELECT results_eq($$SELECT * FROM chargegate.relay_outbox('authorization_decision_callback_outbox', 10)$$,
                  $$VALUES (0, NULL::bigint, true)$$,
                  'a topic without subscriptions gets nothing, and the relay says why');
SELECT is((SELECT count(*) FROM chargegate.topic_message WHERE event_type = 'AuthorizationDecisionCallback'), 0::bigint,
          'nothing is on topic authorization_decision_callback');
SELECT is((SELECT count(*) FROM chargegate.authorization_decision_callback_outbox WHERE published_at IS NULL), 1::bigint,
          'the row stays pending');
SELECT results_eq($$SELECT unsubscribed, pending FROM chargegate.outbox_status
                     WHERE outbox = 'authorization_decision_callback_outbox'$$,
                  $$VALUES (true, 1::bigint)$$, 'outbox_status shows the outbox unsubscribed, with its pending row');
SELECT chargegate.ensure_subscription('rd', 'authorization_decision_callback');
SELECT results_eq($$SELECT * FROM chargegate.relay_outbox('authorization_decision_callback_outbox', 10)$$,
                  $$VALUES (1, NULL::bigint, false)$$, 'once a subscription exists the row is relayed');
SELECT results_eq($$SELECT subscription, cardinality(message_ids) FROM chargegate.subscription_batch
                     WHERE subscription = 'rd'$$,
                  $$VALUES ('rd'::text, 1)$$, 'and the new subscription gets it');
DELETE FROM chargegate.subscription_batch WHERE subscription = 'rd';
SELECT is((SELECT unsubscribed FROM chargegate.outbox_status WHERE outbox = 'authorization_decision_callback_outbox'),
          false, 'outbox_status no longer shows it unsubscribed');

INSERT INTO chargegate.callback_retry_outbox (event_type, aggregate_id, payload, available_at)
VALUES ('CallbackRetryRequested', gen_random_uuid(), '{}', now() + interval '10 s'),
       ('CallbackRetryRequested', gen_random_uuid(), '{}', now() + interval '20 s');
SELECT results_eq($$SELECT * FROM chargegate.relay_outbox('callback_retry_outbox', 10)$$,
                  $$VALUES (0, 10000::bigint, false)$$,
                  'callback_retry_outbox: nothing due, the first retry is due in 10 s');
UPDATE chargegate.callback_retry_outbox SET available_at = now() - interval '1 s';
SELECT results_eq($$SELECT * FROM chargegate.relay_outbox('callback_retry_outbox', 1)$$,
                  $$VALUES (1, NULL::bigint, false)$$, 'a limit of 1 moves one row (the other is due too: not delayed)');
SELECT results_eq($$SELECT * FROM chargegate.relay_outbox('callback_retry_outbox', 1)$$,
                  $$VALUES (1, NULL::bigint, false)$$, 'the next call moves the other');
SELECT is((SELECT count(*) FROM chargegate.topic_message WHERE topic = 'callback_retry'), 2::bigint,
          'both retries are on topic callback_retry');

-- ---------------------------------------------------------------------------
-- An event that is already on the topic is not published twice
-- ---------------------------------------------------------------------------
INSERT INTO chargegate.charging_session_request_outbox (event_id, event_type, aggregate_id, payload)
VALUES (pg_temp.ev(1), 'StartChargingSessionRequestCommand', gen_random_uuid(), '{"again": true}')
ON CONFLICT DO NOTHING;
SELECT is((SELECT count(*) FROM chargegate.charging_session_request_outbox WHERE event_id = pg_temp.ev(1)), 1::bigint,
          '(the outbox itself refuses a second row with the same event_id)');
DELETE FROM chargegate.charging_session_request_outbox WHERE event_id = pg_temp.ev(1);
INSERT INTO chargegate.charging_session_request_outbox (event_id, event_type, aggregate_id, payload)
VALUES (pg_temp.ev(1), 'StartChargingSessionRequestCommand', gen_random_uuid(), '{"again": true}');
SELECT results_eq($$SELECT * FROM chargegate.relay_outbox('charging_session_request_outbox', 10)$$,
                  $$VALUES (1, NULL::bigint, false)$$, 'a re-inserted event is marked published');
SELECT results_eq($$SELECT count(*), min(payload::text) FROM chargegate.topic_message WHERE event_id = pg_temp.ev(1)$$,
                  $$VALUES (1::bigint, '{"n": 1}')$$, 'but the topic keeps its first message');
SELECT is((SELECT count(*) FROM chargegate.subscription_batch), 11::bigint, 'and no subscription gets it again');

-- ---------------------------------------------------------------------------
-- Bad arguments change nothing
-- ---------------------------------------------------------------------------
INSERT INTO chargegate.charging_session_request_outbox (event_type, aggregate_id, payload)
VALUES ('StartChargingSessionRequestCommand', gen_random_uuid(), '{}');
SELECT throws_ok($$SELECT * FROM chargegate.relay_outbox('nope', 10)$$, '22023',
                 'relay_outbox: unknown outbox "nope"', 'an unknown outbox is refused');
SELECT throws_ok($$SELECT * FROM chargegate.relay_outbox('charging_session_request', 10)$$, '22023',
                 'relay_outbox: unknown outbox "charging_session_request"',
                 'a table that is not a registered outbox is refused');
SELECT throws_ok($$SELECT * FROM chargegate.relay_outbox(NULL, 10)$$, '22023', NULL, 'a NULL outbox is refused');
SELECT throws_ok($$SELECT * FROM chargegate.relay_outbox('charging_session_request_outbox', 0)$$, '22023',
                 'relay_outbox: limit must be positive, got 0', 'a limit of 0 is refused');
SELECT throws_ok($$SELECT * FROM chargegate.relay_outbox('charging_session_request_outbox', -5)$$, '22023',
                 'relay_outbox: limit must be positive, got -5', 'a negative limit is refused');
SELECT throws_ok($$SELECT * FROM chargegate.relay_outbox('charging_session_request_outbox', NULL)$$, '22023',
                 'relay_outbox: limit must be positive, got <NULL>', 'a NULL limit is refused');
SELECT is((SELECT count(*) FROM chargegate.charging_session_request_outbox WHERE published_at IS NULL), 1::bigint,
          'after the refusals the new row is still pending');
SELECT is((SELECT count(*) FROM chargegate.subscription_batch), 11::bigint, 'and no batch was made');

SELECT has_function('chargegate', 'relay_outbox', ARRAY['text', 'integer'], 'relay_outbox(text, integer) exists');
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'chargegate.relay_outbox(text, integer)'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'], 'relay_outbox pins its search_path');
SELECT is((SELECT prosecdef FROM pg_proc WHERE oid = 'chargegate.relay_outbox(text, integer)'::regprocedure),
          false, 'relay_outbox runs with the caller''s rights');

SELECT * FROM finish();
ROLLBACK;

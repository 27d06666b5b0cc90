-- The DBA views on a small fixture: outbox_status, subscription_status,
-- leases, dead_letters and table_health return the right rows and counts.
BEGIN;
SELECT plan(20);

-- A clean slate (rolled back at the end)
DELETE FROM chargegate.subscription_batch;
DELETE FROM chargegate.handled_event;
DELETE FROM chargegate.topic_message;
DELETE FROM chargegate.subscription;
DELETE FROM chargegate.charging_session_request_outbox;
DELETE FROM chargegate.authorization_decision_callback_outbox;
DELETE FROM chargegate.callback_delivery_outbox;
DELETE FROM chargegate.callback_retry_outbox;

SELECT has_view('chargegate', v, format('view chargegate.%s exists', v))
  FROM unnest(ARRAY['outbox_status', 'subscription_status', 'leases', 'dead_letters', 'table_health']::name[]) AS v;
SELECT is_empty($$SELECT v FROM unnest(ARRAY['outbox_status', 'subscription_status', 'leases', 'dead_letters',
                                             'table_health']) AS v
                   WHERE coalesce(obj_description(format('chargegate.%I', v)::regclass, 'pg_class'), '') = ''$$,
                'every view has a comment');

-- ---------------------------------------------------------------------------
-- outbox_status
-- ---------------------------------------------------------------------------
INSERT INTO chargegate.charging_session_request_outbox (event_type, aggregate_id, payload, available_at, published_at, last_error)
VALUES ('StartChargingSessionRequestCommand', gen_random_uuid(), '{}', now() - interval '10 s', NULL, NULL),
       ('StartChargingSessionRequestCommand', gen_random_uuid(), '{}', now() - interval '4 s', NULL, NULL),
       ('StartChargingSessionRequestCommand', gen_random_uuid(), '{}', now() - interval '1 s', NULL, 'broker down'),
       ('StartChargingSessionRequestCommand', gen_random_uuid(), '{}', now() + interval '30 s', NULL, NULL),
       ('StartChargingSessionRequestCommand', gen_random_uuid(), '{}', now() + interval '90 s', NULL, NULL),
       ('StartChargingSessionRequestCommand', gen_random_uuid(), '{}', now() - interval '40 s', now() - interval '30 s', NULL),
       ('StartChargingSessionRequestCommand', gen_random_uuid(), '{}', now() - interval '11 min', now() - interval '10 min', NULL),
       ('StartChargingSessionRequestCommand', gen_random_uuid(), '{}', now() - interval '3 h', now() - interval '2 h', NULL);
INSERT INTO chargegate.callback_retry_outbox (event_type, aggregate_id, payload, available_at)
VALUES ('CallbackRetryRequested', gen_random_uuid(), '{}', now() + interval '5 min');

SELECT set_eq($$SELECT outbox, topic FROM chargegate.outbox_status$$, $$SELECT name, topic FROM chargegate.outbox$$,
              'outbox_status has one row per outbox, with its topic');
SELECT results_eq(
    $$SELECT pending, delayed, oldest_pending_age, next_delayed_at, published_last_minute, published_last_hour, failing
        FROM chargegate.outbox_status WHERE outbox = 'charging_session_request_outbox'$$,
    $$VALUES (3::bigint, 2::bigint, interval '10 s', now() + interval '30 s', 1::bigint, 2::bigint, 1::bigint)$$,
    'charging_session_request_outbox: 3 pending (oldest 10 s), 2 delayed (next in 30 s), '
    'published 1 in the last minute and 2 in the last hour, 1 failing');
SELECT results_eq(
    $$SELECT pending, delayed, oldest_pending_age, next_delayed_at, published_last_minute, published_last_hour, failing
        FROM chargegate.outbox_status WHERE outbox = 'callback_retry_outbox'$$,
    $$VALUES (0::bigint, 1::bigint, interval '0', now() + interval '5 min', 0::bigint, 0::bigint, 0::bigint)$$,
    'callback_retry_outbox: one delayed retry, nothing pending');
SELECT results_eq(
    $$SELECT pending, delayed, oldest_pending_age, next_delayed_at, published_last_minute, published_last_hour, failing
        FROM chargegate.outbox_status WHERE outbox = 'callback_delivery_outbox'$$,
    $$VALUES (0::bigint, 0::bigint, interval '0', NULL::timestamptz, 0::bigint, 0::bigint, 0::bigint)$$,
    'an empty outbox: zeros, oldest age 0, no next delayed row');

-- ---------------------------------------------------------------------------
-- subscription_status, leases, dead_letters
-- ---------------------------------------------------------------------------
SELECT chargegate.ensure_subscription('va', 'charging_session_request');
SELECT chargegate.ensure_subscription('vb', 'callback_delivery');
CREATE TEMPORARY TABLE m (n int PRIMARY KEY, id bigint, event_id uuid, aggregate_id uuid);
WITH ins AS (
    INSERT INTO chargegate.topic_message (topic, event_id, event_type, aggregate_id, payload, created_at, published_at)
    SELECT 'charging_session_request', gen_random_uuid(), 'StartChargingSessionRequestCommand', gen_random_uuid(),
           jsonb_build_object('n', n), now() - interval '1 h', now() - interval '1 h' + n * interval '1 s'
      FROM generate_series(1, 9) AS n
    RETURNING id, event_id, aggregate_id, (payload->>'n')::int AS n
)
INSERT INTO m SELECT n, id, event_id, aggregate_id FROM ins;
CREATE FUNCTION pg_temp.ids(VARIADIC p_n int[]) RETURNS bigint[] LANGUAGE sql AS $$
    SELECT array_agg(id ORDER BY id) FROM m WHERE n = ANY (p_n)
$$;
CREATE TEMPORARY TABLE bt (name text PRIMARY KEY, id bigint);
INSERT INTO chargegate.subscription_batch
           (subscription, message_ids, oldest_message_id, state, available_at, attempts, lease_owner, fence, last_error,
            created_at)
    VALUES ('va', pg_temp.ids(1, 2, 3), (pg_temp.ids(1))[1], 'ready', now() - interval '5 s', 0, NULL, 0, NULL,
            now() - interval '20 s'),
           ('va', pg_temp.ids(4), (pg_temp.ids(4))[1], 'ready', now() + interval '10 s', 2, NULL, 0, 'try again',
            now() - interval '3 s'),
           ('va', pg_temp.ids(5, 6), (pg_temp.ids(5))[1], 'leased', now() + interval '25 s', 1, 'host:1:va', 1, NULL,
            now() - interval '4 s'),
           ('va', pg_temp.ids(7), (pg_temp.ids(7))[1], 'leased', now() - interval '1 s', 3, 'host:2:va', 7,
            'lease of host:3:va expired', now() - interval '6 s'),
           ('va', pg_temp.ids(8, 9), (pg_temp.ids(8))[1], 'dead', now() - interval '2 h', 10, NULL, 4, 'gave up',
            now() - interval '1 h');
INSERT INTO bt SELECT v.name, b.id FROM chargegate.subscription_batch b
  JOIN (VALUES ('ready', 1), ('retry', 4), ('leased', 5), ('expired', 7), ('dead', 8)) AS v(name, n)
    ON b.oldest_message_id = (SELECT id FROM m WHERE m.n = v.n);
CREATE FUNCTION pg_temp.b(p_name text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM bt WHERE name = p_name $$;
INSERT INTO chargegate.handled_event (subscription, event_id, handled_at)
VALUES ('va', gen_random_uuid(), now() - interval '10 s'), ('va', gen_random_uuid(), now() - interval '50 s'),
       ('va', gen_random_uuid(), now() - interval '30 min'), ('va', gen_random_uuid(), now() - interval '2 h'),
       ('vb', gen_random_uuid(), now() - interval '3 h');

SELECT set_eq($$SELECT subscription, topic FROM chargegate.subscription_status$$,
              $$VALUES ('va', 'charging_session_request'), ('vb', 'callback_delivery')$$,
              'subscription_status has one row per subscription, with its topic');
SELECT results_eq(
    $$SELECT ready, retrying, leased, expired_leases, dead, oldest_age, handled_last_minute, handled_last_hour
        FROM chargegate.subscription_status WHERE subscription = 'va'$$,
    $$VALUES (3::bigint, 1::bigint, 3::bigint, 1::bigint, 2::bigint, interval '20 s', 2::bigint, 3::bigint)$$,
    'va: 3 ready, 1 retrying, 3 leased of which 1 expired, 2 dead, oldest 20 s, handled 2 in the last minute, 3 in the hour');
SELECT results_eq(
    $$SELECT ready, retrying, leased, expired_leases, dead, oldest_age, handled_last_minute, handled_last_hour
        FROM chargegate.subscription_status WHERE subscription = 'vb'$$,
    $$VALUES (0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, interval '0', 0::bigint, 0::bigint)$$,
    'vb: nothing waiting, nothing handled recently');

SELECT results_eq(
    $$SELECT batch_id, subscription, lease_owner, messages, expires_at, expired, attempts, fence
        FROM chargegate.leases ORDER BY batch_id$$,
    $$VALUES (pg_temp.b('leased'), 'va'::text, 'host:1:va'::text, 2, now() + interval '25 s', false, 1, 1::bigint),
             (pg_temp.b('expired'), 'va', 'host:2:va', 1, now() - interval '1 s', true, 3, 7::bigint)$$,
    'leases: both leased batches with owner, size, expiry, whether expired, attempts and fence');

SELECT results_eq(
    $$SELECT batch_id, subscription, message_id, event_id, event_type, aggregate_id, attempts, last_error, payload,
             published_at, dead_since
        FROM chargegate.dead_letters ORDER BY message_id$$,
    $$SELECT pg_temp.b('dead'), 'va'::text, m.id, m.event_id, 'StartChargingSessionRequestCommand'::text, m.aggregate_id,
             10, 'gave up'::text, jsonb_build_object('n', m.n), now() - interval '1 h' + m.n * interval '1 s',
             now() - interval '1 h'
        FROM m WHERE m.n IN (8, 9) ORDER BY m.id$$,
    'dead_letters: one row per message of the dead batch, with the event, attempts and last error');

-- After a claim and a replay the views follow
SELECT chargegate.replay_dead_letters('va');
SELECT results_eq($$SELECT ready, dead FROM chargegate.subscription_status WHERE subscription = 'va'$$,
                  $$VALUES (5::bigint, 0::bigint)$$, 'after the replay: 5 ready, none dead');
SELECT is_empty($$SELECT 1 FROM chargegate.dead_letters$$, 'dead_letters is empty');
CREATE TEMPORARY TABLE claimed AS SELECT DISTINCT batch_id FROM chargegate.claim_messages('va', 'w', 100, 60000);
SELECT results_eq($$SELECT count(*), bool_and(NOT expired), sum(messages)::int FROM chargegate.leases
                     WHERE batch_id IN (SELECT batch_id FROM claimed)$$,
                  $$VALUES (3::bigint, true, 6)$$,
                  'after a claim of everything due, leases shows the 3 claimed batches (ready, expired, replayed), none expired');

-- ---------------------------------------------------------------------------
-- table_health
-- ---------------------------------------------------------------------------
SELECT set_eq($$SELECT table_name::text FROM chargegate.table_health$$,
              $$SELECT tablename::text FROM pg_tables WHERE schemaname = 'chargegate'$$,
              'table_health has one row per table of schema chargegate');
SELECT is_empty($$SELECT table_name FROM chargegate.table_health
                   WHERE live_tuples < 0 OR dead_tuples < 0
                      OR total_bytes <> pg_total_relation_size(format('chargegate.%I', table_name)::regclass)
                      OR total_size <> pg_size_pretty(total_bytes)$$,
                'with sizes that match pg_total_relation_size and non-negative tuple counts');

SELECT * FROM finish();
ROLLBACK;

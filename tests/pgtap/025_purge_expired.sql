-- chargegate.purge_expired: retention deletes only what is old and done —
-- published outbox rows older than the retention, topic messages that no
-- pending, leased or dead batch refers to, and handled event ids whose
-- message has left the topic — and keeps pending outbox rows, pending and
-- leased deliveries, dead letters and their messages, the handled ids of
-- messages still on the topic, the requests and their idempotency keys; at
-- most p_limit rows per table and call.
BEGIN;
SELECT plan(26);

-- A clean slate (rolled back at the end)
DELETE FROM chargegate.subscription_batch;
DELETE FROM chargegate.handled_event;
DELETE FROM chargegate.topic_message;
DELETE FROM chargegate.subscription;
DELETE FROM chargegate.idempotency_key;
DELETE FROM chargegate.charging_session_request_outbox;
DELETE FROM chargegate.authorization_decision_callback_outbox;
DELETE FROM chargegate.callback_delivery_outbox;
DELETE FROM chargegate.callback_retry_outbox;
SELECT chargegate.ensure_subscription('pa', 'charging_session_request');
SELECT chargegate.ensure_subscription('pb', 'callback_delivery');

-- Retention 1 hour: "old" is published (handled, created) before now() - 1 hour.
-- Outbox rows, tagged in the payload
INSERT INTO chargegate.charging_session_request_outbox (event_type, aggregate_id, payload, created_at, available_at, published_at)
VALUES ('StartChargingSessionRequestCommand', gen_random_uuid(), '{"tag": "old-published"}', now() - interval '3 h', now() - interval '3 h', now() - interval '2 h'),
       ('StartChargingSessionRequestCommand', gen_random_uuid(), '{"tag": "at-cutoff"}', now() - interval '3 h', now() - interval '3 h', now() - interval '1 h'),
       ('StartChargingSessionRequestCommand', gen_random_uuid(), '{"tag": "new-published"}', now() - interval '3 h', now() - interval '3 h', now() - interval '30 min'),
       ('StartChargingSessionRequestCommand', gen_random_uuid(), '{"tag": "old-pending"}', now() - interval '5 h', now() - interval '5 h', NULL),
       ('StartChargingSessionRequestCommand', gen_random_uuid(), '{"tag": "delayed"}', now() - interval '5 h', now() + interval '1 h', NULL);
INSERT INTO chargegate.callback_delivery_outbox (event_type, aggregate_id, payload, published_at)
SELECT 'CallbackFailed', gen_random_uuid(), jsonb_build_object('tag', 'old-published', 'n', n), now() - interval '1 day' - n * interval '1 s'
  FROM generate_series(1, 3) AS n;
INSERT INTO chargegate.callback_retry_outbox (event_type, aggregate_id, payload, published_at)
VALUES ('CallbackRetryRequested', gen_random_uuid(), '{"tag": "old-published"}', now() - interval '2 h');

-- Topic messages, in id order, and the batches that refer to them
CREATE TEMPORARY TABLE m (tag text PRIMARY KEY, id bigint);
CREATE FUNCTION pg_temp.msg(p_tag text, p_topic text, p_age interval) RETURNS bigint LANGUAGE sql AS $$
    WITH ins AS (
        INSERT INTO chargegate.topic_message (topic, event_id, event_type, aggregate_id, payload, created_at, published_at)
        VALUES (p_topic, gen_random_uuid(), 'E', gen_random_uuid(), jsonb_build_object('tag', p_tag), now() - p_age,
                now() - p_age)
        RETURNING id
    )
    INSERT INTO m SELECT p_tag, id FROM ins RETURNING id
$$;
CREATE FUNCTION pg_temp.m(p_tag text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM m WHERE tag = p_tag $$;
SELECT pg_temp.msg('done-a', 'charging_session_request', '2 h');
SELECT pg_temp.msg('done-b', 'callback_delivery', '2 h');
SELECT pg_temp.msg('dead-1', 'charging_session_request', '2 h');
SELECT pg_temp.msg('dead-2', 'charging_session_request', '2 h');
SELECT pg_temp.msg('done-c', 'charging_session_request', '2 h');
SELECT pg_temp.msg('ready', 'callback_delivery', '2 h');
SELECT pg_temp.msg('leased', 'charging_session_request', '2 h');
SELECT pg_temp.msg('new', 'charging_session_request', '10 min');
INSERT INTO chargegate.subscription_batch (subscription, message_ids, oldest_message_id, state, lease_owner, available_at)
VALUES ('pa', ARRAY[pg_temp.m('dead-1'), pg_temp.m('dead-2')], pg_temp.m('dead-1'), 'dead', NULL, now() - interval '2 h'),
       ('pb', ARRAY[pg_temp.m('ready')], pg_temp.m('ready'), 'ready', NULL, now() + interval '1 min'),
       ('pa', ARRAY[pg_temp.m('leased')], pg_temp.m('leased'), 'leased', 'w', now() + interval '30 s');

-- Handled events, requests and their idempotency keys
INSERT INTO chargegate.handled_event (subscription, event_id, handled_at)
VALUES ('pa', '00000000-0000-4000-8000-000000002501', now() - interval '2 h'),
       ('pb', '00000000-0000-4000-8000-000000002502', now() - interval '3 h'),
       ('pa', '00000000-0000-4000-8000-000000002503', now() - interval '5 min');
-- pa handled the message of the leased batch long ago (a redelivery is in
-- flight): its handled id must stay as long as the message can be claimed
INSERT INTO chargegate.handled_event (subscription, event_id, handled_at)
SELECT 'pa', t.event_id, now() - interval '2 h' FROM chargegate.topic_message t WHERE t.id = pg_temp.m('leased');
INSERT INTO chargegate.charging_session_request (request_id, station_id, driver_token, callback_url, created_at)
VALUES ('00000000-0000-4000-8000-000000002511', gen_random_uuid(), 'tok', 'https://x.example/cb', now() - interval '3 days'),
       ('00000000-0000-4000-8000-000000002512', gen_random_uuid(), 'tok', 'https://x.example/cb', now());
INSERT INTO chargegate.idempotency_key (key, request_id, created_at)
VALUES ('purge-old', '00000000-0000-4000-8000-000000002511', now() - interval '3 days'),
       ('purge-new', '00000000-0000-4000-8000-000000002512', now());

CREATE FUNCTION pg_temp.purge(p_limit int DEFAULT 1000) RETURNS TABLE (table_name text, deleted bigint) LANGUAGE sql AS $$
    SELECT * FROM chargegate.purge_expired(3600000, p_limit)
$$;
CREATE FUNCTION pg_temp.outbox_tags(p_tab text) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    r text[];
BEGIN
    EXECUTE format('SELECT array_agg(payload->>''tag'' ORDER BY id) FROM chargegate.%I', p_tab) INTO r;
    RETURN coalesce(r, '{}');
END
$$;

-- ---------------------------------------------------------------------------
-- Limit 2 per table and call
-- ---------------------------------------------------------------------------
CREATE TEMPORARY TABLE run1 AS SELECT * FROM pg_temp.purge(2);
SELECT set_eq($$SELECT table_name FROM run1$$,
              $$SELECT name FROM chargegate.outbox UNION ALL VALUES ('topic_message'), ('handled_event')$$,
              'purge_expired reports one row per outbox table, topic_message and handled_event');
SELECT results_eq(
    $$SELECT table_name, deleted FROM run1
       WHERE table_name IN ('charging_session_request_outbox', 'callback_delivery_outbox', 'callback_retry_outbox',
                            'authorization_decision_callback_outbox', 'topic_message', 'handled_event')
       ORDER BY table_name$$,
    $$VALUES ('authorization_decision_callback_outbox'::text, 0::bigint), ('callback_delivery_outbox', 2),
             ('callback_retry_outbox', 1), ('charging_session_request_outbox', 1), ('handled_event', 2),
             ('topic_message', 2)$$,
    'with a limit of 2, at most 2 rows go from each table');
SELECT is(pg_temp.outbox_tags('callback_delivery_outbox'), ARRAY['old-published'],
          'callback_delivery_outbox: one of its three old rows is left for the next call');
SELECT is((SELECT count(*) FROM chargegate.topic_message WHERE id IN (pg_temp.m('done-a'), pg_temp.m('done-b'),
                                                                        pg_temp.m('done-c'))),
          1::bigint, 'topic_message: one of the three old done messages is left for the next call');

-- ---------------------------------------------------------------------------
-- The rest
-- ---------------------------------------------------------------------------
SELECT results_eq(
    $$SELECT table_name, deleted FROM pg_temp.purge()
       WHERE table_name IN ('charging_session_request_outbox', 'callback_delivery_outbox', 'callback_retry_outbox',
                            'topic_message', 'handled_event')
       ORDER BY table_name$$,
    $$VALUES ('callback_delivery_outbox'::text, 1::bigint), ('callback_retry_outbox', 0),
             ('charging_session_request_outbox', 0), ('handled_event', 0), ('topic_message', 1)$$,
    'the next call deletes the rest');
SELECT is_empty($$SELECT 1 FROM pg_temp.purge() WHERE deleted <> 0$$, 'and a third call finds nothing to delete');

SELECT is(pg_temp.outbox_tags('charging_session_request_outbox'),
          ARRAY['at-cutoff', 'new-published', 'old-pending', 'delayed'],
          'outbox: rows published before the cutoff are gone; newer and pending rows stay, however old');
SELECT is(pg_temp.outbox_tags('callback_delivery_outbox'), '{}'::text[], 'all old published rows of another outbox are gone');
SELECT is(pg_temp.outbox_tags('callback_retry_outbox'), '{}'::text[], 'callback_retry_outbox is purged too');

SELECT set_eq($$SELECT m.tag FROM m JOIN chargegate.topic_message t ON t.id = m.id$$,
              ARRAY['dead-1', 'dead-2', 'ready', 'leased', 'new'],
              'topic_message: old done messages are gone; those of dead, ready and leased batches and new ones stay');
SELECT is((SELECT count(*) FROM chargegate.subscription_batch), 3::bigint, 'no batch is deleted, dead letters included');
SELECT results_eq($$SELECT count(*)::int, min(batch_id) IS NOT NULL FROM chargegate.dead_letters$$,
                  $$VALUES (2, true)$$, 'the dead letters are still complete, with their messages');

SELECT set_eq($$SELECT event_id::text FROM chargegate.handled_event$$,
              $$VALUES ('00000000-0000-4000-8000-000000002503'),
                       ((SELECT event_id::text FROM chargegate.topic_message WHERE id = pg_temp.m('leased')))$$,
              'handled_event: the recent one stays, and the old one whose message is still on the topic');
SELECT set_eq($$SELECT key FROM chargegate.idempotency_key$$, ARRAY['purge-new', 'purge-old'],
              'idempotency keys are not purged by queue.retention: they live as long as their request');
SELECT is((SELECT count(*) FROM chargegate.charging_session_request
            WHERE request_id IN ('00000000-0000-4000-8000-000000002511', '00000000-0000-4000-8000-000000002512')),
          2::bigint, 'requests are never purged here');

-- ---------------------------------------------------------------------------
-- Once a delivery is settled, its message goes
-- ---------------------------------------------------------------------------
DELETE FROM chargegate.subscription_batch WHERE state = 'leased';
SELECT pg_temp.purge();
SELECT ok((SELECT array_agg(m.tag) FROM m JOIN chargegate.topic_message t ON t.id = m.id)
          @> ARRAY['dead-1', 'dead-2', 'ready', 'new'],
          'after the leased batch is acknowledged, the messages of the ready and dead batches still stay');
SELECT set_eq($$SELECT event_id::text FROM chargegate.handled_event$$, ARRAY['00000000-0000-4000-8000-000000002503'],
              'the acknowledged message left the topic, and its old handled id goes with it');
SELECT is(chargegate.discard_dead_letters('pa'), 2, '(the dead letters are discarded)');
DELETE FROM chargegate.subscription_batch WHERE state = 'ready';
SELECT pg_temp.purge();
SELECT set_eq($$SELECT m.tag FROM m JOIN chargegate.topic_message t ON t.id = m.id$$, ARRAY['new'],
              'with every batch settled or discarded, every old message goes; the new one stays');

-- ---------------------------------------------------------------------------
-- Retention 0 deletes everything done before now; pending rows stay
-- ---------------------------------------------------------------------------
UPDATE chargegate.charging_session_request_outbox SET published_at = now() - interval '1 ms'
 WHERE payload->>'tag' IN ('at-cutoff', 'new-published');
SELECT is((SELECT deleted FROM chargegate.purge_expired(0, 100) WHERE table_name = 'charging_session_request_outbox'),
          2::bigint, 'with retention 0 every published row goes');
SELECT is(pg_temp.outbox_tags('charging_session_request_outbox'), ARRAY['old-pending', 'delayed'], 'pending rows stay');

-- ---------------------------------------------------------------------------
-- Bad arguments
-- ---------------------------------------------------------------------------
SELECT throws_ok($$SELECT * FROM chargegate.purge_expired(-1, 10)$$, '22023',
                 'purge_expired: retention must be >= 0 and limit positive (got -1, 10)', 'a negative retention is refused');
SELECT throws_ok($$SELECT * FROM chargegate.purge_expired(NULL, 10)$$, '22023', NULL, 'a NULL retention is refused');
SELECT throws_ok($$SELECT * FROM chargegate.purge_expired(1000, 0)$$, '22023',
                 'purge_expired: retention must be >= 0 and limit positive (got 1000, 0)', 'a limit of 0 is refused');
SELECT throws_ok($$SELECT * FROM chargegate.purge_expired(1000, NULL)$$, '22023', NULL, 'a NULL limit is refused');
SELECT has_function('chargegate', 'purge_expired', ARRAY['bigint', 'integer'], 'purge_expired(bigint, integer) exists');

SELECT * FROM finish();
ROLLBACK;

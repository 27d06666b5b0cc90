-- The built-in subscriptions are part of the schema (migration 007), so no
-- message of a built-in topic can be published before they exist;
-- chargegate.stranded_messages lists exactly the messages an earlier version
-- stranded (published before a built-in subscription existed, never given
-- to it, not handled by it) and requeue_stranded_messages() gives them to
-- it, once; a subscription created later on purpose receives only what is
-- published after it and is never "stranded".
BEGIN;
SELECT plan(21);
-- requeue_stranded_messages says what it did in WARNINGs; the tests check its result instead
SET LOCAL client_min_messages = error;

-- ---------------------------------------------------------------------------
-- The schema's own subscriptions
-- ---------------------------------------------------------------------------
SELECT set_eq($$SELECT name, topic FROM chargegate.subscription WHERE builtin$$,
              $$VALUES ('authorization', 'charging_session_request'),
                       ('notification', 'authorization_decision_callback'),
                       ('request_status_decisions', 'authorization_decision_callback'),
                       ('retry_scheduler', 'callback_delivery'),
                       ('request_status_deliveries', 'callback_delivery'),
                       ('notification_retry', 'callback_retry'),
                       ('failure_notice', 'callback_delivery')$$,
              'the migrations create the seven subscriptions of chargegate''s own consumers');
SELECT is((SELECT count(*) FROM chargegate.topic t
            WHERE NOT EXISTS (SELECT 1 FROM chargegate.subscription s WHERE s.topic = t.name AND s.builtin)),
          0::bigint, 'every built-in topic has a built-in subscription');
SELECT is_empty($$SELECT 1 FROM chargegate.outbox_status WHERE unsubscribed$$,
                'so no outbox is unsubscribed on a fresh database');
SELECT col_not_null('chargegate', 'subscription', 'builtin', 'subscription.builtin is NOT NULL');
SELECT col_default_is('chargegate', 'subscription', 'builtin', 'false',
                      'a subscription a consumer creates is not built in');
SELECT lives_ok($$SELECT chargegate.ensure_subscription('authorization', 'charging_session_request')$$,
                'a consumer''s ensure_subscription finds the built-in one');
SELECT is((SELECT builtin FROM chargegate.subscription WHERE name = 'authorization'), true,
          'and leaves it built in');

-- ---------------------------------------------------------------------------
-- What an earlier version left behind
-- ---------------------------------------------------------------------------
DELETE FROM chargegate.subscription_batch;
DELETE FROM chargegate.handled_event;
DELETE FROM chargegate.topic_message;
-- authorization "was created" 30 minutes ago, notification 5 minutes ago
UPDATE chargegate.subscription SET created_at = now() - interval '30 min' WHERE name = 'authorization';
UPDATE chargegate.subscription SET created_at = now() - interval '5 min' WHERE name = 'notification';
UPDATE chargegate.subscription SET created_at = now() - interval '1 day' WHERE builtin
   AND name NOT IN ('authorization', 'notification');

CREATE TEMPORARY TABLE m (tag text PRIMARY KEY, id bigint, event_id uuid);
CREATE FUNCTION pg_temp.msg(p_tag text, p_topic text, p_age interval) RETURNS bigint LANGUAGE sql AS $$
    WITH ins AS (
        INSERT INTO chargegate.topic_message (topic, event_id, event_type, aggregate_id, payload, created_at,
                                              published_at)
        VALUES (p_topic, gen_random_uuid(), 'E', gen_random_uuid(), jsonb_build_object('tag', p_tag), now() - p_age,
                now() - p_age)
        RETURNING id, event_id
    )
    INSERT INTO m SELECT p_tag, id, event_id FROM ins RETURNING id
$$;
CREATE FUNCTION pg_temp.m(p_tag text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM m WHERE tag = p_tag $$;
-- before authorization existed: two stranded, one that got a batch anyway
-- (published by the same relay transaction that saw the subscription), one
-- handled already
SELECT pg_temp.msg('stranded-1', 'charging_session_request', '2 h');
SELECT pg_temp.msg('stranded-2', 'charging_session_request', '1 h');
SELECT pg_temp.msg('has-batch', 'charging_session_request', '1 h');
SELECT pg_temp.msg('handled', 'charging_session_request', '1 h');
-- after it existed: no batch (acknowledged and gone, or discarded) is normal
SELECT pg_temp.msg('after', 'charging_session_request', '10 min');
-- a decision published between the two subscriptions' births: notification
-- never got it, request_status_decisions did (and handled it)
SELECT pg_temp.msg('decision', 'authorization_decision_callback', '10 min');
INSERT INTO chargegate.subscription_batch (subscription, message_ids, oldest_message_id)
VALUES ('authorization', ARRAY[pg_temp.m('has-batch')], pg_temp.m('has-batch'));
INSERT INTO chargegate.handled_event (subscription, event_id)
SELECT 'authorization', event_id FROM m WHERE tag = 'handled'
UNION ALL
SELECT 'request_status_decisions', event_id FROM m WHERE tag = 'decision';
-- a subscription created now, on purpose, after all of them
SELECT chargegate.ensure_subscription('late_joiner', 'charging_session_request');

SELECT set_eq($$SELECT subscription, message_id FROM chargegate.stranded_messages$$,
              $$VALUES ('authorization', pg_temp.m('stranded-1')), ('authorization', pg_temp.m('stranded-2')),
                       ('notification', pg_temp.m('decision'))$$,
              'stranded_messages lists exactly what a built-in subscription never received');
SELECT results_eq($$SELECT topic, event_id, published_at, subscribed_at FROM chargegate.stranded_messages
                     WHERE message_id = pg_temp.m('stranded-1')$$,
                  $$SELECT 'charging_session_request'::text, event_id, now() - interval '2 h', now() - interval '30 min'
                      FROM m WHERE tag = 'stranded-1'$$,
                  'with its topic, event, publication time and the subscription''s birth');

-- ---------------------------------------------------------------------------
-- requeue_stranded_messages
-- ---------------------------------------------------------------------------
CREATE TEMPORARY TABLE batches_before AS SELECT id FROM chargegate.subscription_batch;
SELECT results_eq($$SELECT * FROM chargegate.requeue_stranded_messages()$$,
                  $$VALUES ('authorization'::text, 2::bigint), ('notification', 1)$$,
                  'requeue_stranded_messages gives each subscription its stranded messages and says how many');
SELECT set_eq($$SELECT subscription, message_ids, oldest_message_id, state, attempts, lease_owner
                  FROM chargegate.subscription_batch WHERE id NOT IN (SELECT id FROM batches_before)$$,
              $$VALUES ('authorization'::text, ARRAY[pg_temp.m('stranded-1'), pg_temp.m('stranded-2')],
                        pg_temp.m('stranded-1'), 'ready'::text, 0, NULL::text),
                       ('notification', ARRAY[pg_temp.m('decision')], pg_temp.m('decision'), 'ready', 0, NULL)$$,
              'as ready batches in publication order, due now');
SELECT is((SELECT count(*) FROM chargegate.subscription_batch WHERE subscription = 'late_joiner'), 0::bigint,
          'a subscription created later gets nothing published before it');
SELECT is_empty($$SELECT 1 FROM chargegate.stranded_messages$$, 'nothing is stranded any more');
SELECT is_empty($$SELECT * FROM chargegate.requeue_stranded_messages()$$, 'a second call re-queues nothing');

-- What happens to a re-queued message afterwards does not strand it again
SELECT is(chargegate.record_handled('authorization',
                                    ARRAY(SELECT event_id FROM m WHERE tag LIKE 'stranded-%' ORDER BY tag)), 2,
          '(authorization handles both)');
DELETE FROM chargegate.subscription_batch WHERE subscription = 'authorization' AND pg_temp.m('stranded-1') = ANY (message_ids);
UPDATE chargegate.subscription_batch SET state = 'dead' WHERE subscription = 'notification';
SELECT is(chargegate.discard_dead_letters('notification'), 1, '(the decision becomes a dead letter and is discarded)');
SELECT is_empty($$SELECT 1 FROM chargegate.stranded_messages$$,
                'neither a handled nor a discarded message is stranded again');

-- A large backlog: batches of at most 100
SELECT pg_temp.msg('bulk-' || n, 'callback_retry', '1 h') FROM generate_series(1, 250) AS n;
UPDATE chargegate.subscription SET created_at = now() - interval '1 min' WHERE name = 'notification_retry';
SELECT results_eq($$SELECT * FROM chargegate.requeue_stranded_messages()$$,
                  $$VALUES ('notification_retry'::text, 250::bigint)$$, '250 stranded retries are re-queued');
SELECT results_eq($$SELECT cardinality(message_ids) FROM chargegate.subscription_batch
                     WHERE subscription = 'notification_retry' ORDER BY oldest_message_id$$,
                  $$VALUES (100), (100), (50)$$, 'in batches of at most 100, oldest first');

-- The relay publishes to the late joiner from now on
INSERT INTO chargegate.charging_session_request_outbox (event_type, aggregate_id, payload)
VALUES ('StartChargingSessionRequestCommand', gen_random_uuid(), '{}');
SELECT is((SELECT moved FROM chargegate.relay_outbox('charging_session_request_outbox', 10)), 1, '(one more command)');
SELECT set_eq($$SELECT subscription FROM chargegate.subscription_batch b
                 JOIN chargegate.topic_message t ON t.id = b.oldest_message_id
                WHERE t.published_at = now() AND t.topic = 'charging_session_request'$$,
              ARRAY['authorization', 'late_joiner'],
              'a message published after the late joiner was created reaches it, and the built-in subscription');

SELECT * FROM finish();
ROLLBACK;

-- chargegate.replay_dead_letters and discard_dead_letters: all dead letters
-- of a subscription or only the given batches; nothing of other
-- subscriptions and nothing that is not dead; counts in messages; an unknown
-- subscription is an error.  (replay's NOTIFY: 023_queue_sessions.sql.)
BEGIN;
SELECT plan(28);

-- A clean slate (rolled back at the end)
DELETE FROM chargegate.subscription_batch;
DELETE FROM chargegate.handled_event;
DELETE FROM chargegate.topic_message;
DELETE FROM chargegate.subscription;
SELECT chargegate.ensure_subscription('dl', 'callback_delivery');
SELECT chargegate.ensure_subscription('dx', 'callback_delivery');

-- Named batches of new messages
CREATE TEMPORARY TABLE b (name text PRIMARY KEY, id bigint);
CREATE FUNCTION pg_temp.batch(p_name text, p_sub text, p_n int, p_state text, p_attempts int, p_error text)
RETURNS void LANGUAGE sql AS $$
    WITH m AS (
        INSERT INTO chargegate.topic_message (topic, event_id, event_type, aggregate_id, payload, created_at)
        SELECT 'callback_delivery', gen_random_uuid(), 'CallbackFailed', gen_random_uuid(), '{}', now()
          FROM generate_series(1, p_n)
        RETURNING id
    ), ins AS (
        INSERT INTO chargegate.subscription_batch
               (subscription, message_ids, oldest_message_id, state, available_at, attempts, last_error, lease_owner, fence)
        SELECT p_sub, array_agg(id ORDER BY id), min(id), p_state,
               now() + CASE WHEN p_state = 'leased' THEN interval '1 hour' ELSE interval '-1 hour' END, p_attempts, p_error,
               CASE WHEN p_state = 'leased' THEN 'someone' END, CASE WHEN p_state = 'leased' THEN 1 ELSE 0 END
          FROM m
        RETURNING id
    )
    INSERT INTO b SELECT p_name, id FROM ins
$$;
CREATE FUNCTION pg_temp.b(p_name text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM b WHERE name = p_name $$;
CREATE FUNCTION pg_temp.state(p_name text) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce((SELECT s.state FROM chargegate.subscription_batch s WHERE s.id = pg_temp.b(p_name)), 'gone')
$$;
CREATE FUNCTION pg_temp.states() RETURNS text[] LANGUAGE sql AS $$
    SELECT array_agg(name || '=' || pg_temp.state(name) ORDER BY name) FROM b
$$;

SELECT pg_temp.batch('d1', 'dl', 2, 'dead', 5, 'e1');
SELECT pg_temp.batch('d2', 'dl', 1, 'dead', 10, NULL);
SELECT pg_temp.batch('d3', 'dl', 1, 'dead', 1, 'e3');
SELECT pg_temp.batch('r', 'dl', 1, 'ready', 2, 'retrying');
SELECT pg_temp.batch('l', 'dl', 3, 'leased', 1, NULL);
SELECT pg_temp.batch('x1', 'dx', 4, 'dead', 10, 'ex');
SELECT is(pg_temp.states(), ARRAY['d1=dead', 'd2=dead', 'd3=dead', 'l=leased', 'r=ready', 'x1=dead'],
          '(fixture: three dead batches of dl, a ready and a leased one, a dead batch of dx)');
CREATE TEMPORARY TABLE untouched AS
SELECT b.name, s::text AS r FROM b JOIN chargegate.subscription_batch s ON s.id = b.id WHERE b.name IN ('r', 'l', 'x1');

-- ---------------------------------------------------------------------------
-- replay
-- ---------------------------------------------------------------------------
SELECT is(chargegate.replay_dead_letters('dl', ARRAY[pg_temp.b('d1')]), 2,
          'replaying one dead batch of 2 messages returns 2');
SELECT results_eq($$SELECT state, available_at, attempts, lease_owner, last_error FROM chargegate.subscription_batch
                     WHERE id = pg_temp.b('d1')$$,
                  $$VALUES ('ready'::text, now(), 0, NULL::text, 'replayed after: e1'::text)$$,
                  'it is ready now, attempts reset, and last_error keeps the old error');
SELECT is(pg_temp.states(), ARRAY['d1=ready', 'd2=dead', 'd3=dead', 'l=leased', 'r=ready', 'x1=dead'],
          'the other dead letters stay dead');
SELECT is(chargegate.replay_dead_letters('dl', ARRAY[pg_temp.b('r'), pg_temp.b('l'), pg_temp.b('x1'), -1]), 0,
          'batches that are not dead, of another subscription or unknown are not replayed');
SELECT is(chargegate.replay_dead_letters('dl', '{}'), 0, 'an empty list replays nothing');
SELECT set_eq($$SELECT b.name, s::text FROM b JOIN chargegate.subscription_batch s ON s.id = b.id
                 WHERE b.name IN ('r', 'l', 'x1')$$,
              $$SELECT name, r FROM untouched$$, 'and leaves them as they were');
SELECT is(chargegate.replay_dead_letters('dl'), 2, 'replaying all of dl''s dead letters: 2 more messages');
SELECT is(pg_temp.states(), ARRAY['d1=ready', 'd2=ready', 'd3=ready', 'l=leased', 'r=ready', 'x1=dead'],
          'every dead batch of dl is ready; dx''s is still dead');
SELECT is((SELECT last_error FROM chargegate.subscription_batch WHERE id = pg_temp.b('d2')), 'replayed after: ',
          'a dead letter without an error is marked replayed too');
SELECT is(chargegate.replay_dead_letters('dl'), 0, 'replaying again: nothing is dead');
SELECT results_eq($$SELECT batch_id, attempts, count(*)::int FROM chargegate.claim_messages('dl', 'w', 100, 30000)
                     GROUP BY batch_id, attempts ORDER BY batch_id$$,
                  $$VALUES (pg_temp.b('d1'), 1, 2), (pg_temp.b('d2'), 1, 1), (pg_temp.b('d3'), 1, 1), (pg_temp.b('r'), 3, 1)$$,
                  'replayed batches are claimed again, from attempt 1');
SELECT throws_ok($$SELECT chargegate.replay_dead_letters('nope')$$, '22023',
                 'replay_dead_letters: unknown subscription "nope"', 'replay refuses an unknown subscription');
SELECT throws_ok($$SELECT chargegate.replay_dead_letters(NULL)$$, '22023', NULL,
                 'replay refuses a NULL subscription');
SELECT throws_ok($$SELECT chargegate.replay_dead_letters('nope', ARRAY[1::bigint])$$, '22023', NULL,
                 'replay refuses an unknown subscription with batch ids too');

-- ---------------------------------------------------------------------------
-- discard
-- ---------------------------------------------------------------------------
UPDATE chargegate.subscription_batch SET state = 'dead', lease_owner = NULL
 WHERE id IN (pg_temp.b('d1'), pg_temp.b('d2'), pg_temp.b('d3'));
CREATE TEMPORARY TABLE messages_before AS SELECT count(*) AS n FROM chargegate.topic_message;
SELECT is(chargegate.discard_dead_letters('dx', ARRAY[pg_temp.b('d1')]), 0,
          'discard does not touch another subscription''s batches');
SELECT is(chargegate.discard_dead_letters('dl', ARRAY[pg_temp.b('d1'), pg_temp.b('r'), -1]), 2,
          'discarding one dead batch of 2 messages (and a ready and an unknown one) returns 2');
SELECT is(pg_temp.states(), ARRAY['d1=gone', 'd2=dead', 'd3=dead', 'l=leased', 'r=leased', 'x1=dead'],
          'only the dead batch is deleted');
SELECT is(chargegate.discard_dead_letters('dl', '{}'), 0, 'an empty list discards nothing');
SELECT is(chargegate.discard_dead_letters('dl'), 2, 'discarding all of dl''s dead letters: 2 messages');
SELECT is(pg_temp.states(), ARRAY['d1=gone', 'd2=gone', 'd3=gone', 'l=leased', 'r=leased', 'x1=dead'],
          'dl has no dead letter left; its leased batches and dx''s dead letter stay');
SELECT is(chargegate.discard_dead_letters('dl'), 0, 'discarding again: nothing is dead');
SELECT is((SELECT count(*) FROM chargegate.topic_message), (SELECT n FROM messages_before),
          'the discarded messages stay on the topic until retention');
SELECT is((SELECT count(*) FROM chargegate.handled_event WHERE subscription = 'dl'), 4::bigint,
          'dl counts its 4 discarded messages as handled: a redelivery is acknowledged, nothing is stranded');
SELECT is(chargegate.discard_dead_letters('dx'), 4, 'dx''s dead batch of 4 is discarded');
SELECT throws_ok($$SELECT chargegate.discard_dead_letters('nope')$$, '22023', NULL,
                 'discard refuses an unknown subscription');

SELECT has_function('chargegate', f, ARRAY['text', 'bigint[]'], format('%s(text, bigint[]) exists', f))
  FROM unnest(ARRAY['replay_dead_letters', 'discard_dead_letters']) AS f;

SELECT * FROM finish();
ROLLBACK;

-- chargegate.claim_messages, settle_batches and record_handled in one
-- session: whole batches are leased in due order up to the limit in messages
-- (at least one batch); a lease carries owner, expiry and fence; an expired
-- lease makes the batch claimable again; a stale settlement is refused and
-- changes nothing (and with leases required fails the transaction); the
-- holder renews its leases; failed messages are split into retry batches or become
-- dead letters; handled event ids are recorded once.
-- (Concurrent claimers: 023_queue_sessions.sql.)
BEGIN;
SELECT plan(74);

-- A clean slate (rolled back at the end)
DELETE FROM chargegate.subscription_batch;
DELETE FROM chargegate.handled_event;
DELETE FROM chargegate.topic_message;
DELETE FROM chargegate.subscription;
SELECT chargegate.ensure_subscription('cs', 'charging_session_request');
SELECT chargegate.ensure_subscription('co', 'charging_session_request');

-- pg_temp.batch(subscription, messages, due in, state): a batch of new
-- messages (event ids 00000000-0000-4000-8000-0000000022xx by message id);
-- returns the batch id
CREATE FUNCTION pg_temp.batch(p_sub text, p_n int, p_due interval, p_state text DEFAULT 'ready')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
    bid bigint;
BEGIN
    WITH m AS (
        INSERT INTO chargegate.topic_message (topic, event_id, event_type, aggregate_id, payload, created_at)
        SELECT 'charging_session_request', gen_random_uuid(), 'StartChargingSessionRequestCommand',
               gen_random_uuid(), jsonb_build_object('i', i), now()
          FROM generate_series(1, p_n) AS i
        RETURNING id
    )
    SELECT array_agg(id ORDER BY id) INTO ids FROM m;
    INSERT INTO chargegate.subscription_batch (subscription, message_ids, oldest_message_id, state, available_at)
    VALUES (p_sub, ids, ids[1], p_state, now() + p_due)
    RETURNING id INTO bid;
    RETURN bid;
END
$$;
-- Named batches, with their messages (remembered after the batch is gone)
CREATE TEMPORARY TABLE b (name text PRIMARY KEY, id bigint, msgs bigint[]);
CREATE FUNCTION pg_temp.remember() RETURNS void LANGUAGE sql AS $$
    UPDATE b SET msgs = s.message_ids FROM chargegate.subscription_batch s WHERE s.id = b.id AND b.msgs IS NULL
$$;
CREATE FUNCTION pg_temp.ids(p_batch bigint) RETURNS bigint[] LANGUAGE sql AS $$
    SELECT msgs FROM b WHERE id = p_batch
$$;
-- A batch row as text, to prove that something left it alone
CREATE FUNCTION pg_temp.row_of(p_batch bigint) RETURNS text LANGUAGE sql AS $$
    SELECT b::text FROM chargegate.subscription_batch b WHERE b.id = p_batch
$$;
-- settle_batches for whole batches that all succeeded
CREATE FUNCTION pg_temp.ack(p_sub text, p_owner text, p_batches bigint[], p_fences bigint[])
RETURNS TABLE (batch_id bigint, outcome text) LANGUAGE sql AS $$
    SELECT * FROM chargegate.settle_batches(p_sub, p_owner, p_batches, p_fences, '{}', '{}', '{}', '{}', 10)
$$;

INSERT INTO b VALUES
    ('b1',     pg_temp.batch('cs', 3, '-5 s')),
    ('b2',     pg_temp.batch('cs', 2, '-4 s')),
    ('b3',     pg_temp.batch('cs', 1, '-3 s')),
    ('b4',     pg_temp.batch('cs', 1, '-2 s')),
    ('later',  pg_temp.batch('cs', 1, '1 hour')),
    ('dead',   pg_temp.batch('cs', 1, '-1 hour', 'dead')),
    ('other',  pg_temp.batch('co', 2, '-1 hour'));
SELECT pg_temp.remember();
CREATE FUNCTION pg_temp.b(p_name text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM b WHERE name = p_name $$;
-- b4's event was handled by cs before (a duplicate delivery), and by co; b4
-- was delivered once already (a settle that failed after the concurrent
-- duplicate gave it back), which is when claims look for handled events
INSERT INTO chargegate.handled_event (subscription, event_id)
SELECT s, m.event_id FROM chargegate.topic_message m, unnest(ARRAY['cs', 'co']) AS s
 WHERE m.id = (pg_temp.ids(pg_temp.b('b4')))[1];
UPDATE chargegate.subscription_batch SET attempts = 1 WHERE id = pg_temp.b('b4');

CREATE TEMPORARY TABLE got (step text, batch_id bigint, fence bigint, attempts integer, message_id bigint,
                            event_id uuid, event_type text, aggregate_id uuid, payload jsonb,
                            published_at timestamptz, handled boolean, age_ms bigint);

-- ---------------------------------------------------------------------------
-- claim: the limit counts messages; whole batches up to it
-- ---------------------------------------------------------------------------
INSERT INTO got SELECT 'w1', * FROM chargegate.claim_messages('cs', 'w1', 4, 30000);
SELECT results_eq(
    $$SELECT batch_id, fence, attempts, message_id, handled FROM got WHERE step = 'w1' ORDER BY message_id$$,
    $$SELECT pg_temp.b('b1'), 1::bigint, 1, u, false FROM unnest(pg_temp.ids(pg_temp.b('b1'))) AS u ORDER BY u$$,
    'a limit of 4 leases the first due batch whole (3 messages; the next, of 2, would not fit): fence 1, attempt 1');
SELECT results_eq(
    $$SELECT g.event_id, g.event_type, g.aggregate_id, g.payload, g.published_at FROM got g
       WHERE g.step = 'w1' ORDER BY g.message_id$$,
    $$SELECT m.event_id, m.event_type, m.aggregate_id, m.payload, m.published_at FROM chargegate.topic_message m
       WHERE m.id = ANY (pg_temp.ids(pg_temp.b('b1'))) ORDER BY m.id$$,
    'each row carries the message''s event id, type, aggregate, payload and publication time');
SELECT is((SELECT array_agg(DISTINCT g.age_ms) FROM got g WHERE g.step = 'w1'), ARRAY[0::bigint],
          'and its age by the database''s clock: published now (in this transaction), 0 ms');
SELECT results_eq(
    $$SELECT state, lease_owner, available_at, fence, attempts, last_error
        FROM chargegate.subscription_batch WHERE id = pg_temp.b('b1')$$,
    $$VALUES ('leased'::text, 'w1'::text, now() + interval '30 s', 1::bigint, 1, NULL::text)$$,
    'the batch is leased to w1 until now + lease');

INSERT INTO got SELECT 'w2', * FROM chargegate.claim_messages('cs', 'w2', 3, 30000);
SELECT results_eq(
    $$SELECT batch_id, count(*)::int FROM got WHERE step = 'w2' GROUP BY batch_id ORDER BY batch_id$$,
    $$VALUES (pg_temp.b('b2'), 2), (pg_temp.b('b3'), 1)$$,
    'a limit of 3 leases the next batches up to 3 messages (2 + 1), skipping the leased one');
SELECT is((SELECT array_agg(message_id ORDER BY message_id) FROM got WHERE step = 'w2'),
          (SELECT array_agg(message_id) FROM got WHERE step = 'w2'),
          'rows come in publication order');

INSERT INTO got SELECT 'w3', * FROM chargegate.claim_messages('cs', 'w3', 10, 30000);
SELECT results_eq($$SELECT batch_id, handled FROM got WHERE step = 'w3'$$,
                  $$VALUES (pg_temp.b('b4'), true)$$,
                  'the last due batch; its event, already handled by cs, is flagged handled');
SELECT is_empty($$SELECT * FROM chargegate.claim_messages('cs', 'w4', 10, 30000)$$,
                'nothing else is claimable: not due, dead, leased or another subscription''s');
SELECT results_eq($$SELECT state, fence, attempts FROM chargegate.subscription_batch
                     WHERE id IN (pg_temp.b('later'), pg_temp.b('dead'), pg_temp.b('other')) ORDER BY id$$,
                  $$VALUES ('ready'::text, 0::bigint, 0), ('dead', 0, 0), ('ready', 0, 0)$$,
                  'the batches not claimed are untouched');
SELECT results_eq($$SELECT batch_id, handled FROM chargegate.claim_messages('co', 'x1', 10, 30000)$$,
                  $$SELECT pg_temp.b('other'), false FROM generate_series(1, 2)$$,
                  'another subscription claims its own batch; handled is per subscription');

-- Limits: batches of 2 and 2 with a limit of 3
DELETE FROM chargegate.subscription_batch WHERE subscription = 'co';
INSERT INTO b VALUES ('l1', pg_temp.batch('co', 2, '-2 s')), ('l2', pg_temp.batch('co', 2, '-1 s')),
                     ('l3', pg_temp.batch('co', 1, '-0.5 s'));
SELECT pg_temp.remember();
SELECT results_eq($$SELECT batch_id, count(*)::int FROM chargegate.claim_messages('co', 'x2', 3, 30000)
                     GROUP BY batch_id ORDER BY batch_id$$,
                  $$VALUES (pg_temp.b('l1'), 2)$$,
                  'a limit of 3 takes a batch of 2 but not the next batch of 2 (4 > 3)');
UPDATE chargegate.subscription_batch SET state = 'ready', lease_owner = NULL, fence = 0, attempts = 0,
       available_at = now() - interval '1 s' * (10 - (id - pg_temp.b('l1')))
 WHERE subscription = 'co';
SELECT results_eq($$SELECT batch_id, count(*)::int FROM chargegate.claim_messages('co', 'x2', 5, 30000)
                     GROUP BY batch_id ORDER BY batch_id$$,
                  $$VALUES (pg_temp.b('l1'), 2), (pg_temp.b('l2'), 2), (pg_temp.b('l3'), 1)$$,
                  'a limit of 5 takes batches of 2, 2 and 1');

-- ---------------------------------------------------------------------------
-- An expired lease: claimable again, with the next fence
-- ---------------------------------------------------------------------------
UPDATE chargegate.subscription_batch SET available_at = now() - interval '1 ms' WHERE id = pg_temp.b('b1');
SELECT results_eq($$SELECT lease_owner, expired FROM chargegate.leases WHERE batch_id = pg_temp.b('b1')$$,
                  $$VALUES ('w1'::text, true)$$, '(w1''s lease of b1 has expired)');
INSERT INTO got SELECT 'w5', * FROM chargegate.claim_messages('cs', 'w5', 10, 20000);
SELECT results_eq($$SELECT DISTINCT batch_id, fence, attempts FROM got WHERE step = 'w5'$$,
                  $$VALUES (pg_temp.b('b1'), 2::bigint, 2)$$,
                  'another consumer claims the batch whose lease expired: fence 2, attempt 2');
SELECT results_eq($$SELECT state, lease_owner, available_at, last_error FROM chargegate.subscription_batch
                     WHERE id = pg_temp.b('b1')$$,
                  $$VALUES ('leased'::text, 'w5'::text, now() + interval '20 s', 'lease of w1 expired'::text)$$,
                  'it is now w5''s, and last_error says whose lease expired');
SELECT is((SELECT count(*) FROM got WHERE step = 'w5'), 3::bigint, 'with all three of its messages');

-- A lease of 0 ms expires at once
INSERT INTO b VALUES ('z', pg_temp.batch('cs', 1, '-1 s'));
SELECT pg_temp.remember();
SELECT is((SELECT array_agg(DISTINCT fence) FROM chargegate.claim_messages('cs', 'z1', 10, 0)), ARRAY[1::bigint],
          'z1 claims a batch with a lease of 0 ms');
SELECT is((SELECT array_agg(DISTINCT fence) FROM chargegate.claim_messages('cs', 'z2', 10, 30000)), ARRAY[2::bigint],
          'z2 can claim it again at once');

-- ---------------------------------------------------------------------------
-- settle: refused when stale, changing nothing
-- ---------------------------------------------------------------------------
CREATE TEMPORARY TABLE before AS SELECT pg_temp.row_of(pg_temp.b('b1')) AS r;
SELECT results_eq($$SELECT * FROM pg_temp.ack('cs', 'w1', ARRAY[pg_temp.b('b1')], '{1}')$$,
                  $$VALUES (pg_temp.b('b1'), 'stale'::text)$$,
                  'the consumer whose lease expired cannot settle (old owner, old fence)');
SELECT results_eq($$SELECT * FROM pg_temp.ack('cs', 'w5', ARRAY[pg_temp.b('b1')], '{1}')$$,
                  $$VALUES (pg_temp.b('b1'), 'stale'::text)$$, 'the current owner with an old fence: stale');
SELECT results_eq($$SELECT * FROM pg_temp.ack('cs', 'w1', ARRAY[pg_temp.b('b1')], '{2}')$$,
                  $$VALUES (pg_temp.b('b1'), 'stale'::text)$$, 'another owner with the current fence: stale');
SELECT results_eq($$SELECT * FROM pg_temp.ack('co', 'w5', ARRAY[pg_temp.b('b1')], '{2}')$$,
                  $$VALUES (pg_temp.b('b1'), 'stale'::text)$$, 'the right lease named with another subscription: stale');
SELECT results_eq(
    $$SELECT * FROM chargegate.settle_batches('cs', 'w1', ARRAY[pg_temp.b('b1')], '{1}',
                                              ARRAY[(pg_temp.ids(pg_temp.b('b1')))[1]], ARRAY[pg_temp.b('b1')],
                                              '{0}', '{late failure}', 10)$$,
    $$VALUES (pg_temp.b('b1'), 'stale'::text)$$, 'a stale consumer reporting a failure: stale');
SELECT is(pg_temp.row_of(pg_temp.b('b1')), (SELECT r FROM before), 'the refused settlements left the batch as it was');
SELECT is((SELECT count(*) FROM chargegate.subscription_batch WHERE (pg_temp.ids(pg_temp.b('b1')))[1] = ANY (message_ids)),
          1::bigint, 'and split nothing off');
SELECT results_eq($$SELECT * FROM pg_temp.ack('cs', 'w4', ARRAY[pg_temp.b('later')], '{0}')$$,
                  $$VALUES (pg_temp.b('later'), 'stale'::text)$$, 'a batch that is not leased cannot be settled');
SELECT results_eq($$SELECT * FROM pg_temp.ack('cs', 'w5', ARRAY[pg_temp.b('dead')], '{0}')$$,
                  $$VALUES (pg_temp.b('dead'), 'stale'::text)$$, 'nor can a dead letter');
SELECT results_eq($$SELECT * FROM pg_temp.ack('cs', 'w5', ARRAY[-1::bigint], '{1}')$$,
                  $$VALUES (-1::bigint, 'stale'::text)$$, 'an unknown batch: stale');

-- With leases required (the consumer's own settle) a stale batch is an error
-- that rolls the whole transaction back, the batches still held included
SELECT throws_ok($$SELECT * FROM chargegate.settle_batches('cs', 'w1', ARRAY[pg_temp.b('b1')], '{1}',
                                                          '{}', '{}', '{}', '{}', 10, true)$$,
                 'CG001', NULL, 'leases required: a stale settle fails with SQLSTATE CG001');
SELECT throws_ok($$SELECT * FROM chargegate.settle_batches('cs', 'w5', ARRAY[pg_temp.b('b1'), pg_temp.b('later')],
                                                          '{2,0}', '{}', '{}', '{}', '{}', 10, true)$$,
                 'CG001', format('the lease of batch %s of subscription "cs" is no longer held by "w5"', pg_temp.b('later')),
                 'one stale batch among held ones fails the settle, naming the stale batch');
SELECT is(pg_temp.row_of(pg_temp.b('b1')), (SELECT r FROM before), 'and the batch w5 holds is left as it was');

-- ---------------------------------------------------------------------------
-- extend_leases: the holder renews; anyone else renews nothing
-- ---------------------------------------------------------------------------
UPDATE chargegate.subscription_batch SET available_at = now() - interval '1 ms' WHERE id = pg_temp.b('b1');
SELECT is(chargegate.extend_leases('cs', 'w5', ARRAY[pg_temp.b('b1')], '{2}', 60000), 0,
          'the holder renews its lease, even one that ran out but was not claimed meanwhile: none lost');
SELECT results_eq($$SELECT state, lease_owner, available_at, fence FROM chargegate.subscription_batch
                     WHERE id = pg_temp.b('b1')$$,
                  $$VALUES ('leased'::text, 'w5'::text, now() + interval '60 s', 2::bigint)$$,
                  'the lease now ends lease_ms from now; owner and fence unchanged');
SELECT is(chargegate.extend_leases('cs', 'w1', ARRAY[pg_temp.b('b1')], '{1}', 60000), 1,
          'the consumer that lost the lease renews nothing: 1 lost');
SELECT is(chargegate.extend_leases('cs', 'w5', ARRAY[pg_temp.b('b1'), pg_temp.b('later'), -1], '{2,0,1}', 60000), 2,
          'a batch that is not leased and an unknown batch count as lost');
SELECT is(chargegate.extend_leases('co', 'w5', ARRAY[pg_temp.b('b1')], '{2}', 60000), 1,
          'the right lease named with another subscription is not renewed');
SELECT throws_ok($$SELECT chargegate.extend_leases('cs', 'w5', ARRAY[1::bigint], '{1}', 0)$$, '22023',
                 'extend_leases: the lease must be positive, got 0', 'a lease of 0 is refused');
UPDATE chargegate.subscription_batch SET available_at = now() + interval '20 s' WHERE id = pg_temp.b('b1');

-- ---------------------------------------------------------------------------
-- settle: acknowledged batches are deleted
-- ---------------------------------------------------------------------------
SELECT results_eq($$SELECT * FROM chargegate.settle_batches('cs', 'w5', ARRAY[pg_temp.b('b1')], '{2}',
                                                           '{}', '{}', '{}', '{}', 10, true)$$,
                  $$VALUES (pg_temp.b('b1'), 'settled'::text)$$,
                  'the current owner with the current fence settles (leases required)');
SELECT is_empty($$SELECT 1 FROM chargegate.subscription_batch WHERE id = pg_temp.b('b1')$$,
                'the settled batch is deleted');
SELECT ok((SELECT count(*) = 3 FROM chargegate.topic_message WHERE id = ANY (pg_temp.ids(pg_temp.b('b2')) ||
                                                                         pg_temp.ids(pg_temp.b('b3')))),
          '(its messages stay on the topic for retention)');
SELECT results_eq($$SELECT * FROM pg_temp.ack('cs', 'w5', ARRAY[pg_temp.b('b1')], '{2}')$$,
                  $$VALUES (pg_temp.b('b1'), 'stale'::text)$$, 'settling it again: stale');
SELECT results_eq(
    $$SELECT * FROM pg_temp.ack('cs', 'w3', ARRAY[pg_temp.b('b4'), pg_temp.b('b3')], ARRAY[1, 1]::bigint[])$$,
    $$VALUES (pg_temp.b('b4'), 'settled'::text), (pg_temp.b('b3'), 'stale')$$,
    'one call settles several batches, each on its own: w3''s b4 settled, w2''s b3 stale');

-- ---------------------------------------------------------------------------
-- settle: failed messages become retries of their own, or dead letters
-- ---------------------------------------------------------------------------
-- w2 holds b2 (2 messages) and b3 (1): the second message of b2 fails
SELECT results_eq(
    $$SELECT * FROM chargegate.settle_batches('cs', 'w2', ARRAY[pg_temp.b('b2'), pg_temp.b('b3')], '{1,1}',
                                              ARRAY[(pg_temp.ids(pg_temp.b('b2')))[2]], ARRAY[pg_temp.b('b2')],
                                              '{5000}', '{handler said no}', 3)$$,
    $$VALUES (pg_temp.b('b2'), 'settled'::text), (pg_temp.b('b3'), 'settled')$$,
    'w2 settles b2 (one message failed) and b3');
INSERT INTO b SELECT 'r1', id FROM chargegate.subscription_batch WHERE id > (SELECT max(id) FROM b);
SELECT pg_temp.remember();
SELECT results_eq(
    $$SELECT subscription, message_ids, oldest_message_id, state, available_at, attempts, fence, lease_owner, last_error
        FROM chargegate.subscription_batch WHERE id = pg_temp.b('r1')$$,
    $$SELECT 'cs'::text, ARRAY[m], m, 'ready'::text, now() + interval '5 s', 1, 0::bigint, NULL::text,
             'handler said no'::text
        FROM (SELECT (pg_temp.ids(pg_temp.b('b2')))[2] AS m) x$$,
    'the failed message is split off: a ready batch of its own, due after the delay, with the error and attempts');
SELECT is((SELECT count(*) FROM chargegate.subscription_batch WHERE subscription = 'cs' AND state <> 'dead'
                                                               AND id <> pg_temp.b('later') AND id <> pg_temp.b('z')),
          1::bigint, 'the messages that succeeded are acknowledged: only the retry is left');
SELECT is_empty($$SELECT * FROM chargegate.claim_messages('cs', 'w6', 10, 30000)$$, 'the retry is not due yet');

-- Due again: attempt 2 fails, then attempt 3 (= max) fails: dead
UPDATE chargegate.subscription_batch SET available_at = now() - interval '1 ms' WHERE id = pg_temp.b('r1');
SELECT results_eq($$SELECT batch_id, fence, attempts FROM chargegate.claim_messages('cs', 'w6', 10, 30000)$$,
                  $$VALUES (pg_temp.b('r1'), 1::bigint, 2)$$, 'once due, the retry is claimed: attempt 2');
SELECT results_eq(
    $$SELECT * FROM chargegate.settle_batches('cs', 'w6', ARRAY[pg_temp.b('r1')], '{1}',
                                              pg_temp.ids(pg_temp.b('r1')), ARRAY[pg_temp.b('r1')], '{0}',
                                              '{second failure}', 3)$$,
    $$VALUES (pg_temp.b('r1'), 'settled'::text)$$, 'attempt 2 fails with no delay');
INSERT INTO b SELECT 'r2', id FROM chargegate.subscription_batch WHERE id > (SELECT max(id) FROM b);
SELECT pg_temp.remember();
SELECT results_eq($$SELECT state, available_at, attempts, last_error FROM chargegate.subscription_batch
                     WHERE id = pg_temp.b('r2')$$,
                  $$VALUES ('ready'::text, now(), 2, 'second failure'::text)$$,
                  'a retry delay of 0: ready at once, attempts 2');
SELECT results_eq($$SELECT batch_id, attempts FROM chargegate.claim_messages('cs', 'w6', 10, 30000)$$,
                  $$VALUES (pg_temp.b('r2'), 3)$$, 'attempt 3');
SELECT results_eq(
    $$SELECT * FROM chargegate.settle_batches('cs', 'w6', ARRAY[pg_temp.b('r2')], '{1}',
                                              pg_temp.ids(pg_temp.b('r2')), ARRAY[pg_temp.b('r2')], '{5000}',
                                              '{third failure}', 3)$$,
    $$VALUES (pg_temp.b('r2'), 'settled'::text)$$, 'attempt 3 fails too');
INSERT INTO b SELECT 'd1', id FROM chargegate.subscription_batch WHERE id > (SELECT max(id) FROM b);
SELECT pg_temp.remember();
SELECT results_eq($$SELECT state, attempts, lease_owner, last_error, message_ids FROM chargegate.subscription_batch
                     WHERE id = pg_temp.b('d1')$$,
                  $$VALUES ('dead'::text, 3, NULL::text, 'third failure'::text, pg_temp.ids(pg_temp.b('r1')))$$,
                  'after max_attempts (3) the message is a dead letter with the last error');
SELECT is_empty($$SELECT * FROM chargegate.claim_messages('cs', 'w6', 10, 30000) WHERE batch_id = pg_temp.b('d1')$$,
                'a dead letter is not claimed');

-- A permanent failure (NULL delay) is dead at once; its batch-mates are acknowledged
INSERT INTO b VALUES ('p', pg_temp.batch('cs', 3, '-1 s'));
SELECT pg_temp.remember();
SELECT results_eq($$SELECT DISTINCT batch_id, attempts FROM chargegate.claim_messages('cs', 'w7', 10, 30000)
                     WHERE batch_id = pg_temp.b('p')$$,
                  $$VALUES (pg_temp.b('p'), 1)$$, 'w7 claims a batch of 3 (attempt 1)');
SELECT results_eq(
    $$SELECT * FROM chargegate.settle_batches('cs', 'w7', ARRAY[pg_temp.b('p')], '{1}',
                                              ARRAY[(pg_temp.ids(pg_temp.b('p')))[1], (pg_temp.ids(pg_temp.b('p')))[3]],
                                              ARRAY[pg_temp.b('p'), pg_temp.b('p')], ARRAY[NULL, 60000]::int[],
                                              ARRAY['permanent', repeat('x', 2500)], 10)$$,
    $$VALUES (pg_temp.b('p'), 'settled'::text)$$, 'two of its messages fail: one permanently, one for a retry');
SELECT results_eq(
    $$SELECT message_ids, state, attempts, available_at, last_error FROM chargegate.subscription_batch
       WHERE message_ids[1] = ANY (pg_temp.ids(pg_temp.b('p'))) ORDER BY message_ids[1]$$,
    $$SELECT ARRAY[(pg_temp.ids(pg_temp.b('p')))[1]], 'dead'::text, 1, now(), 'permanent'::text
      UNION ALL
      SELECT ARRAY[(pg_temp.ids(pg_temp.b('p')))[3]], 'ready', 1, now() + interval '60 s', repeat('x', 2000)$$,
    'NULL delay: dead at attempt 1; the retry is due in 60 s with the error cut to 2000 characters; '
    'the message that succeeded is gone');

-- ---------------------------------------------------------------------------
-- A batch larger than the limit is cut; postponed messages are not attempts
-- ---------------------------------------------------------------------------
SELECT chargegate.ensure_subscription('cut', 'charging_session_request');
INSERT INTO b VALUES ('big', pg_temp.batch('cut', 5, '-1 s'));
SELECT pg_temp.remember();
UPDATE chargegate.subscription_batch SET created_at = now() - interval '1 min' WHERE id = pg_temp.b('big');
UPDATE chargegate.topic_message SET published_at = now() - interval '1.5 s' WHERE id = ANY (pg_temp.ids(pg_temp.b('big')));
SELECT results_eq($$SELECT batch_id, message_id, age_ms FROM chargegate.claim_messages('cut', 'w9', 2, 30000)$$,
                  $$SELECT pg_temp.b('big'), u, 1500::bigint FROM unnest((pg_temp.ids(pg_temp.b('big')))[1:2]) AS u$$,
                  'a limit of 2 on a batch of 5 leases its first 2 messages, not the whole batch (published 1.5 s ago)');
SELECT results_eq($$SELECT message_ids, state, lease_owner FROM chargegate.subscription_batch WHERE id = pg_temp.b('big')$$,
                  $$VALUES ((pg_temp.ids(pg_temp.b('big')))[1:2], 'leased'::text, 'w9'::text)$$,
                  'the leased batch holds only those 2');
SELECT results_eq($$SELECT message_ids, oldest_message_id, state, available_at, attempts, fence, created_at
                      FROM chargegate.subscription_batch WHERE subscription = 'cut' AND id <> pg_temp.b('big')$$,
                  $$VALUES ((pg_temp.ids(pg_temp.b('big')))[3:5], (pg_temp.ids(pg_temp.b('big')))[3], 'ready'::text,
                            now(), 0, 0::bigint, now() - interval '1 min')$$,
                  'the other 3 are a ready batch of their own, due now, with the same attempts and age');
SELECT is((SELECT count(*) FROM chargegate.claim_messages('cut', 'w9', 10, 30000)), 3::bigint,
          'the next claim gets them');
SELECT results_eq(
    $$SELECT * FROM chargegate.settle_batches('cut', 'w9', ARRAY[pg_temp.b('big')], '{1}',
                                              ARRAY[(pg_temp.ids(pg_temp.b('big')))[2]], ARRAY[pg_temp.b('big')],
                                              '{5000}', '{destination saturated}', 1, true, '{true}')$$,
    $$VALUES (pg_temp.b('big'), 'settled'::text)$$, 'a settle postpones one of the two messages');
SELECT results_eq($$SELECT state, attempts, available_at, last_error FROM chargegate.subscription_batch
                     WHERE subscription = 'cut' AND message_ids = ARRAY[(pg_temp.ids(pg_temp.b('big')))[2]]$$,
                  $$VALUES ('ready'::text, 0, now() + interval '5 s', 'destination saturated'::text)$$,
                  'postponed: ready after the delay, the claim not counted, never dead (even at max_attempts 1)');

-- ---------------------------------------------------------------------------
-- record_handled
-- ---------------------------------------------------------------------------
SELECT is(chargegate.record_handled('cs', ARRAY['00000000-0000-4000-8000-0000000022a1',
                                                '00000000-0000-4000-8000-0000000022a2']::uuid[]),
          2, 'record_handled records two event ids');
SELECT results_eq($$SELECT subscription, event_id, handled_at FROM chargegate.handled_event
                     WHERE event_id::text LIKE '%22a_' ORDER BY event_id$$,
                  $$VALUES ('cs'::text, '00000000-0000-4000-8000-0000000022a1'::uuid, now()),
                           ('cs', '00000000-0000-4000-8000-0000000022a2'::uuid, now())$$,
                  'with the subscription and the time');
SELECT throws_ok($$SELECT chargegate.record_handled('cs', ARRAY['00000000-0000-4000-8000-0000000022a3',
                                                                '00000000-0000-4000-8000-0000000022a2']::uuid[])$$,
                 '23505', 'duplicate key value violates unique constraint "handled_event_pkey"',
                 'an event the subscription already handled is refused');
SELECT is_empty($$SELECT 1 FROM chargegate.handled_event WHERE event_id = '00000000-0000-4000-8000-0000000022a3'$$,
                'and nothing of that call is recorded');
SELECT throws_ok($$SELECT chargegate.record_handled('cs', ARRAY['00000000-0000-4000-8000-0000000022a4',
                                                                '00000000-0000-4000-8000-0000000022a4']::uuid[])$$,
                 '23505', NULL, 'the same event twice in one call is refused');
SELECT is(chargegate.record_handled('co', ARRAY['00000000-0000-4000-8000-0000000022a1']::uuid[]), 1,
          'another subscription may handle the same event');
SELECT is(chargegate.record_handled('cs', '{}'), 0, 'an empty list records nothing');

-- ---------------------------------------------------------------------------
-- Signatures
-- ---------------------------------------------------------------------------
SELECT has_function('chargegate', 'claim_messages', ARRAY['text', 'text', 'integer', 'integer'],
                    'claim_messages(text, text, integer, integer) exists');
SELECT has_function('chargegate', 'settle_batches',
                    ARRAY['text', 'text', 'bigint[]', 'bigint[]', 'bigint[]', 'bigint[]', 'integer[]', 'text[]',
                          'integer', 'boolean', 'boolean[]'],
                    'settle_batches(text, text, bigint[], bigint[], bigint[], bigint[], integer[], text[], integer, '
                    'boolean, boolean[]) exists');
SELECT has_function('chargegate', 'extend_leases', ARRAY['text', 'text', 'bigint[]', 'bigint[]', 'integer'],
                    'extend_leases(text, text, bigint[], bigint[], integer) exists');
SELECT has_function('chargegate', 'record_handled', ARRAY['text', 'uuid[]'], 'record_handled(text, uuid[]) exists');
SELECT is(array_agg(p.proname::text ORDER BY p.proname),
          ARRAY['claim_messages', 'extend_leases', 'record_handled', 'settle_batches'],
          'the four pin their search_path')
  FROM pg_proc p
 WHERE p.pronamespace = 'chargegate'::regnamespace
   AND p.proname IN ('claim_messages', 'settle_batches', 'record_handled', 'extend_leases')
   AND p.proconfig = ARRAY['search_path=pg_catalog, pg_temp'] AND NOT p.prosecdef;

SELECT * FROM finish();
ROLLBACK;

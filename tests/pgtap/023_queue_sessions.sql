-- The queue functions with other sessions (through dblink), as several
-- daemons use them: two relays, one holding its transaction open, move
-- disjoint rows and each row once; two claimers, one holding its transaction
-- open, never receive the same message; a claim that rolls back leases
-- nothing; a takeover after an expired lease makes the old owner's
-- settlement stale; concurrent record_handled of one event lets only one
-- commit; the relay and replay_dead_letters send one payload-free NOTIFY per
-- transaction that changed something.
--
-- The other sessions commit; everything they wrote is deleted at the end.
BEGIN;
SELECT plan(31);

SELECT dblink_connect(c, format('host=%s port=%s dbname=%s user=%s',
                                coalesce(host(inet_server_addr()), 'localhost'),
                                current_setting('port'), current_database(), current_user))
  FROM unnest(ARRAY['a', 'b', 'c', 'l']) AS c;

-- Is the query sent on p_conn still running after p_wait?  (polls)
CREATE FUNCTION pg_temp.busy_after(p_conn text, p_wait interval) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + p_wait;
BEGIN
    WHILE clock_timestamp() < deadline LOOP
        IF dblink_is_busy(p_conn) = 0 THEN
            RETURN false;
        END IF;
        PERFORM pg_sleep(0.02);
    END LOOP;
    RETURN dblink_is_busy(p_conn) = 1;
END
$$;

-- Notifications received by p_conn within p_wait, as 'channel|payload'
CREATE FUNCTION pg_temp.notifications(p_conn text, p_wait interval) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + p_wait;
    got text[] := '{}';
BEGIN
    LOOP
        got := got || ARRAY(SELECT n.notify_name || '|' || n.extra FROM dblink_get_notify(p_conn) AS n);
        EXIT WHEN clock_timestamp() >= deadline;
        PERFORM pg_sleep(0.02);
    END LOOP;
    RETURN got;
END
$$;

-- The result of a relay sent with dblink_send_query (and the terminating empty result)
CREATE FUNCTION pg_temp.relay_result(p_conn text) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    SELECT r.moved INTO n FROM dblink_get_result(p_conn) AS r(moved integer, next_due_ms bigint, unsubscribed boolean);
    PERFORM * FROM dblink_get_result(p_conn) AS r(moved integer, next_due_ms bigint, unsubscribed boolean);
    RETURN n;
END
$$;

CREATE FUNCTION pg_temp.claim_sql(p_sub text, p_owner text, p_limit int, p_lease_ms int) RETURNS text
LANGUAGE sql AS $$
    SELECT format('SELECT batch_id, fence, message_id FROM chargegate.claim_messages(%L, %L, %s, %s)',
                  p_sub, p_owner, p_limit, p_lease_ms)
$$;

-- Claimed messages, by claimer
CREATE TEMPORARY TABLE claimed (who text, batch_id bigint, fence bigint, message_id bigint);
CREATE FUNCTION pg_temp.take(p_conn text, p_who text, p_sub text, p_limit int, p_lease_ms int) RETURNS bigint
LANGUAGE sql AS $$
    WITH ins AS (
        INSERT INTO claimed
        SELECT p_who, t.* FROM dblink(p_conn, pg_temp.claim_sql(p_sub, p_who, p_limit, p_lease_ms))
                                  AS t(batch_id bigint, fence bigint, message_id bigint)
        RETURNING 1
    )
    SELECT count(*) FROM ins
$$;

-- Committed fixture: no pending leftovers, two subscriptions, 12 outbox rows
SELECT * FROM dblink('c', $$SELECT moved FROM chargegate.relay_outbox('charging_session_request_outbox', 1000000)$$)
                 AS t(moved integer);
SELECT * FROM dblink('c', $$SELECT chargegate.ensure_subscription('tq_s1', 'charging_session_request'),
                                   chargegate.ensure_subscription('tq_s2', 'charging_session_request')$$)
                 AS t(s1 text, s2 text);
SELECT dblink_exec('c', $$INSERT INTO chargegate.charging_session_request_outbox
                               (event_id, event_type, aggregate_id, payload, available_at)
                          SELECT format('00000000-0000-4000-8000-0000000023%s', lpad(n::text, 2, '0'))::uuid,
                                 'StartChargingSessionRequestCommand', gen_random_uuid(), jsonb_build_object('n', n),
                                 now() - interval '1 min' + n * interval '1 s'
                            FROM generate_series(1, 12) AS n$$);
CREATE FUNCTION pg_temp.mine() RETURNS TABLE (id bigint, event_id uuid) LANGUAGE sql AS $$
    SELECT m.id, m.event_id FROM chargegate.topic_message m
     WHERE m.event_id::text LIKE '00000000-0000-4000-8000-0000000023__'
$$;

-- ---------------------------------------------------------------------------
-- Two relays: a holds its transaction open, b takes the other rows
-- ---------------------------------------------------------------------------
SELECT dblink_exec('l', 'LISTEN chargegate_topic_charging_session_request');
SELECT is(pg_temp.notifications('l', '100 ms'), '{}'::text[], 'the listener starts with no notifications');

SELECT dblink_exec('a', 'BEGIN');
SELECT is((SELECT moved FROM dblink('a', $$SELECT * FROM chargegate.relay_outbox('charging_session_request_outbox', 3)$$)
                          AS t(moved integer, next_due_ms bigint, unsubscribed boolean)), 3,
          'relay a moves 3 rows and keeps its transaction open');
SELECT is(dblink_send_query('b', $$SELECT * FROM chargegate.relay_outbox('charging_session_request_outbox', 3)$$), 1,
          'relay b starts');
SELECT ok(NOT pg_temp.busy_after('b', '5 s'), 'relay b does not wait for relay a (SKIP LOCKED)');
SELECT is(pg_temp.relay_result('b'), 3, 'relay b moves 3 other rows');
SELECT dblink_exec('a', 'COMMIT');
SELECT is((SELECT count(*) FROM pg_temp.mine()), 6::bigint, 'after both commit, 6 events are on the topic');
SELECT results_eq(
    $$SELECT s, count(*), sum(cardinality(b.message_ids))::bigint, count(DISTINCT u)
        FROM chargegate.subscription_batch b CROSS JOIN LATERAL unnest(b.message_ids) u
       CROSS JOIN LATERAL (SELECT b.subscription AS s) x
       WHERE b.subscription IN ('tq_s1', 'tq_s2') GROUP BY s ORDER BY s$$,
    $$VALUES ('tq_s1'::text, 6::bigint, 18::bigint, 6::bigint), ('tq_s2', 6, 18, 6)$$,
    'each subscription has the 6 messages in two disjoint batches of 3');
SELECT is(pg_temp.notifications('l', '1 s'),
          ARRAY['chargegate_topic_charging_session_request|', 'chargegate_topic_charging_session_request|'],
          'each relay transaction sent one payload-free notification on chargegate_topic_charging_session_request');

-- The other 6 rows, one per transaction: batches of one
SELECT is((SELECT sum(moved)::int FROM generate_series(1, 7) AS i,
                   LATERAL dblink('c', format('SELECT * FROM chargegate.relay_outbox(%L, 1) -- %s',
                                                              'charging_session_request_outbox', i))
                           AS t(moved integer, next_due_ms bigint, unsubscribed boolean)),
          6, 'seven relays of one row move the other 6 rows (the last finds nothing)');
SELECT is(cardinality(pg_temp.notifications('l', '1 s')), 6, 'six notifications, none for the empty relay');
SELECT is((SELECT count(*) FROM pg_temp.mine()), 12::bigint, 'all 12 events are on the topic, each once');

-- ---------------------------------------------------------------------------
-- Two claimers: a holds its transaction open, b never gets a's messages
-- ---------------------------------------------------------------------------
SELECT dblink_exec('a', 'BEGIN');
SELECT is(pg_temp.take('a', 'a1', 'tq_s1', 4, 30000), 3::bigint, 'claimer a leases what fits in 4 messages (a batch of 3; the next batch of 3 would not fit), transaction open');
SELECT dblink_send_query('b', pg_temp.claim_sql('tq_s1', 'b1', 4, 30000));
SELECT ok(NOT pg_temp.busy_after('b', '5 s'), 'claimer b does not wait for claimer a (SKIP LOCKED)');
INSERT INTO claimed SELECT 'b1', * FROM dblink_get_result('b') AS t(batch_id bigint, fence bigint, message_id bigint);
SELECT * FROM dblink_get_result('b') AS t(batch_id bigint, fence bigint, message_id bigint);
SELECT ok((SELECT count(*) FROM claimed WHERE who = 'b1') >= 4, 'claimer b leases at least 4 messages too');
SELECT is_empty($$SELECT message_id FROM claimed WHERE who = 'a1' INTERSECT SELECT message_id FROM claimed WHERE who = 'b1'$$,
                'a and b hold no message in common');
SELECT dblink_exec('a', 'COMMIT');

-- A claim that rolls back leases nothing
SELECT dblink_exec('b', 'BEGIN');
SELECT ok(pg_temp.take('b', 'b-rolled-back', 'tq_s1', 100, 30000) > 0, 'a claim in a transaction that rolls back');
SELECT dblink_exec('b', 'ROLLBACK');
SELECT is_empty($$SELECT 1 FROM chargegate.leases WHERE lease_owner = 'b-rolled-back'$$,
                'leaves no lease behind');

-- Both claim in turns until nothing is left
SELECT pg_temp.take(CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END, CASE WHEN i % 2 = 0 THEN 'a2' ELSE 'b2' END,
                    'tq_s1', 1, 30000)
  FROM generate_series(1, 12) AS i;
SELECT results_eq($$SELECT count(*), count(DISTINCT message_id) FROM claimed WHERE who <> 'b-rolled-back'$$,
                  $$VALUES (12::bigint, 12::bigint)$$,
                  'all 12 messages of tq_s1 were claimed, none twice');
SELECT set_eq($$SELECT message_id FROM claimed$$, $$SELECT id FROM pg_temp.mine()$$,
              'the claims cover every message of the topic');
SELECT is(pg_temp.take('b', 'b3', 'tq_s1', 100, 30000), 0::bigint, 'with every batch leased, a claim gets nothing');

-- ---------------------------------------------------------------------------
-- Takeover after an expired lease; the old owner's settlement is stale
-- ---------------------------------------------------------------------------
CREATE TEMPORARY TABLE victim AS
SELECT batch_id, fence FROM claimed WHERE who = 'a1' ORDER BY batch_id LIMIT 1;
SELECT dblink_exec('c', format('UPDATE chargegate.subscription_batch SET available_at = now() - interval ''1 ms'' '
                               'WHERE id = %s', (SELECT batch_id FROM victim)));
SELECT is(pg_temp.take('b', 'b4', 'tq_s1', 3, 30000), (SELECT count(*) FROM claimed WHERE batch_id = (SELECT batch_id FROM victim)
                                                                                      AND who = 'a1'),
          'after a''s lease expired, b takes the batch over');
SELECT is((SELECT DISTINCT fence FROM claimed WHERE who = 'b4'), (SELECT fence + 1 FROM victim),
          'with the next fence');
SELECT is((SELECT outcome FROM dblink('a', format(
              'SELECT outcome FROM chargegate.settle_batches(%L, %L, ARRAY[%s]::bigint[], ARRAY[%s]::bigint[], ''{}'', ''{}'', ''{}'', ''{}'', 10)',
              'tq_s1', 'a1', (SELECT batch_id FROM victim), (SELECT fence FROM victim))) AS t(outcome text)),
          'stale', 'a''s late acknowledgement is refused');
SELECT is((SELECT outcome FROM dblink('b', format(
              'SELECT outcome FROM chargegate.settle_batches(%L, %L, ARRAY[%s]::bigint[], ARRAY[%s]::bigint[], ''{}'', ''{}'', ''{}'', ''{}'', 10)',
              'tq_s1', 'b4', (SELECT batch_id FROM victim), (SELECT fence + 1 FROM victim))) AS t(outcome text)),
          'settled', 'b''s acknowledgement is accepted');

-- ---------------------------------------------------------------------------
-- record_handled of one event in two sessions: the second waits, then fails
-- ---------------------------------------------------------------------------
SELECT dblink_exec('a', 'BEGIN');
SELECT * FROM dblink('a', $$SELECT chargegate.record_handled('tq_s1', '{00000000-0000-4000-8000-000000002301}')$$)
                 AS t(n integer);
SELECT dblink_send_query('b', $$SELECT chargegate.record_handled('tq_s1', '{00000000-0000-4000-8000-000000002301}')$$);
SELECT ok(pg_temp.busy_after('b', '300 ms'), 'a second record_handled of the same event waits for the first');
SELECT dblink_exec('a', 'COMMIT');
SET LOCAL client_min_messages = warning;  -- dblink reports b's error as a NOTICE too
SELECT is_empty($$SELECT * FROM dblink_get_result('b', false) AS t(n integer)$$, 'and then fails');
SELECT alike(dblink_error_message('b'), '%duplicate key value violates unique constraint "handled_event_pkey"%',
            'with a unique violation');
SELECT * FROM dblink_get_result('b', false) AS t(n integer);
RESET client_min_messages;

-- ---------------------------------------------------------------------------
-- replay_dead_letters wakes the consumers
-- ---------------------------------------------------------------------------
SELECT dblink_exec('c', $$UPDATE chargegate.subscription_batch SET state = 'dead', lease_owner = NULL
                           WHERE subscription = 'tq_s2'$$);
SELECT is((SELECT n FROM dblink('a', $$SELECT chargegate.replay_dead_letters('tq_s2')$$) AS t(n integer)), 12,
          'replaying tq_s2''s 12 dead messages');
SELECT is(pg_temp.notifications('l', '1 s'), ARRAY['chargegate_topic_charging_session_request|'],
          'sends one payload-free notification on the topic''s channel');
SELECT is((SELECT n FROM dblink('a', $$SELECT chargegate.replay_dead_letters('tq_s2')$$) AS t(n integer)), 0,
          'replaying when nothing is dead');
SELECT is(pg_temp.notifications('l', '300 ms'), '{}'::text[], 'sends none');

-- ---------------------------------------------------------------------------
-- Clean up what the other sessions committed
-- ---------------------------------------------------------------------------
SELECT dblink_exec('c', $$DELETE FROM chargegate.subscription_batch WHERE subscription IN ('tq_s1', 'tq_s2')$$);
SELECT dblink_exec('c', $$DELETE FROM chargegate.handled_event WHERE subscription IN ('tq_s1', 'tq_s2')$$);
SELECT dblink_exec('c', $$DELETE FROM chargegate.subscription WHERE name IN ('tq_s1', 'tq_s2')$$);
SELECT dblink_exec('c', $$DELETE FROM chargegate.topic_message WHERE event_id::text LIKE '00000000-0000-4000-8000-0000000023__'$$);
SELECT dblink_exec('c', $$DELETE FROM chargegate.charging_session_request_outbox
                           WHERE event_id::text LIKE '00000000-0000-4000-8000-0000000023__'$$);
SELECT dblink_disconnect(c) FROM unnest(ARRAY['a', 'b', 'c', 'l']) AS c;

SELECT * FROM finish();
ROLLBACK;

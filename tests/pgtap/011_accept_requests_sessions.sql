-- chargegate.accept_requests with other sessions (through dblink): a caller
-- waits for a concurrent transaction that holds the same idempotency key and
-- then sees its committed request; keys are claimed in sorted order (no
-- deadlock between batches sharing keys); the function sends no NOTIFY at
-- all (the daemon wakes the relays from a separate transaction).
--
-- The other sessions commit; everything they wrote is deleted at the end.
BEGIN;
SELECT plan(21);

SELECT dblink_connect(c, format('host=%s port=%s dbname=%s user=%s',
                                coalesce(host(inet_server_addr()), 'localhost'),
                                current_setting('port'), current_database(), current_user))
  FROM unnest(ARRAY['a', 'b', 'h', 'l']) AS c;

-- SQL text of a one-element accept_requests call, its result as (request_id, outcome)
CREATE FUNCTION pg_temp.call(p_station text, p_token text, p_key text) RETURNS text LANGUAGE sql AS $$
    SELECT format('SELECT request_id, outcome FROM chargegate.accept_requests(ARRAY[%L]::uuid[], ARRAY[%L], ARRAY[%L], ARRAY[%L])',
                  p_station, p_token, 'https://sess.example/cb', p_key)
$$;

-- Result of a query sent with dblink_send_query (and the terminating empty result)
CREATE FUNCTION pg_temp.result_of(p_conn text) RETURNS TABLE (request_id uuid, outcome text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT r.request_id, r.outcome FROM dblink_get_result(p_conn) AS r(request_id uuid, outcome text);
    PERFORM * FROM dblink_get_result(p_conn) AS r(request_id uuid, outcome text);
END
$$;

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

CREATE TEMPORARY TABLE seen (step text, request_id uuid, outcome text);

-- ---------------------------------------------------------------------------
-- Same key, same body, while the first transaction is still open
-- ---------------------------------------------------------------------------
SELECT dblink_exec('a', 'BEGIN');
INSERT INTO seen SELECT 'a1', * FROM dblink('a', pg_temp.call('00000000-0000-4000-8000-0000000005a1', 'sess-tok-1', 'sess-key-1'))
                                  AS t(request_id uuid, outcome text);
SELECT is((SELECT outcome FROM seen WHERE step = 'a1'), 'created', 'session a creates the request (not committed yet)');
SELECT is(dblink_send_query('b', pg_temp.call('00000000-0000-4000-8000-0000000005a1', 'sess-tok-1', 'sess-key-1')), 1,
          'session b sends the same key and body');
SELECT ok(pg_temp.busy_after('b', '300 ms'), 'session b waits for session a''s transaction');
SELECT dblink_exec('a', 'COMMIT');
INSERT INTO seen SELECT 'b1', * FROM pg_temp.result_of('b');
SELECT results_eq($$SELECT request_id, outcome FROM seen WHERE step = 'b1'$$,
                  $$SELECT request_id, 'replayed'::text FROM seen WHERE step = 'a1'$$,
                  'after a commits, b gets a''s request_id, replayed');

-- ---------------------------------------------------------------------------
-- Same key, other body, while the first transaction is still open
-- ---------------------------------------------------------------------------
SELECT dblink_exec('a', 'BEGIN');
INSERT INTO seen SELECT 'a2', * FROM dblink('a', pg_temp.call('00000000-0000-4000-8000-0000000005a2', 'sess-tok-2', 'sess-key-2'))
                                  AS t(request_id uuid, outcome text);
SELECT dblink_send_query('b', pg_temp.call('00000000-0000-4000-8000-0000000005a2', 'sess-tok-other', 'sess-key-2'));
SELECT ok(pg_temp.busy_after('b', '300 ms'), 'session b with another body waits for session a');
SELECT dblink_exec('a', 'COMMIT');
INSERT INTO seen SELECT 'b2', * FROM pg_temp.result_of('b');
SELECT results_eq($$SELECT request_id, outcome FROM seen WHERE step = 'b2'$$,
                  $$SELECT request_id, 'conflict'::text FROM seen WHERE step = 'a2'$$,
                  'after a commits, b gets a conflict naming a''s request_id');

-- ---------------------------------------------------------------------------
-- Same key, the first transaction rolls back: the waiter creates its own
-- ---------------------------------------------------------------------------
SELECT dblink_exec('a', 'BEGIN');
INSERT INTO seen SELECT 'a3', * FROM dblink('a', pg_temp.call('00000000-0000-4000-8000-0000000005a3', 'sess-tok-3', 'sess-key-3'))
                                  AS t(request_id uuid, outcome text);
SELECT dblink_send_query('b', pg_temp.call('00000000-0000-4000-8000-0000000005a3', 'sess-tok-3', 'sess-key-3'));
SELECT ok(pg_temp.busy_after('b', '300 ms'), 'session b waits for session a before a rolls back');
SELECT dblink_exec('a', 'ROLLBACK');
INSERT INTO seen SELECT 'b3', * FROM pg_temp.result_of('b');
SELECT is((SELECT outcome FROM seen WHERE step = 'b3'), 'created', 'after a rolls back, b creates the request');
SELECT isnt((SELECT request_id FROM seen WHERE step = 'b3'), (SELECT request_id FROM seen WHERE step = 'a3'),
            'with a request_id of its own');

-- ---------------------------------------------------------------------------
-- The key's request is being deleted: the caller waits, then creates anew
-- ---------------------------------------------------------------------------
SELECT dblink_exec('h', 'BEGIN');
SELECT dblink_exec('h', format('DELETE FROM chargegate.charging_session_request WHERE request_id = %L',
                               (SELECT request_id FROM seen WHERE step = 'b3')));
SELECT dblink_send_query('b', pg_temp.call('00000000-0000-4000-8000-0000000005a3', 'sess-tok-3', 'sess-key-3'));
SELECT ok(pg_temp.busy_after('b', '300 ms'), 'a caller waits while the key''s request is being deleted');
SELECT dblink_exec('h', 'COMMIT');
INSERT INTO seen SELECT 'b4', * FROM pg_temp.result_of('b');
SELECT is((SELECT outcome FROM seen WHERE step = 'b4'), 'created',
          'once the delete commits, the key is free and the request is created again');

-- ---------------------------------------------------------------------------
-- Keys are claimed in sorted order.  h holds sess-key-k1; a sends
-- [sess-key-k2, sess-key-k1] and waits for h on k1 without holding k2, so b
-- can use k2 at once.  (Claiming in input order would make b wait on a,
-- and two such batches could deadlock.)
-- ---------------------------------------------------------------------------
SELECT dblink_exec('h', 'BEGIN');
INSERT INTO seen SELECT 'h5', * FROM dblink('h', pg_temp.call('00000000-0000-4000-8000-0000000005a5', 'sess-tok-5', 'sess-key-k1'))
                                  AS t(request_id uuid, outcome text);
SELECT dblink_send_query('a', format(
    'SELECT ord, request_id, outcome FROM chargegate.accept_requests(%L::uuid[], %L::text[], %L::text[], %L::text[])',
    ARRAY['00000000-0000-4000-8000-0000000005a5', '00000000-0000-4000-8000-0000000005a5'],
    ARRAY['sess-tok-5', 'sess-tok-5'], ARRAY['https://sess.example/cb', 'https://sess.example/cb'],
    ARRAY['sess-key-k2', 'sess-key-k1']));
SELECT ok(pg_temp.busy_after('a', '300 ms'), 'a batch waits for the transaction holding one of its keys');
SELECT dblink_send_query('b', pg_temp.call('00000000-0000-4000-8000-0000000005a5', 'sess-tok-5', 'sess-key-k2'));
SELECT ok(NOT pg_temp.busy_after('b', '5 s'), 'a waiting batch does not hold its other keys yet');
-- (commit h before reading b: were b blocked on a, reading it first would hang)
SELECT dblink_exec('h', 'COMMIT');
INSERT INTO seen SELECT 'b5', * FROM pg_temp.result_of('b');
CREATE TEMPORARY TABLE a5 AS SELECT * FROM dblink_get_result('a') AS r(ord int, request_id uuid, outcome text);
SELECT * FROM dblink_get_result('a') AS r(ord int, request_id uuid, outcome text);
SELECT results_eq(
    $$SELECT ord, request_id, outcome FROM a5 ORDER BY ord$$,
    $$SELECT 1, request_id, 'replayed'::text FROM seen WHERE step = 'b5'
      UNION ALL
      SELECT 2, request_id, 'replayed'::text FROM seen WHERE step = 'h5'$$,
    'the waiting batch then replays both keys from the committed transactions');

-- ---------------------------------------------------------------------------
-- NOTIFY: never from accept_requests (NOTIFY's commit lock would serialise
-- group commits); the daemon notifies from its own small transaction
-- ---------------------------------------------------------------------------
SELECT dblink_exec('l', 'LISTEN chargegate_charging_session_request_outbox');
SELECT is(pg_temp.notifications('l', '100 ms'), '{}'::text[], 'the listener starts with no notifications');

SELECT is((SELECT array_agg(outcome ORDER BY ord) FROM dblink('a', format(
              'SELECT ord, outcome FROM chargegate.accept_requests(%L::uuid[], %L::text[], %L::text[], %L::text[])',
              ARRAY['00000000-0000-4000-8000-0000000005a6', '00000000-0000-4000-8000-0000000005a6',
                    '00000000-0000-4000-8000-0000000005a6'],
              ARRAY['sess-tok-6a', 'sess-tok-6b', 'sess-tok-6c'],
              ARRAY['https://sess.example/cb', 'https://sess.example/cb', 'https://sess.example/cb'],
              ARRAY['sess-key-6a', NULL, 'sess-key-6c'])) AS t(ord int, outcome text)),
          ARRAY['created', 'created', 'created'], 'a batch of three is created and committed');
SELECT is(pg_temp.notifications('l', '500 ms'), '{}'::text[],
          'a batch that created requests sends no notification from its own transaction');

SELECT is((SELECT array_agg(outcome ORDER BY ord) FROM dblink('a', format(
              'SELECT ord, outcome FROM chargegate.accept_requests(%L::uuid[], %L::text[], %L::text[], %L::text[])',
              ARRAY['00000000-0000-4000-8000-0000000005a6', '00000000-0000-4000-8000-0000000005a6'],
              ARRAY['sess-tok-6a', 'sess-tok-other'],
              ARRAY['https://sess.example/cb', 'https://sess.example/cb'],
              ARRAY['sess-key-6a', 'sess-key-6c'])) AS t(ord int, outcome text)),
          ARRAY['replayed', 'conflict'], 'a batch of a replay and a conflict is committed');
SELECT is((SELECT n FROM dblink('a', $$SELECT count(*) FROM chargegate.accept_requests('{}', '{}', '{}', '{}')$$)
                           AS t(n bigint)), 0::bigint,
          'an empty batch is committed');
SELECT is(pg_temp.notifications('l', '500 ms'), '{}'::text[],
          'a batch that created nothing sends no notification either');

-- ---------------------------------------------------------------------------
-- Clean up what the other sessions committed
-- ---------------------------------------------------------------------------
SELECT dblink_exec('a', $$DELETE FROM chargegate.charging_session_request_outbox WHERE payload->>'driver_token' LIKE 'sess-%'$$);
SELECT dblink_exec('a', $$DELETE FROM chargegate.charging_session_request WHERE driver_token LIKE 'sess-%'$$);
SELECT dblink_disconnect(c) FROM unnest(ARRAY['a', 'b', 'h', 'l']) AS c;
SELECT is_empty($$SELECT 1 FROM chargegate.idempotency_key WHERE key LIKE 'sess-%'$$,
                'the other sessions'' rows are cleaned up');

SELECT * FROM finish();
ROLLBACK;

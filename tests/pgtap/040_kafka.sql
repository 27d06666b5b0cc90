-- The Kafka transport's SQL (005_kafka.sql): claim_outbox leases due rows
-- (live leases are skipped, expired ones taken over), mark_published and
-- record_publish_error settle them after the delivery reports,
-- outbox_next_due_ms says when the relay must look again, and
-- defer_messages stores failed Kafka messages as retries or dead letters that
-- claim_messages hands out again.
BEGIN;
SELECT plan(36);

DELETE FROM chargegate.outbox_lease;
DELETE FROM chargegate.subscription_batch;
DELETE FROM chargegate.handled_event;
DELETE FROM chargegate.topic_message;
DELETE FROM chargegate.subscription;
DELETE FROM chargegate.charging_session_request_outbox;

SELECT has_table('chargegate', 'outbox_lease', 'chargegate.outbox_lease exists');
SELECT col_is_pk('chargegate', 'outbox_lease', ARRAY['outbox', 'row_id'], 'a row has at most one lease');
SELECT throws_ok($$INSERT INTO chargegate.outbox_lease (outbox, row_id, owner, expires_at)
                   VALUES ('no_such_outbox', 1, 'x', now())$$,
                 '23503', NULL, 'a lease names a known outbox');

-- Five due rows (1..5, in available_at order) and one delayed by 2 s.
INSERT INTO chargegate.charging_session_request_outbox (event_id, event_type, aggregate_id, payload, available_at)
SELECT format('00000000-0000-4000-8000-0000000040%s', lpad(n::text, 2, '0'))::uuid,
       'StartChargingSessionRequestCommand', gen_random_uuid(), jsonb_build_object('n', n),
       now() + d
  FROM (VALUES (1, interval '-5 s'), (2, interval '-4 s'), (3, interval '-3 s'), (4, interval '-2 s'),
               (5, interval '-1 s'), (6, interval '2 s')) AS v(n, d);
CREATE FUNCTION pg_temp.id(p_n int) RETURNS bigint LANGUAGE sql AS $$
    SELECT id FROM chargegate.charging_session_request_outbox
     WHERE event_id = format('00000000-0000-4000-8000-0000000040%s', lpad(p_n::text, 2, '0'))::uuid
$$;

-- ---------------------------------------------------------------------------
-- claim_outbox
-- ---------------------------------------------------------------------------
SELECT results_eq(
    $$SELECT id, topic, payload ->> 'n' FROM chargegate.claim_outbox('charging_session_request_outbox', 'a', 2, 10000)$$,
    $$VALUES (pg_temp.id(1), 'charging_session_request', '1'), (pg_temp.id(2), 'charging_session_request', '2')$$,
    'claim_outbox returns the first due rows, with the outbox''s topic, up to the limit');
SELECT results_eq(
    $$SELECT row_id, owner, expires_at = now() + interval '10 s' FROM chargegate.outbox_lease ORDER BY row_id$$,
    $$VALUES (pg_temp.id(1), 'a', true), (pg_temp.id(2), 'a', true)$$,
    'each claimed row is leased to the claimer for p_lease_ms');
SELECT is((SELECT count(*) FROM chargegate.charging_session_request_outbox WHERE published_at IS NOT NULL),
          0::bigint, 'claiming publishes nothing');
SELECT results_eq(
    $$SELECT id FROM chargegate.claim_outbox('charging_session_request_outbox', 'b', 10, 10000)$$,
    $$VALUES (pg_temp.id(3)), (pg_temp.id(4)), (pg_temp.id(5))$$,
    'another relay gets the due rows without a live lease (not the leased ones, not the delayed one)');
SELECT is_empty($$SELECT * FROM chargegate.claim_outbox('charging_session_request_outbox', 'c', 10, 10000)$$,
                'nothing is left to claim while every due row is leased');
SELECT is(chargegate.outbox_next_due_ms('charging_session_request_outbox'), 2000::bigint,
          'outbox_next_due_ms: the delayed row is due in 2 s, before any lease expires');

-- an expired lease: the row is claimable again, by someone else
UPDATE chargegate.outbox_lease SET claimed_at = now() - interval '1 min', expires_at = now() - interval '1 s'
 WHERE row_id = pg_temp.id(1);
SELECT results_eq($$SELECT id FROM chargegate.claim_outbox('charging_session_request_outbox', 'c', 10, 5000)$$,
                  $$VALUES (pg_temp.id(1))$$, 'a row whose lease expired is claimed again');
SELECT is((SELECT owner || '|' || (expires_at = now() + interval '5 s') FROM chargegate.outbox_lease
            WHERE row_id = pg_temp.id(1)), 'c|true', 'the expired lease is taken over by the new claimer');

-- ---------------------------------------------------------------------------
-- mark_published / record_publish_error
-- ---------------------------------------------------------------------------
SELECT is(chargegate.mark_published('charging_session_request_outbox', ARRAY[pg_temp.id(1), pg_temp.id(2)]), 2,
          'mark_published marks the delivered rows');
SELECT is((SELECT count(*) FROM chargegate.charging_session_request_outbox
            WHERE id IN (pg_temp.id(1), pg_temp.id(2)) AND published_at = now()), 2::bigint,
          'published_at is set');
SELECT is((SELECT count(*) FROM chargegate.outbox_lease WHERE row_id IN (pg_temp.id(1), pg_temp.id(2))), 0::bigint,
          'their leases are gone');
SELECT is(chargegate.mark_published('charging_session_request_outbox', ARRAY[pg_temp.id(1)]), 0,
          'marking a published row again changes nothing');

SELECT is(chargegate.record_publish_error('charging_session_request_outbox', 'b', ARRAY[pg_temp.id(3), pg_temp.id(4)],
                                          ARRAY['Local: Message timed out', 'Broker: Not enough in-sync replicas'], 1000),
          2, 'record_publish_error records the failed deliveries');
SELECT results_eq(
    $$SELECT publish_attempts, last_error, published_at IS NULL, available_at = now() + interval '1 s'
        FROM chargegate.charging_session_request_outbox WHERE id IN (pg_temp.id(3), pg_temp.id(4)) ORDER BY id$$,
    $$VALUES (1, 'Local: Message timed out', true, true), (1, 'Broker: Not enough in-sync replicas', true, true)$$,
    'failed rows stay pending with publish_attempts + 1, the error, and are due again after the delay');
SELECT is((SELECT count(*) FROM chargegate.outbox_lease WHERE row_id IN (pg_temp.id(3), pg_temp.id(4))), 0::bigint,
          'the failed rows'' leases are dropped');
SELECT is(chargegate.record_publish_error('charging_session_request_outbox', 'someone-else', ARRAY[pg_temp.id(5)],
                                          ARRAY['boom'], 0), 1, 'a failure reported by another owner is recorded');
SELECT is((SELECT owner FROM chargegate.outbox_lease WHERE row_id = pg_temp.id(5)), 'b',
          '... but only the owner''s lease is dropped');
SELECT is(chargegate.record_publish_error('charging_session_request_outbox', 'b', ARRAY[pg_temp.id(1)],
                                          ARRAY['late'], 0), 0, 'a published row is not touched by a late failure');
SELECT is(chargegate.outbox_next_due_ms('charging_session_request_outbox'), 1000::bigint,
          'outbox_next_due_ms: now the failed rows are due first');

SELECT throws_ok($$SELECT * FROM chargegate.claim_outbox('nope', 'a', 1, 1000)$$, '22023',
                 'claim_outbox: unknown outbox "nope"', 'claim_outbox refuses an unknown outbox');
SELECT throws_ok($$SELECT * FROM chargegate.claim_outbox('charging_session_request_outbox', 'a', 0, 1000)$$, '22023',
                 NULL, 'claim_outbox refuses a limit below 1');
SELECT throws_ok($$SELECT chargegate.mark_published('nope', '{}')$$, '22023', NULL,
                 'mark_published refuses an unknown outbox');
SELECT throws_ok($$SELECT chargegate.record_publish_error('nope', 'a', '{}', '{}', 0)$$, '22023', NULL,
                 'record_publish_error refuses an unknown outbox');
SELECT throws_ok($$SELECT chargegate.outbox_next_due_ms('nope')$$, '22023', NULL,
                 'outbox_next_due_ms refuses an unknown outbox');

-- ---------------------------------------------------------------------------
-- defer_messages
-- ---------------------------------------------------------------------------
SELECT chargegate.ensure_subscription('kz', 'charging_session_request');
SELECT chargegate.ensure_subscription('ky', 'charging_session_request');
SELECT is(chargegate.defer_messages('kz', $$[
    {"event_id": "00000000-0000-4000-8000-000000004101", "event_type": "StartChargingSessionRequestCommand",
     "aggregate_id": "00000000-0000-4000-8000-000000004199", "payload": {"a": 1}, "attempts": 1,
     "retry_after_ms": 0, "error": "timeout"},
    {"event_id": "00000000-0000-4000-8000-000000004102", "event_type": "StartChargingSessionRequestCommand",
     "aggregate_id": "00000000-0000-4000-8000-000000004199", "payload": {"a": 2}, "attempts": 1,
     "retry_after_ms": null, "error": "bad payload"},
    {"event_id": "00000000-0000-4000-8000-000000004103", "event_type": "StartChargingSessionRequestCommand",
     "aggregate_id": "00000000-0000-4000-8000-000000004199", "payload": {"a": 3}, "attempts": 3,
     "retry_after_ms": 500, "error": "again"}]$$::jsonb, 3), 3, 'defer_messages stores three failed messages');
SELECT results_eq(
    $$SELECT m.event_id::text, m.topic, m.payload ->> 'a', b.state, b.attempts, b.last_error
        FROM chargegate.subscription_batch b JOIN chargegate.topic_message m ON m.id = b.message_ids[1]
       WHERE b.subscription = 'kz' ORDER BY m.event_id$$,
    $$VALUES ('00000000-0000-4000-8000-000000004101', 'charging_session_request', '1', 'ready', 1, 'timeout'),
             ('00000000-0000-4000-8000-000000004102', 'charging_session_request', '2', 'dead', 1, 'bad payload'),
             ('00000000-0000-4000-8000-000000004103', 'charging_session_request', '3', 'dead', 3, 'again')$$,
    'a retry is ready; a permanent failure, and one at queue.max_attempts, are dead letters');
SELECT is((SELECT count(*) FROM chargegate.subscription_batch WHERE subscription = 'kz'
            AND cardinality(message_ids) = 1 AND oldest_message_id = message_ids[1]), 3::bigint,
          'each message gets a batch of its own');
SELECT results_eq(
    $$SELECT event_id::text, attempts, handled FROM chargegate.claim_messages('kz', 'w', 10, 1000)$$,
    $$VALUES ('00000000-0000-4000-8000-000000004101', 2, false)$$,
    'claim_messages hands out the due retry (attempt 2), not the dead letters');

SELECT is(chargegate.defer_messages('ky', $$[
    {"event_id": "00000000-0000-4000-8000-000000004101", "event_type": "StartChargingSessionRequestCommand",
     "aggregate_id": "00000000-0000-4000-8000-000000004199", "payload": {"a": 1}, "attempts": 1,
     "retry_after_ms": 60000, "error": "later"}]$$::jsonb, 10), 1,
          'another subscription defers the same event');
SELECT is((SELECT count(*) FROM chargegate.topic_message
            WHERE event_id = '00000000-0000-4000-8000-000000004101'), 1::bigint,
          'the event is stored once per topic: the existing message is reused');
SELECT is((SELECT state || '|' || (available_at = now() + interval '1 min') FROM chargegate.subscription_batch
            WHERE subscription = 'ky'), 'ready|true', 'the retry is due after retry_after_ms');
SELECT throws_ok($$SELECT chargegate.defer_messages('nope', '[]', 3)$$, '22023',
                 'defer_messages: unknown subscription "nope"', 'defer_messages refuses an unknown subscription');

SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'chargegate' AND p.prosecdef
              AND p.proname IN ('claim_outbox', 'mark_published', 'record_publish_error', 'outbox_next_due_ms',
                                'defer_messages')), 0,
          'the Kafka functions run with the caller''s rights');

SELECT * FROM finish();
ROLLBACK;

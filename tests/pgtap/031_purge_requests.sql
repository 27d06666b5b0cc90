-- chargegate.purge_requests: request retention (request.retention).
BEGIN;
SELECT plan(12);

SELECT has_function('chargegate', 'purge_requests', ARRAY['bigint', 'integer', 'boolean'],
                    'chargegate.purge_requests(bigint, integer, boolean) exists');
SELECT has_index('chargegate', 'charging_session_request', 'charging_session_request_finished_idx',
                 'finished requests are indexed by their last change');

-- r1..r4 finished an hour ago, r5 finished just now, r6 and r7 are on their way (old)
INSERT INTO chargegate.charging_session_request
       (request_id, station_id, driver_token, callback_url, status, decision, updated_at)
SELECT format('00000000-0000-4000-8000-00000000000%s', i)::uuid, '123e4567-e89b-12d3-a456-426614174000',
       'tok' || i, 'https://x.example/cb', s, d, now() - u
  FROM (VALUES (1, 'delivered', 'allowed', interval '1 hour'), (2, 'delivery_failed', 'allowed', interval '1 hour'),
               (3, 'delivered', 'not_allowed', interval '1 hour'), (4, 'delivered', 'allowed', interval '1 hour'),
               (5, 'delivered', 'allowed', interval '0'), (6, 'accepted', NULL, interval '2 days'),
               (7, 'decided', 'allowed', interval '2 days')) v(i, s, d, u);
INSERT INTO chargegate.authorization_audit (request_id, event_id, decision)
SELECT request_id, gen_random_uuid(), 'allowed' FROM chargegate.charging_session_request;
INSERT INTO chargegate.callback_delivery_attempt (request_id, webhook_id, attempt, callback_url, final)
SELECT request_id, gen_random_uuid(), 1, callback_url, true FROM chargegate.charging_session_request;
-- the failure notice of r2 (delivery_failed)
INSERT INTO chargegate.failure_notice_attempt (request_id, webhook_id, attempt, failure_url, final)
VALUES ('00000000-0000-4000-8000-000000000002', gen_random_uuid(), 1, 'https://ops.example/failed', true);
INSERT INTO chargegate.idempotency_key (key, request_id)
SELECT 'k-' || driver_token, request_id FROM chargegate.charging_session_request;

SELECT throws_ok($$SELECT * FROM chargegate.purge_requests(-1, 10)$$, '22023', NULL,
                 'a negative retention is refused');
SELECT throws_ok($$SELECT * FROM chargegate.purge_requests(1000, 0)$$, '22023', NULL, 'a zero limit is refused');

CREATE TEMPORARY TABLE first AS SELECT * FROM chargegate.purge_requests(60000, 3);
SELECT results_eq($$SELECT table_name, deleted FROM first ORDER BY table_name$$,
                  $$VALUES ('authorization_audit', 3::bigint), ('callback_delivery_attempt', 3::bigint),
                           ('charging_session_request', 3::bigint), ('failure_notice_attempt', 1::bigint),
                           ('idempotency_key', 3::bigint)$$,
                  'a call deletes at most p_limit requests, with their audit rows, attempts, notices and keys');
SELECT results_eq($$SELECT request_id FROM chargegate.charging_session_request
                     WHERE status IN ('delivered', 'delivery_failed') AND updated_at < now() - interval '1 minute'$$,
                  $$VALUES ('00000000-0000-4000-8000-000000000004'::uuid)$$,
                  'the oldest finished requests go first');
CREATE TEMPORARY TABLE second AS SELECT * FROM chargegate.purge_requests(60000, 3);
SELECT is((SELECT deleted FROM second WHERE table_name = 'charging_session_request'), 1::bigint,
          'the next call deletes the rest');
SELECT is((SELECT sum(deleted) FROM chargegate.purge_requests(60000, 3)), 0::numeric, 'then nothing is left to delete');
SELECT results_eq($$SELECT driver_token FROM chargegate.charging_session_request ORDER BY driver_token$$,
                  $$VALUES ('tok5'), ('tok6'), ('tok7')$$,
                  'a request finished within the retention and requests on their way stay');
SELECT results_eq($$SELECT (SELECT count(*) FROM chargegate.authorization_audit),
                           (SELECT count(*) FROM chargegate.callback_delivery_attempt),
                           (SELECT count(*) FROM chargegate.idempotency_key)$$,
                  $$VALUES (3::bigint, 3::bigint, 3::bigint)$$,
                  'and everything that hangs off them stays');
UPDATE chargegate.charging_session_request SET updated_at = now() - interval '1 second' WHERE driver_token = 'tok5';
SELECT is((SELECT deleted FROM chargegate.purge_requests(0, 10, true) WHERE table_name = 'charging_session_request'),
          1::bigint, 'with p_wait, a finished request older than the retention goes too');
SELECT is((SELECT count(*) FROM chargegate.charging_session_request), 2::bigint,
          'only the unfinished requests are left');

SELECT * FROM finish();
ROLLBACK;

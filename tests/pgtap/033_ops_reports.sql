-- The operator's reports (migration 012): destination_circuit and
-- record_circuit, the view open_circuits, status_report(), request_story()
-- and recent_requests() on a small fixture; the failure notices (migration
-- 013) in request_story().
BEGIN;
SELECT plan(43);

DELETE FROM chargegate.charging_session_request;
DELETE FROM chargegate.charging_session_request_outbox;
DELETE FROM chargegate.authorization_decision_callback_outbox;
DELETE FROM chargegate.callback_delivery_outbox;
DELETE FROM chargegate.callback_retry_outbox;
DELETE FROM chargegate.destination_circuit;

SELECT has_table('chargegate', 'destination_circuit', 'table chargegate.destination_circuit exists');
SELECT columns_are('chargegate', 'destination_circuit',
                   ARRAY['destination', 'daemon', 'opened_at', 'open_until', 'consecutive_failures', 'last_error',
                         'updated_at'], 'destination_circuit has exactly the expected columns');
SELECT has_view('chargegate', 'open_circuits', 'view chargegate.open_circuits exists');
SELECT has_function('chargegate', f, format('function chargegate.%s exists', f))
  FROM unnest(ARRAY['record_circuit', 'status_report', 'request_story', 'recent_requests']::name[]) AS f;

-- ---------------------------------------------------------------------------
-- circuits
-- ---------------------------------------------------------------------------
SELECT chargegate.record_circuit('http://a.example:80', 'h:1', true, 30000, 5, 'timeout');
SELECT results_eq($$SELECT destination, daemon, consecutive_failures, last_error, state,
                           until - opened_at FROM chargegate.open_circuits$$,
                  $$VALUES ('http://a.example:80', 'h:1', 5, 'timeout', 'open', interval '30 s')$$,
                  'an opened circuit is listed, open for the cooldown from now');
UPDATE chargegate.destination_circuit SET opened_at = now() - interval '1 min', open_until = now() - interval '1 s';
SELECT is((SELECT state FROM chargegate.open_circuits), 'probing', 'after the cooldown it waits for a probe');
SELECT chargegate.record_circuit('http://a.example:80', 'h:1', true, 60000, 6, 'http_503');
SELECT results_eq($$SELECT consecutive_failures, last_error, state, opened_at, until - now()
                      FROM chargegate.open_circuits$$,
                  $$VALUES (6, 'http_503', 'open', now() - interval '1 min', interval '60 s')$$,
                  'a failed probe re-opens it: new pause and error, same opened_at');
SELECT chargegate.record_circuit('http://a.example:80', 'h:2', true, 30000, 5, 'connect');
SELECT is((SELECT count(*) FROM chargegate.open_circuits WHERE destination = 'http://a.example:80'), 2::bigint,
          'each daemon has its own circuit');
SELECT chargegate.record_circuit('http://a.example:80', 'h:1', false, 0, 0, NULL);
SELECT is((SELECT array_agg(daemon) FROM chargegate.open_circuits), ARRAY['h:2'],
          'a closed circuit disappears, the other daemon''s stays');
SELECT lives_ok($$SELECT chargegate.record_circuit('http://never.example:80', 'h:1', false, 0, 0, NULL)$$,
                'closing a circuit that was never recorded is harmless');
UPDATE chargegate.destination_circuit SET opened_at = now() - interval '2 h', open_until = now() - interval '1 h';
SELECT is_empty($$SELECT * FROM chargegate.open_circuits$$,
                'a row long past its pause (its daemon stopped) is not shown');
SELECT chargegate.record_circuit('http://c.example:80', 'h:3', true, 30000, 5, 'timeout');
SELECT is((SELECT array_agg(daemon) FROM chargegate.destination_circuit), ARRAY['h:3'],
          'and the next transition anywhere deletes it');
SELECT throws_ok($$INSERT INTO chargegate.destination_circuit (destination, daemon, open_until, consecutive_failures)
                   VALUES ('x', 'y', now(), 0)$$, '23514', NULL, 'consecutive_failures is at least 1');
DELETE FROM chargegate.destination_circuit;

-- ---------------------------------------------------------------------------
-- a fixture: one delivered request with a retried callback, one accepted
-- ---------------------------------------------------------------------------
INSERT INTO chargegate.charging_session_request
       (request_id, station_id, driver_token, callback_url, status, decision, decision_reason, callback_attempts,
        created_at, updated_at)
VALUES ('01900000-0000-7000-8000-000000000001', '123e4567-e89b-12d3-a456-426614174000', 'secretDriverToken42',
        'https://cpo.example/cb', 'delivered', 'allowed', 'OK', 2, now() - interval '60 s', now() - interval '10 s'),
       ('01900000-0000-7000-8000-000000000002', '123e4567-e89b-12d3-a456-426614174000', 'tok2',
        'https://cpo.example/cb', 'accepted', NULL, NULL, 0, now() - interval '5 s', now() - interval '5 s');
INSERT INTO chargegate.charging_session_request_outbox (event_type, aggregate_id, payload, created_at, available_at,
                                                         published_at)
VALUES ('StartChargingSessionRequestCommand', '01900000-0000-7000-8000-000000000001',
        '{"driver_token": "secretDriverToken42"}', now() - interval '60 s', now() - interval '60 s',
        now() - interval '59 s');
INSERT INTO chargegate.authorization_audit (request_id, event_id, sent, http_status, response, decision, reason,
                                            latency_ms, cause, created_at)
VALUES ('01900000-0000-7000-8000-000000000001', gen_random_uuid(), '{"driver_token": "secretDriverToken42"}', 200,
        '{"status": "allowed", "driver_token": "secretDriverToken42"}', 'allowed', 'OK', 42, NULL,
        now() - interval '58 s');
INSERT INTO chargegate.callback_delivery_attempt (request_id, webhook_id, attempt, callback_url, http_status,
                                                  latency_ms, error_class, response_body, final, next_attempt_at,
                                                  created_at)
VALUES ('01900000-0000-7000-8000-000000000001', gen_random_uuid(), 1, 'https://cpo.example/cb', 503, 12, 'http_503',
        'busy', false, now() - interval '40 s', now() - interval '50 s'),
       ('01900000-0000-7000-8000-000000000001', gen_random_uuid(), 2, 'https://cpo.example/cb', 200, 8, NULL,
        'ok', true, NULL, now() - interval '20 s');
INSERT INTO chargegate.callback_retry_outbox (event_type, aggregate_id, payload, created_at, available_at)
VALUES ('CallbackRetryRequested', '01900000-0000-7000-8000-000000000002', '{}', now(), now() + interval '1 h');

-- ---------------------------------------------------------------------------
-- request_story
-- ---------------------------------------------------------------------------
SELECT is(chargegate.request_story(gen_random_uuid()), NULL, 'an unknown request has no story');
CREATE TEMPORARY TABLE story AS SELECT chargegate.request_story('01900000-0000-7000-8000-000000000001') AS s;
SELECT is((SELECT s->'request'->>'status' FROM story), 'delivered', 'the story starts with the request''s state');
SELECT is((SELECT (s->'request') - 'created_at'::text - 'updated_at'::text FROM story),
          jsonb_build_object('request_id', '01900000-0000-7000-8000-000000000001',
                             'station_id', '123e4567-e89b-12d3-a456-426614174000', 'status', 'delivered',
                             'decision', 'allowed', 'reason', 'OK', 'attempts', 2,
                             'callback_url', 'https://cpo.example/cb'),
          'request: id, station, status, decision, reason, attempts, callback URL');
SELECT is((SELECT array_agg(e->>'event' ORDER BY n) FROM story, jsonb_array_elements(s->'timeline') WITH ORDINALITY x(e, n)),
          ARRAY['accepted', 'relayed', 'authorization', 'callback_attempt', 'callback_attempt', 'delivered'],
          'the timeline in time order: accepted, relayed, authorization, two attempts, delivered');
SELECT is((SELECT count(*) FROM story, jsonb_array_elements(s->'timeline') WITH ORDINALITY x(e, n),
                                       jsonb_array_elements(s->'timeline') WITH ORDINALITY y(f, m)
            WHERE m = n + 1 AND (f->>'at')::timestamptz < (e->>'at')::timestamptz), 0::bigint,
          'every entry''s time is at or after the one before');
SELECT is((SELECT e - 'at'::text FROM story, jsonb_array_elements(s->'timeline') e WHERE e->>'event' = 'authorization'),
          '{"event": "authorization", "decision": "allowed", "reason": "OK", "http_status": 200,
            "latency_ms": 42, "cause": null}'::jsonb,
          'the authorization answer with its status and latency');
SELECT is((SELECT array_agg(jsonb_build_array(e->'attempt', e->'http_status', e->'latency_ms', e->'error_class',
                                              e->'final') ORDER BY e->>'at')
             FROM story, jsonb_array_elements(s->'timeline') e WHERE e->>'event' = 'callback_attempt'),
          ARRAY['[1, 503, 12, "http_503", false]', '[2, 200, 8, null, true]']::jsonb[],
          'each attempt with its HTTP status, latency, error class and whether it was the last');
SELECT is((SELECT e->>'event_type' FROM story, jsonb_array_elements(s->'timeline') e WHERE e->>'event' = 'relayed'),
          'StartChargingSessionRequestCommand', 'relayed events name their type');
SELECT is((SELECT strpos(s::text, 'secretDriverToken42') FROM story), 0, 'the driver token appears nowhere');
SELECT is((SELECT array_agg(e->>'event' ORDER BY n)
             FROM jsonb_array_elements(chargegate.request_story('01900000-0000-7000-8000-000000000002')->'timeline')
                  WITH ORDINALITY x(e, n)),
          ARRAY['accepted', 'pending'], 'an undecided request: accepted, then a pending (delayed) event');

-- ---------------------------------------------------------------------------
-- recent_requests
-- ---------------------------------------------------------------------------
SELECT is((SELECT array_agg(e->>'request_id' ORDER BY n)
             FROM jsonb_array_elements(chargegate.recent_requests(10)) WITH ORDINALITY x(e, n)),
          ARRAY['01900000-0000-7000-8000-000000000002', '01900000-0000-7000-8000-000000000001'],
          'recent_requests: newest first');
SELECT is(jsonb_array_length(chargegate.recent_requests(1)), 1, 'at most p_limit of them');
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(chargegate.recent_requests(1)->0) k),
          ARRAY['attempts', 'created_at', 'decision', 'request_id', 'station_id', 'status', 'updated_at'],
          'each with id, station, status, decision, attempts and times');
SELECT is((SELECT strpos(chargegate.recent_requests(10)::text, 'secretDriverToken42')), 0, 'and no driver token');

-- ---------------------------------------------------------------------------
-- status_report
-- ---------------------------------------------------------------------------
SELECT chargegate.record_circuit('http://b.example:8080', 'h:9', true, 30000, 5, 'timeout');
-- request ids are UUID v7 (time-ordered): the report finds the last hour's through them
INSERT INTO chargegate.charging_session_request
       (request_id, station_id, driver_token, callback_url, status, decision, created_at, updated_at)
VALUES (chargegate.uuid_v7(), gen_random_uuid(), 'tok3', 'https://cpo.example/cb', 'decided', 'allowed',
        now() - interval '30 s', now() - interval '29 s'),
       (chargegate.uuid_v7(), gen_random_uuid(), 'tok4', 'https://cpo.example/cb', 'delivery_failed', 'allowed',
        now() - interval '3 h', now() - interval '2 h');
-- a message published before the authorization subscription existed, never delivered to it
INSERT INTO chargegate.topic_message (topic, event_id, event_type, aggregate_id, payload, created_at, published_at)
SELECT 'charging_session_request', gen_random_uuid(), 'StartChargingSessionRequestCommand', gen_random_uuid(), '{}',
       s.created_at - interval '1 day', s.created_at - interval '1 day'
  FROM chargegate.subscription s WHERE s.name = 'authorization';
CREATE TEMPORARY TABLE rep AS SELECT chargegate.status_report() AS r;
SELECT is((SELECT array_agg(k ORDER BY k) FROM rep, jsonb_object_keys(r) k),
          ARRAY['accepted_last_hour', 'finished_last_hour', 'leases', 'open_circuits', 'outboxes', 'schema_version',
                'stranded', 'subscriptions'],
          'status_report has every section');
SELECT is((SELECT (r->>'schema_version')::int FROM rep), (SELECT max(version) FROM chargegate.schema_version),
          'with the schema version');
SELECT is((SELECT r->'accepted_last_hour' FROM rep),
          jsonb_build_array(jsonb_build_object('status', 'decided', 'requests', 1, 'oldest', now() - interval '30 s')),
          'the requests accepted in the last hour by status, with the oldest (not one accepted 3 hours ago)');
SELECT is((SELECT r->'finished_last_hour' FROM rep),
          jsonb_build_array(jsonb_build_object('status', 'delivered', 'requests', 1, 'latest', now() - interval '10 s')),
          'the requests finished in the last hour (not one that failed 2 hours ago)');
SELECT is((SELECT jsonb_agg(x - 'oldest') FROM rep, jsonb_array_elements(r->'stranded') x),
          '[{"subscription": "authorization", "messages": 1}]'::jsonb,
          'stranded messages per subscription');
SELECT is((SELECT (o->>'delayed')::int FROM rep, jsonb_array_elements(r->'outboxes') o
            WHERE o->>'outbox' = 'callback_retry_outbox'), 1, 'outboxes as in outbox_status');
SELECT is((SELECT array_agg(k ORDER BY k) FROM rep, jsonb_object_keys(r->'subscriptions'->0) k),
          (SELECT array_agg(attname::text ORDER BY attname) FROM pg_attribute
            WHERE attrelid = 'chargegate.subscription_status'::regclass AND attnum > 0),
          'subscriptions carry every column of subscription_status');
SELECT is((SELECT jsonb_typeof(r->'subscriptions'->0->'oldest_age') FROM rep), 'number', 'ages are seconds');
SELECT is((SELECT r->'open_circuits'->0->>'destination' FROM rep), 'http://b.example:8080', 'open circuits are listed');

-- ---------------------------------------------------------------------------
-- request_story of a failed request whose operator was told
-- (callback.failure_url): the notice's attempts follow the final failure
-- ---------------------------------------------------------------------------
INSERT INTO chargegate.charging_session_request
       (request_id, station_id, driver_token, callback_url, status, decision, decision_reason, callback_attempts,
        created_at, updated_at)
VALUES ('01900000-0000-7000-8000-000000000003', '123e4567-e89b-12d3-a456-426614174000', 'tok3',
        'https://cpo.example/gone', 'delivery_failed', 'allowed', 'OK', 1, now() - interval '30 s',
        now() - interval '25 s');
INSERT INTO chargegate.callback_delivery_attempt (request_id, webhook_id, attempt, callback_url, http_status,
                                                  latency_ms, error_class, response_body, final, created_at)
VALUES ('01900000-0000-7000-8000-000000000003', gen_random_uuid(), 1, 'https://cpo.example/gone', 410, 9,
        'http_410', 'gone', true, now() - interval '26 s');
-- inserted out of time order: the story sorts them
INSERT INTO chargegate.failure_notice_attempt (request_id, webhook_id, attempt, failure_url, http_status, latency_ms,
                                               error_class, response_body, final, created_at)
VALUES ('01900000-0000-7000-8000-000000000003', '01900000-0000-7000-8000-0000000000a1', 2,
        'https://operator:opsPassword9@ops.example/failed', 200, 7, NULL, 'thanks', true, now() - interval '20 s'),
       ('01900000-0000-7000-8000-000000000003', '01900000-0000-7000-8000-0000000000a1', 1,
        'https://operator:opsPassword9@ops.example/failed', NULL, 2000, 'timeout', NULL, false, now() - interval '24 s');
CREATE TEMPORARY TABLE failed_story AS SELECT chargegate.request_story('01900000-0000-7000-8000-000000000003') AS s;
SELECT is((SELECT array_agg(e->>'event' ORDER BY n)
             FROM failed_story, jsonb_array_elements(s->'timeline') WITH ORDINALITY x(e, n)),
          ARRAY['accepted', 'callback_attempt', 'delivery_failed', 'failure_notice_attempt',
                'failure_notice_attempt'],
          'a failed request: the failure notice''s attempts follow the final callback failure');
SELECT is((SELECT array_agg(jsonb_build_array(e->'attempt', e->'http_status', e->'latency_ms', e->'error_class',
                                              e->'final', e->'response') ORDER BY n)
             FROM failed_story, jsonb_array_elements(s->'timeline') WITH ORDINALITY x(e, n)
            WHERE e->>'event' = 'failure_notice_attempt'),
          ARRAY['[1, null, 2000, "timeout", false, null]', '[2, 200, 7, null, true, "thanks"]']::jsonb[],
          'each notice attempt in order with its HTTP status, latency, error class, whether it was the last, answer');
SELECT is((SELECT array_agg(DISTINCT e->>'webhook_id')
             FROM failed_story, jsonb_array_elements(s->'timeline') e
            WHERE e->>'event' = 'failure_notice_attempt'),
          ARRAY['01900000-0000-7000-8000-0000000000a1'],
          'the notice''s webhook-id, the same on every attempt');
SELECT is((SELECT strpos(s::text, 'opsPassword9') + strpos(s::text, 'ops.example') FROM failed_story), 0,
          'callback.failure_url (it may carry credentials) appears nowhere');

SELECT * FROM finish();
ROLLBACK;

-- The contexts' SQL: record_authorizations (audit + decision events),
-- record_callback_attempts (attempt rows + outcome events),
-- schedule_callback_retries (a delayed retry for each non-final failure) and
-- apply_request_events (the request's status: accepted -> decided ->
-- delivered | delivery_failed, never backwards; callback_attempts = the
-- highest attempt seen).
BEGIN;
SELECT plan(36);

-- A clean slate (rolled back at the end)
DELETE FROM chargegate.authorization_audit;
DELETE FROM chargegate.callback_delivery_attempt;
DELETE FROM chargegate.authorization_decision_callback_outbox;
DELETE FROM chargegate.callback_delivery_outbox;
DELETE FROM chargegate.callback_retry_outbox;

CREATE FUNCTION pg_temp.counts() RETURNS bigint[] LANGUAGE sql AS $$
    SELECT ARRAY[(SELECT count(*) FROM chargegate.authorization_audit),
                 (SELECT count(*) FROM chargegate.authorization_decision_callback_outbox),
                 (SELECT count(*) FROM chargegate.callback_delivery_attempt),
                 (SELECT count(*) FROM chargegate.callback_delivery_outbox),
                 (SELECT count(*) FROM chargegate.callback_retry_outbox)]
$$;

-- ---------------------------------------------------------------------------
-- record_authorizations
-- ---------------------------------------------------------------------------
SELECT is(chargegate.record_authorizations($$[
    {"request_id": "00000000-0000-4000-8000-000000002701", "event_id": "00000000-0000-4000-8000-000000002711",
     "station_id": "00000000-0000-4000-8000-0000000027a1", "driver_token": "tok-1",
     "callback_url": "https://cpo.example/cb/1", "decision": "not_allowed", "reason": "BLOCKED",
     "sent": {"station_id": "00000000-0000-4000-8000-0000000027a1", "driver_token": "tok-1"},
     "http_status": 200, "response": "{\"allowed\": false}", "latency_ms": 12, "cause": null},
    {"request_id": "00000000-0000-4000-8000-000000002702", "event_id": "00000000-0000-4000-8000-000000002712",
     "station_id": "00000000-0000-4000-8000-0000000027a2", "driver_token": "tok-2",
     "callback_url": "https://cpo.example/cb/2", "decision": "unknown",
     "sent": {"x": 1}, "latency_ms": 5000, "cause": "timeout"}
  ]$$::jsonb), 2, 'record_authorizations records 2 decisions');
SELECT results_eq(
    $$SELECT request_id, event_id, sent, http_status, response, decision, reason, latency_ms, cause, created_at
        FROM chargegate.authorization_audit ORDER BY request_id$$,
    $$VALUES ('00000000-0000-4000-8000-000000002701'::uuid, '00000000-0000-4000-8000-000000002711'::uuid,
              '{"station_id": "00000000-0000-4000-8000-0000000027a1", "driver_token": "tok-1"}'::jsonb, 200,
              '{"allowed": false}'::text, 'not_allowed'::text, 'BLOCKED'::text, 12, NULL::text, now()),
             ('00000000-0000-4000-8000-000000002702', '00000000-0000-4000-8000-000000002712', '{"x": 1}', NULL,
              NULL, 'unknown', NULL, 5000, 'timeout', now())$$,
    'one audit row per decision: what was sent, the answer, the decision and its cause');
SELECT results_eq(
    $$SELECT event_type, aggregate_id, payload, published_at, available_at = now()
        FROM chargegate.authorization_decision_callback_outbox ORDER BY aggregate_id$$,
    $$VALUES ('AuthorizationDecisionCallback'::text, '00000000-0000-4000-8000-000000002701'::uuid,
              '{"request_id": "00000000-0000-4000-8000-000000002701", "station_id": "00000000-0000-4000-8000-0000000027a1",
                "driver_token": "tok-1", "callback_url": "https://cpo.example/cb/1", "status": "not_allowed",
                "reason": "BLOCKED"}'::jsonb, NULL::timestamptz, true),
             ('AuthorizationDecisionCallback', '00000000-0000-4000-8000-000000002702',
              '{"request_id": "00000000-0000-4000-8000-000000002702", "station_id": "00000000-0000-4000-8000-0000000027a2",
                "driver_token": "tok-2", "callback_url": "https://cpo.example/cb/2", "status": "unknown"}', NULL, true)$$,
    'one pending AuthorizationDecisionCallback per decision, keyed by request, without null members');
SELECT is((SELECT count(DISTINCT event_id) FROM chargegate.authorization_decision_callback_outbox), 2::bigint,
          'each event gets an event id of its own');
CREATE TEMPORARY TABLE c0 AS SELECT pg_temp.counts() AS c;
SELECT throws_ok($$SELECT chargegate.record_authorizations('[
    {"request_id": "00000000-0000-4000-8000-000000002703", "event_id": "00000000-0000-4000-8000-000000002713", "decision": "allowed"},
    {"request_id": "00000000-0000-4000-8000-000000002704", "event_id": "00000000-0000-4000-8000-000000002714", "decision": "maybe"}
  ]')$$, '23514', NULL, 'a batch with an invalid decision is refused');
SELECT throws_ok($$SELECT chargegate.record_authorizations('[{"event_id": "00000000-0000-4000-8000-000000002715", "decision": "allowed"}]')$$,
                 '23502', NULL, 'a decision without a request_id is refused');
SELECT is(pg_temp.counts(), (SELECT c FROM c0), 'and nothing of the refused batches is written');
SELECT is(chargegate.record_authorizations('[]'), 0, 'an empty batch records nothing');

-- ---------------------------------------------------------------------------
-- record_callback_attempts
-- ---------------------------------------------------------------------------
SELECT is(chargegate.record_callback_attempts($$[
    {"request_id": "00000000-0000-4000-8000-000000002701", "webhook_id": "00000000-0000-4000-8000-000000002721",
     "attempt": 1, "callback_url": "https://cpo.example/cb/1", "station_id": "00000000-0000-4000-8000-0000000027a1",
     "driver_token": "tok-1", "status": "not_allowed", "reason": "BLOCKED", "http_status": 503, "latency_ms": 40,
     "error_class": "http_503", "response_body": "busy", "success": false, "final": false,
     "next_attempt_in_ms": 10000},
    {"request_id": "00000000-0000-4000-8000-000000002702", "webhook_id": "00000000-0000-4000-8000-000000002722",
     "attempt": 2, "callback_url": "https://cpo.example/cb/2", "status": "unknown", "http_status": 204,
     "latency_ms": 8, "success": true, "final": true},
    {"request_id": "00000000-0000-4000-8000-000000002703", "webhook_id": "00000000-0000-4000-8000-000000002723",
     "attempt": 10, "callback_url": "https://cpo.example/cb/3", "status": "allowed", "latency_ms": 3000,
     "error_class": "timeout", "error_detail": "no answer within 3000 ms", "success": false, "final": true}
  ]$$::jsonb), 3, 'record_callback_attempts records 3 attempts');
SELECT results_eq(
    $$SELECT request_id, webhook_id, attempt, callback_url, http_status, latency_ms, error_class, response_body, final,
             next_attempt_at
        FROM chargegate.callback_delivery_attempt ORDER BY request_id$$,
    $$VALUES ('00000000-0000-4000-8000-000000002701'::uuid, '00000000-0000-4000-8000-000000002721'::uuid, 1,
              'https://cpo.example/cb/1'::text, 503, 40, 'http_503'::text, 'busy'::text, false,
              now() + interval '10 s'),
             ('00000000-0000-4000-8000-000000002702', '00000000-0000-4000-8000-000000002722', 2,
              'https://cpo.example/cb/2', 204, 8, NULL, NULL, true, NULL),
             ('00000000-0000-4000-8000-000000002703', '00000000-0000-4000-8000-000000002723', 10,
              'https://cpo.example/cb/3', NULL, 3000, 'timeout', NULL, true, NULL)$$,
    'one callback_delivery_attempt row per attempt; the next attempt is due next_attempt_in_ms after the '
    'database''s now(), whatever the daemon''s clock says');
SELECT results_eq(
    $$SELECT aggregate_id, event_type, payload FROM chargegate.callback_delivery_outbox ORDER BY aggregate_id$$,
    $$VALUES ('00000000-0000-4000-8000-000000002701'::uuid, 'CallbackFailed'::text,
              '{"request_id": "00000000-0000-4000-8000-000000002701", "webhook_id": "00000000-0000-4000-8000-000000002721",
                "attempt": 1, "http_status": 503, "error_class": "http_503", "final": false,
                "callback_url": "https://cpo.example/cb/1",
                "station_id": "00000000-0000-4000-8000-0000000027a1", "driver_token": "tok-1", "status": "not_allowed",
                "reason": "BLOCKED"}'::jsonb || jsonb_build_object('next_attempt_at', now() + interval '10 s')),
             ('00000000-0000-4000-8000-000000002702', 'CallbackDeliverySucceeded',
              '{"request_id": "00000000-0000-4000-8000-000000002702", "webhook_id": "00000000-0000-4000-8000-000000002722",
                "attempt": 2, "http_status": 204, "final": true, "callback_url": "https://cpo.example/cb/2",
                "status": "unknown"}'),
             ('00000000-0000-4000-8000-000000002703', 'CallbackFailed',
              '{"request_id": "00000000-0000-4000-8000-000000002703", "webhook_id": "00000000-0000-4000-8000-000000002723",
                "attempt": 10, "error_class": "timeout", "final": true, "callback_url": "https://cpo.example/cb/3",
                "status": "allowed", "detail": "no answer within 3000 ms"}'::jsonb
              || jsonb_build_object('failed_at', now()))$$,
    'one outcome event per attempt: CallbackFailed with what a retry needs (the final one with the detail and '
    'time of the failure, for failure notices), or CallbackDeliverySucceeded');
DROP TABLE c0;
CREATE TEMPORARY TABLE c0 AS SELECT pg_temp.counts() AS c;
SELECT throws_ok($$SELECT chargegate.record_callback_attempts('[
    {"request_id": "00000000-0000-4000-8000-000000002704", "webhook_id": "00000000-0000-4000-8000-000000002724",
     "attempt": 1, "callback_url": "https://x.example/", "success": true, "final": true},
    {"request_id": "00000000-0000-4000-8000-000000002705", "webhook_id": "00000000-0000-4000-8000-000000002725",
     "attempt": 1, "callback_url": "https://x.example/", "error_class": "weird", "success": false, "final": true}
  ]')$$, '23514', NULL, 'a batch with an unknown error class is refused');
SELECT throws_ok($$SELECT chargegate.record_callback_attempts('[
    {"request_id": "00000000-0000-4000-8000-000000002706", "webhook_id": "00000000-0000-4000-8000-000000002726",
     "attempt": 0, "callback_url": "https://x.example/", "success": true, "final": true}]')$$,
                 '23514', NULL, 'an attempt number below 1 is refused');
SELECT throws_ok($$SELECT chargegate.record_callback_attempts('[
    {"request_id": "00000000-0000-4000-8000-000000002707", "webhook_id": "00000000-0000-4000-8000-000000002727",
     "attempt": 1, "callback_url": "https://x.example/", "success": true}]')$$,
                 '23502', NULL, 'an attempt without "final" is refused');
SELECT is(pg_temp.counts(), (SELECT c FROM c0), 'and nothing of the refused batches is written');

-- ---------------------------------------------------------------------------
-- schedule_callback_retries: the CallbackFailed payloads just recorded, and more
-- ---------------------------------------------------------------------------
SELECT is(chargegate.schedule_callback_retries(
              (SELECT jsonb_agg(payload ORDER BY id) FROM chargegate.callback_delivery_outbox
                WHERE event_type = 'CallbackFailed')), 1,
          'of two CallbackFailed events only the one that is not final is scheduled');
SELECT results_eq(
    $$SELECT event_type, aggregate_id, available_at, published_at, payload FROM chargegate.callback_retry_outbox$$,
    $$VALUES ('CallbackRetryRequested'::text, '00000000-0000-4000-8000-000000002701'::uuid,
              now() + interval '10 s', NULL::timestamptz,
              '{"request_id": "00000000-0000-4000-8000-000000002701", "webhook_id": "00000000-0000-4000-8000-000000002721",
                "attempt": 2, "callback_url": "https://cpo.example/cb/1",
                "station_id": "00000000-0000-4000-8000-0000000027a1", "driver_token": "tok-1", "status": "not_allowed",
                "reason": "BLOCKED"}'::jsonb)$$,
    'a CallbackRetryRequested due at next_attempt_at, for the next attempt, with the same webhook id and content');
SELECT chargegate.ensure_subscription('ctx_retries', 'callback_retry');
SELECT results_eq($$SELECT * FROM chargegate.relay_outbox('callback_retry_outbox', 10)$$,
                  $$VALUES (0, 10000::bigint, false)$$,
                  'the relay does not publish it before it is due');
SELECT is(chargegate.schedule_callback_retries($$[
    {"request_id": "00000000-0000-4000-8000-000000002708", "webhook_id": "00000000-0000-4000-8000-000000002728",
     "attempt": 3, "callback_url": "https://x.example/", "status": "allowed", "final": false},
    {"request_id": "00000000-0000-4000-8000-000000002709", "webhook_id": "00000000-0000-4000-8000-000000002729",
     "attempt": 1, "callback_url": "https://x.example/", "status": "allowed"},
    {"request_id": "00000000-0000-4000-8000-000000002710", "webhook_id": "00000000-0000-4000-8000-000000002730",
     "attempt": 1, "callback_url": "https://x.example/", "status": "allowed", "final": true,
     "next_attempt_at": "2030-01-01T00:00:00Z"}
  ]$$::jsonb), 1, 'a failure without "final" counts as final; a final one with a next_attempt_at is not scheduled');
SELECT results_eq(
    $$SELECT available_at, payload->'attempt', payload ? 'reason' FROM chargegate.callback_retry_outbox
       WHERE aggregate_id = '00000000-0000-4000-8000-000000002708'$$,
    $$VALUES (now(), '4'::jsonb, false)$$,
    'a non-final failure without next_attempt_at is due at once, for attempt 4, without a reason member');
SELECT is(chargegate.schedule_callback_retries('[]'), 0, 'an empty batch schedules nothing');

-- ---------------------------------------------------------------------------
-- apply_request_events
-- ---------------------------------------------------------------------------
INSERT INTO chargegate.charging_session_request (request_id, station_id, driver_token, callback_url, updated_at)
SELECT format('00000000-0000-4000-8000-0000000027b%s', n)::uuid, gen_random_uuid(), 'tok', 'https://x.example/cb',
       now() - interval '1 h'
  FROM generate_series(1, 6) AS n;
CREATE FUNCTION pg_temp.r(p_n int) RETURNS uuid LANGUAGE sql AS $$
    SELECT format('00000000-0000-4000-8000-0000000027b%s', p_n)::uuid
$$;
CREATE FUNCTION pg_temp.req(p_n int) RETURNS TABLE (status text, decision text, decision_reason text, callback_attempts int)
LANGUAGE sql AS $$
    SELECT status, decision, decision_reason, callback_attempts FROM chargegate.charging_session_request
     WHERE request_id = pg_temp.r(p_n)
$$;
CREATE FUNCTION pg_temp.apply(VARIADIC p_events jsonb[]) RETURNS integer LANGUAGE sql AS $$
    SELECT chargegate.apply_request_events(to_jsonb(p_events))
$$;
CREATE FUNCTION pg_temp.ev(p_type text, p_n int, p_extra jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('event_type', p_type, 'request_id', pg_temp.r(p_n)) || p_extra
$$;

-- r1: the usual path
SELECT is(pg_temp.apply(pg_temp.ev('AuthorizationDecisionCallback', 1, '{"status": "not_allowed", "reason": "EXPIRED"}')),
          1, 'a decision event updates one request');
SELECT results_eq($$SELECT * FROM pg_temp.req(1)$$, $$VALUES ('decided'::text, 'not_allowed'::text, 'EXPIRED'::text, 0)$$,
                  'accepted -> decided, with the decision and its reason');
SELECT is((SELECT updated_at FROM chargegate.charging_session_request WHERE request_id = pg_temp.r(1)), now(),
          'updated_at is the time of the change');
SELECT pg_temp.apply(pg_temp.ev('CallbackFailed', 1, '{"status": "not_allowed", "attempt": 1, "final": false}'));
SELECT results_eq($$SELECT * FROM pg_temp.req(1)$$, $$VALUES ('decided'::text, 'not_allowed'::text, 'EXPIRED'::text, 1)$$,
                  'a failed attempt that will be retried keeps the status, counts the attempt');
SELECT pg_temp.apply(pg_temp.ev('CallbackDeliverySucceeded', 1, '{"status": "not_allowed", "attempt": 2, "final": true}'));
SELECT results_eq($$SELECT * FROM pg_temp.req(1)$$, $$VALUES ('delivered'::text, 'not_allowed'::text, 'EXPIRED'::text, 2)$$,
                  'decided -> delivered after the second attempt');
SELECT pg_temp.apply(pg_temp.ev('CallbackFailed', 1, '{"status": "not_allowed", "attempt": 1, "final": true}'),
                     pg_temp.ev('AuthorizationDecisionCallback', 1, '{"status": "allowed", "reason": "OTHER"}'));
SELECT results_eq($$SELECT * FROM pg_temp.req(1)$$, $$VALUES ('delivered'::text, 'not_allowed'::text, 'EXPIRED'::text, 2)$$,
                  'late events never move a delivered request back, nor change its decision or lower the attempts');
UPDATE chargegate.charging_session_request SET updated_at = now() - interval '1 h' WHERE request_id = pg_temp.r(1);
SELECT pg_temp.apply(pg_temp.ev('CallbackDeliverySucceeded', 1, '{"status": "not_allowed", "attempt": 2, "final": true}'));
SELECT is((SELECT updated_at FROM chargegate.charging_session_request WHERE request_id = pg_temp.r(1)),
          now() - interval '1 h', 'a redelivered event that changes nothing leaves updated_at (the last status change) alone');

-- r2: retries spent
SELECT pg_temp.apply(pg_temp.ev('AuthorizationDecisionCallback', 2, '{"status": "allowed"}'));
SELECT pg_temp.apply(pg_temp.ev('CallbackFailed', 2, '{"status": "allowed", "attempt": 10, "final": true}'));
SELECT results_eq($$SELECT * FROM pg_temp.req(2)$$, $$VALUES ('delivery_failed'::text, 'allowed'::text, NULL::text, 10)$$,
                  'decided -> delivery_failed on a final failure, callback_attempts 10');
SELECT pg_temp.apply(pg_temp.ev('CallbackDeliverySucceeded', 2, '{"status": "allowed", "attempt": 3}'));
SELECT results_eq($$SELECT * FROM pg_temp.req(2)$$, $$VALUES ('delivery_failed'::text, 'allowed'::text, NULL::text, 10)$$,
                  'delivery_failed is final too');

-- r3: the delivery event overtakes the decision; r4: all in one batch; r5: only a non-final failure
SELECT is(pg_temp.apply(pg_temp.ev('CallbackDeliverySucceeded', 3, '{"status": "unknown", "attempt": 1, "final": true}'),
                        pg_temp.ev('AuthorizationDecisionCallback', 4, '{"status": "allowed"}'),
                        pg_temp.ev('CallbackFailed', 4, '{"status": "allowed", "attempt": 1, "final": false}'),
                        pg_temp.ev('CallbackDeliverySucceeded', 4, '{"status": "allowed", "attempt": 2, "final": true}'),
                        pg_temp.ev('CallbackFailed', 5, '{"status": "allowed", "attempt": 1, "final": false}'),
                        pg_temp.ev('AuthorizationDecisionCallback', '9', '{"status": "allowed"}')),
          3, 'one batch of events about three requests (and an unknown one) updates three');
SELECT results_eq($$SELECT * FROM pg_temp.req(3)$$, $$VALUES ('delivered'::text, 'unknown'::text, NULL::text, 1)$$,
                  'a delivery event that comes first sets the decision and delivers');
SELECT results_eq($$SELECT * FROM pg_temp.req(4)$$, $$VALUES ('delivered'::text, 'allowed'::text, NULL::text, 2)$$,
                  'decision, failure and success in one batch: delivered, 2 attempts');
SELECT results_eq($$SELECT * FROM pg_temp.req(5)$$, $$VALUES ('decided'::text, 'allowed'::text, NULL::text, 1)$$,
                  'a non-final failure that comes first: decided, 1 attempt');
SELECT results_eq($$SELECT * FROM pg_temp.req(6)$$, $$VALUES ('accepted'::text, NULL::text, NULL::text, 0)$$,
                  'a request no event is about is untouched');
SELECT is(chargegate.apply_request_events('[]'), 0, 'an empty batch updates nothing');

SELECT * FROM finish();
ROLLBACK;

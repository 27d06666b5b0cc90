-- Failure notices (callback.failure_url, sql/013_failure_notices.sql): the
-- built-in subscription, chargegate.record_failure_notices and the
-- failure_notice_attempt table, chargegate.failure_notice_attempts_made.
BEGIN;
SELECT plan(13);

SELECT is((SELECT topic FROM chargegate.subscription WHERE name = 'failure_notice' AND builtin), 'callback_delivery',
          'failure_notice is a built-in subscription of callback_delivery');
SELECT has_function('chargegate', 'record_failure_notices', ARRAY['jsonb'],
                    'chargegate.record_failure_notices(jsonb) exists');
SELECT col_is_pk('chargegate', 'failure_notice_attempt', 'id', 'failure_notice_attempt is keyed by id');
SELECT has_index('chargegate', 'failure_notice_attempt', 'failure_notice_attempt_request_idx',
                 'failure notices are found by request');

SELECT is(chargegate.record_failure_notices($$[
    {"request_id": "00000000-0000-4000-8000-000000003301", "webhook_id": "00000000-0000-4000-8000-000000003311",
     "attempt": 1, "failure_url": "https://ops.example/failed", "http_status": 503, "latency_ms": 12,
     "error_class": "http_503", "response_body": "busy", "final": false},
    {"request_id": "00000000-0000-4000-8000-000000003301", "webhook_id": "00000000-0000-4000-8000-000000003311",
     "attempt": 2, "failure_url": "https://ops.example/failed", "http_status": 200, "latency_ms": 7, "final": true}
  ]$$::jsonb), 2, 'record_failure_notices records 2 attempts');
SELECT results_eq(
    $$SELECT attempt, failure_url, http_status, latency_ms, error_class, response_body, final
        FROM chargegate.failure_notice_attempt ORDER BY id$$,
    $$VALUES (1, 'https://ops.example/failed'::text, 503, 12, 'http_503'::text, 'busy'::text, false),
             (2, 'https://ops.example/failed', 200, 7, NULL, NULL, true)$$,
    'one failure_notice_attempt row per attempt, as given');
SELECT is((SELECT count(*) FROM chargegate.callback_delivery_outbox), 0::bigint,
          'and nothing is published: a notice never causes another one');

SELECT is(chargegate.record_failure_notices(($$[{"request_id": "00000000-0000-4000-8000-000000003302",
    "webhook_id": "00000000-0000-4000-8000-000000003312", "attempt": 1, "failure_url": "https://ops.example/failed",
    "http_status": 500, "response_body": "$$ || repeat('x', 5000) || $$", "error_class": "http_500", "final": true}]$$)::jsonb),
          1, 'a long answer is recorded');
SELECT is((SELECT octet_length(response_body) FROM chargegate.failure_notice_attempt
            WHERE request_id = '00000000-0000-4000-8000-000000003302'), 4096, '  cut to its first 4 KiB');
SELECT throws_ok($$SELECT chargegate.record_failure_notices('[{"request_id": "00000000-0000-4000-8000-000000003303",
    "webhook_id": "00000000-0000-4000-8000-000000003313", "attempt": 1, "failure_url": "https://ops.example/failed",
    "error_class": "bogus", "final": true}]')$$, '23514', NULL, 'an unknown error class is refused');

SELECT has_function('chargegate', 'failure_notice_attempts_made', ARRAY['uuid[]', 'uuid[]'],
                    'chargegate.failure_notice_attempts_made(uuid[], uuid[]) exists');
SELECT results_eq(
    $$SELECT webhook_id::text, attempts FROM chargegate.failure_notice_attempts_made(
        ARRAY['00000000-0000-4000-8000-000000003301', '00000000-0000-4000-8000-000000003302',
              '00000000-0000-4000-8000-000000003304']::uuid[],
        ARRAY['00000000-0000-4000-8000-000000003311', '00000000-0000-4000-8000-000000003312',
              '00000000-0000-4000-8000-000000003314']::uuid[]) ORDER BY 1$$,
    $$VALUES ('00000000-0000-4000-8000-000000003311'::text, 2), ('00000000-0000-4000-8000-000000003312', 1)$$,
    'failure_notice_attempts_made: the attempts recorded per notice, none for a notice never attempted');
SET LOCAL ROLE chargegate_app;
SELECT results_eq(
    $$SELECT attempts FROM chargegate.failure_notice_attempts_made(
        ARRAY['00000000-0000-4000-8000-000000003301']::uuid[], ARRAY['00000000-0000-4000-8000-000000003311']::uuid[])$$,
    $$VALUES (2)$$, '  and chargegate_app may call it');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

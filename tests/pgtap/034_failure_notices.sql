-- Failure notices (callback.failure_url, sql/013_failure_notices.sql): the
-- built-in subscription, chargegate.record_failure_notices and the
-- failure_notice_attempt table, chargegate.failure_notice_attempts_made.
BEGIN;
SELECT plan(19);

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

SELECT is(chargegate.record_failure_notices($$[{"request_id": "00000000-0000-4000-8000-000000003304",
    "webhook_id": "00000000-0000-4000-8000-000000003314", "attempt": 1,
    "failure_url": "https://ops:s3cret@ops.example:8443/hooks/failed?token=opsToken99&x=1#frag", "final": true}]$$),
          1, 'an attempt to a URL with credentials is recorded');
SELECT is((SELECT failure_url FROM chargegate.failure_notice_attempt
            WHERE request_id = '00000000-0000-4000-8000-000000003304'), 'https://ops.example:8443/hooks/failed',
          '  its URL without user information, query or fragment: chargegate_reader cannot read the token');

-- The relay hands failure_notice only CallbackFailed messages: a delivery
-- success (most of the topic) is not queued for it only to be acknowledged.
INSERT INTO chargegate.callback_delivery_outbox (event_type, aggregate_id, payload)
VALUES ('CallbackDeliverySucceeded', '00000000-0000-4000-8000-000000003401', '{"attempt": 1}'),
       ('CallbackFailed', '00000000-0000-4000-8000-000000003402', '{"attempt": 6, "final": true}');
SELECT is((SELECT moved FROM chargegate.relay_outbox('callback_delivery_outbox', 10)), 2, 'the relay moves both outcomes');
SELECT is((SELECT array_agg(m.event_type ORDER BY m.id)
             FROM chargegate.subscription_batch b JOIN chargegate.topic_message m ON m.id = ANY (b.message_ids)
            WHERE b.subscription = 'failure_notice'),
          ARRAY['CallbackFailed'], 'failure_notice is handed the failure only');
SELECT is((SELECT sum(cardinality(b.message_ids))::integer FROM chargegate.subscription_batch b
            WHERE b.subscription = 'request_status_deliveries'),
          2, 'a subscription without event_types is handed both');
-- as if failure_notice had been created after both were published: the
-- success, which it never got, must not count as stranded for it
UPDATE chargegate.subscription SET created_at = now() + interval '1 minute' WHERE name = 'failure_notice';
SELECT is((SELECT count(*) FROM chargegate.stranded_messages WHERE subscription = 'failure_notice'), 0::bigint,
          'and the success it was not handed is not stranded for it');

SELECT * FROM finish();
ROLLBACK;

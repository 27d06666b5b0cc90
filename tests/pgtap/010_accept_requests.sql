-- chargegate.accept_requests: the API's group commit, in one session.
-- (Concurrent callers and NOTIFY: 011_accept_requests_sessions.sql.)
BEGIN;
SELECT plan(46);

-- Row counts of the tables accept_requests writes, to prove "no new rows".
CREATE FUNCTION pg_temp.counts() RETURNS bigint[] LANGUAGE sql AS $$
    SELECT ARRAY[(SELECT count(*) FROM chargegate.charging_session_request),
                 (SELECT count(*) FROM chargegate.charging_session_request_outbox),
                 (SELECT count(*) FROM chargegate.idempotency_key)]
$$;

-- ---------------------------------------------------------------------------
-- One request without a key: the request row and its command
-- ---------------------------------------------------------------------------
CREATE TEMPORARY TABLE r1 AS
SELECT * FROM chargegate.accept_requests(
    ARRAY['123e4567-e89b-12d3-a456-426614174000']::uuid[],
    ARRAY['validDriverToken123'],
    ARRAY['https://cpo.example.com/callbacks/start'],
    ARRAY[NULL]::text[]);

SELECT results_eq($$SELECT ord, outcome FROM r1$$, $$VALUES (1, 'created')$$,
                  'one request without a key is created, ord 1');
SELECT isnt((SELECT request_id FROM r1), NULL, 'a created request gets a request_id');
SELECT results_eq(
    $$SELECT station_id, driver_token, callback_url, status, decision, decision_reason,
             callback_attempts, created_at = now(), updated_at = now()
        FROM chargegate.charging_session_request WHERE request_id = (SELECT request_id FROM r1)$$,
    $$VALUES ('123e4567-e89b-12d3-a456-426614174000'::uuid, 'validDriverToken123'::text,
              'https://cpo.example.com/callbacks/start'::text, 'accepted'::text, NULL::text, NULL::text,
              0, true, true)$$,
    'the request row holds the body, status accepted, no decision, 0 callback attempts');
SELECT results_eq(
    $$SELECT event_type, payload, published_at, publish_attempts, available_at = now()
        FROM chargegate.charging_session_request_outbox WHERE aggregate_id = (SELECT request_id FROM r1)$$,
    $$SELECT 'StartChargingSessionRequestCommand'::text,
             jsonb_build_object('request_id', request_id::text,
                                'station_id', '123e4567-e89b-12d3-a456-426614174000',
                                'driver_token', 'validDriverToken123',
                                'callback_url', 'https://cpo.example.com/callbacks/start'),
             NULL::timestamptz, 0, true
        FROM r1$$,
    'exactly one StartChargingSessionRequestCommand, aggregate_id = request_id, payload = the request, pending');
SELECT is((SELECT array_agg(DISTINCT jsonb_typeof(v)) FROM chargegate.charging_session_request_outbox o,
                  jsonb_each(o.payload) AS e(k, v)
            WHERE o.aggregate_id = (SELECT request_id FROM r1)),
          ARRAY['string'], 'every payload member is a JSON string');
SELECT is_empty($$SELECT 1 FROM chargegate.idempotency_key WHERE request_id = (SELECT request_id FROM r1)$$,
                'a request without a key stores no idempotency key');

-- ---------------------------------------------------------------------------
-- A batch without keys: one row per element, in order, all distinct
-- ---------------------------------------------------------------------------
SELECT is(pg_temp.counts(), ARRAY[1, 1, 0]::bigint[], 'state before the batch');
CREATE TEMPORARY TABLE r3 AS
SELECT * FROM chargegate.accept_requests(
    ARRAY['00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b',
          '00000000-0000-4000-8000-00000000000c']::uuid[],
    ARRAY['tok-a', 'tok-b', 'tok-c'],
    ARRAY['https://a.example/cb', 'https://b.example/cb', 'http://c.example/cb'],
    ARRAY[NULL, NULL, NULL]::text[]);
SELECT results_eq($$SELECT ord, outcome FROM r3$$,
                  $$VALUES (1, 'created'), (2, 'created'), (3, 'created')$$,
                  'a batch of three returns three created rows in input order');
SELECT is((SELECT count(DISTINCT request_id) FROM r3), 3::bigint, 'each element gets its own request_id');
SELECT results_eq(
    $$SELECT r.ord, q.station_id::text, q.driver_token, q.callback_url
        FROM r3 r JOIN chargegate.charging_session_request q USING (request_id) ORDER BY r.ord$$,
    $$VALUES (1, '00000000-0000-4000-8000-00000000000a', 'tok-a', 'https://a.example/cb'),
             (2, '00000000-0000-4000-8000-00000000000b', 'tok-b', 'https://b.example/cb'),
             (3, '00000000-0000-4000-8000-00000000000c', 'tok-c', 'http://c.example/cb')$$,
    'element i of every array belongs to request i');
SELECT results_eq(
    $$SELECT r.ord, o.payload->>'request_id' = r.request_id::text, o.payload->>'station_id',
             o.payload->>'driver_token', o.payload->>'callback_url'
        FROM r3 r JOIN chargegate.charging_session_request_outbox o ON o.aggregate_id = r.request_id
       ORDER BY r.ord$$,
    $$VALUES (1, true, '00000000-0000-4000-8000-00000000000a', 'tok-a', 'https://a.example/cb'),
             (2, true, '00000000-0000-4000-8000-00000000000b', 'tok-b', 'https://b.example/cb'),
             (3, true, '00000000-0000-4000-8000-00000000000c', 'tok-c', 'http://c.example/cb')$$,
    'each created request has exactly one command with its own payload');
SELECT is(pg_temp.counts(), ARRAY[4, 4, 0]::bigint[], 'a batch of three adds three requests and three commands');

-- ---------------------------------------------------------------------------
-- Idempotency keys across calls
-- ---------------------------------------------------------------------------
CREATE TEMPORARY TABLE k1 AS
SELECT * FROM chargegate.accept_requests(
    ARRAY['00000000-0000-4000-8000-000000000001']::uuid[], ARRAY['tok-1'],
    ARRAY['https://cpo.example/cb'], ARRAY['key-1']);
SELECT is((SELECT outcome FROM k1), 'created', 'the first use of a key creates the request');
SELECT is((SELECT request_id FROM chargegate.idempotency_key WHERE key = 'key-1'),
          (SELECT request_id FROM k1), 'the key records the request it created');
SELECT is(pg_temp.counts(), ARRAY[5, 5, 1]::bigint[], 'a keyed request adds a request, a command and a key');

SELECT results_eq(
    $$SELECT ord, request_id, outcome FROM chargegate.accept_requests(
        ARRAY['00000000-0000-4000-8000-000000000001']::uuid[], ARRAY['tok-1'],
        ARRAY['https://cpo.example/cb'], ARRAY['key-1'])$$,
    $$SELECT 1, request_id, 'replayed'::text FROM k1$$,
    'the same key with the same body is replayed with the first request_id');
SELECT is(pg_temp.counts(), ARRAY[5, 5, 1]::bigint[], 'a replay writes nothing');

SELECT results_eq(
    format($$SELECT ord, request_id, outcome FROM chargegate.accept_requests(%L::uuid[], %L::text[], %L::text[], %L::text[])$$,
           s, t, u, ARRAY['key-1', 'key-1', 'key-1']),
    $$SELECT o, request_id, 'conflict'::text FROM k1, generate_series(1, 3) AS o$$,
    'the same key with another station, token or callback URL is a conflict, with the first request_id')
  FROM (VALUES (ARRAY['00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001',
                      '00000000-0000-4000-8000-000000000001']::uuid[],
                ARRAY['tok-1', 'tok-2', 'tok-1'],
                ARRAY['https://cpo.example/cb', 'https://cpo.example/cb', 'https://cpo.example/other'])
       ) AS x(s, t, u);
SELECT results_eq(
    $$SELECT outcome FROM chargegate.accept_requests(
        ARRAY['00000000-0000-4000-8000-000000000001']::uuid[], ARRAY['tok-1'],
        ARRAY['HTTPS://cpo.example/cb'], ARRAY['key-1'])$$,
    $$VALUES ('conflict')$$,
    'bodies are compared exactly: a callback URL differing in case is a conflict');
SELECT is(pg_temp.counts(), ARRAY[5, 5, 1]::bigint[], 'a conflict writes nothing');
SELECT results_eq(
    $$SELECT station_id::text, driver_token, callback_url FROM chargegate.charging_session_request
       WHERE request_id = (SELECT request_id FROM k1)$$,
    $$VALUES ('00000000-0000-4000-8000-000000000001', 'tok-1', 'https://cpo.example/cb')$$,
    'a conflict leaves the first request unchanged');

-- ---------------------------------------------------------------------------
-- Keys within one batch, mixed with new keys and no keys
-- ---------------------------------------------------------------------------
CREATE TEMPORARY TABLE b1 AS
SELECT * FROM chargegate.accept_requests(
    ARRAY['00000000-0000-4000-8000-0000000000d1', '00000000-0000-4000-8000-0000000000d1']::uuid[],
    ARRAY['tok-d', 'tok-d'], ARRAY['https://d.example/cb', 'https://d.example/cb'],
    ARRAY['key-dup', 'key-dup']);
SELECT results_eq($$SELECT ord, outcome FROM b1$$, $$VALUES (1, 'created'), (2, 'replayed')$$,
                  'a key used twice in one batch with the same body: the first is created, the second replayed');
SELECT is((SELECT count(DISTINCT request_id) FROM b1), 1::bigint, 'both get the same request_id');
SELECT is(pg_temp.counts(), ARRAY[6, 6, 2]::bigint[], 'a key used twice in one batch creates one request');

CREATE TEMPORARY TABLE b2 AS
SELECT * FROM chargegate.accept_requests(
    ARRAY['00000000-0000-4000-8000-0000000000e1', '00000000-0000-4000-8000-0000000000e2']::uuid[],
    ARRAY['tok-e', 'tok-e'], ARRAY['https://e.example/cb', 'https://e.example/cb'],
    ARRAY['key-dup-2', 'key-dup-2']);
SELECT results_eq($$SELECT ord, outcome FROM b2$$, $$VALUES (1, 'created'), (2, 'conflict')$$,
                  'a key used twice in one batch with different bodies: created, then conflict');
SELECT is((SELECT count(DISTINCT request_id) FROM b2), 1::bigint, 'the conflict names the created request_id');

CREATE TEMPORARY TABLE b3 AS
SELECT * FROM chargegate.accept_requests(
    ARRAY['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-0000000000f1',
          '00000000-0000-4000-8000-0000000000f2', '00000000-0000-4000-8000-0000000000f3',
          '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-0000000000f1']::uuid[],
    ARRAY['tok-1', 'tok-f1', 'tok-f2', 'tok-f3', 'tok-x', 'tok-f1'],
    ARRAY['https://cpo.example/cb', 'https://f.example/cb', 'https://f.example/cb',
          'https://f.example/cb', 'https://cpo.example/cb', 'https://f.example/cb'],
    ARRAY['key-1', 'key-f1', NULL, 'key-f3', 'key-1', 'key-f1']);
SELECT results_eq(
    $$SELECT ord, outcome FROM b3$$,
    $$VALUES (1, 'replayed'), (2, 'created'), (3, 'created'), (4, 'created'), (5, 'conflict'), (6, 'replayed')$$,
    'a mixed batch: each element gets its own outcome, in input order');
SELECT ok((SELECT request_id FROM b3 WHERE ord = 1) = (SELECT request_id FROM k1)
          AND (SELECT request_id FROM b3 WHERE ord = 5) = (SELECT request_id FROM k1)
          AND (SELECT request_id FROM b3 WHERE ord = 6) = (SELECT request_id FROM b3 WHERE ord = 2),
          'replays and conflicts in a mixed batch carry the existing request_ids');
SELECT is(pg_temp.counts(), ARRAY[10, 10, 5]::bigint[], 'a mixed batch writes only the created requests');

-- Keys are case-sensitive and compared exactly
SELECT results_eq(
    $$SELECT outcome FROM chargegate.accept_requests(
        ARRAY['00000000-0000-4000-8000-000000000001']::uuid[], ARRAY['tok-1'],
        ARRAY['https://cpo.example/cb'], ARRAY['KEY-1'])$$,
    $$VALUES ('created')$$,
    'idempotency keys are case-sensitive');

-- ---------------------------------------------------------------------------
-- Empty batches and errors
-- ---------------------------------------------------------------------------
SELECT is(pg_temp.counts(), ARRAY[11, 11, 6]::bigint[], 'state before the edge cases');
SELECT is_empty($$SELECT * FROM chargegate.accept_requests('{}', '{}', '{}', '{}')$$,
                'empty arrays return no rows');

SELECT throws_ok(format('SELECT * FROM chargegate.accept_requests(%L::uuid[], %L::text[], %L::text[], %L::text[])',
                        s, t, u, k),
                 '22023',
                 format('accept_requests: arrays must have the same length (station_ids %s, driver_tokens %s, callback_urls %s, idempotency_keys %s, api_key_ids NULL)',
                        cardinality(s::uuid[]), cardinality(t::text[]), cardinality(u::text[]), cardinality(k::text[])),
                 'arrays of different lengths are rejected: ' || d)
  FROM (VALUES ('{00000000-0000-4000-8000-000000000001}', '{}', '{https://x.example}', '{NULL}',
                'driver_tokens shorter'),
               ('{00000000-0000-4000-8000-000000000001}', '{a}', '{https://x.example,https://y.example}', '{NULL}',
                'callback_urls longer'),
               ('{00000000-0000-4000-8000-000000000001}', '{a}', '{https://x.example}', '{}',
                'idempotency_keys empty'),
               ('{}', '{a}', '{https://x.example}', '{NULL}',
                'station_ids empty')) AS x(s, t, u, k, d);
SELECT throws_ok($$SELECT * FROM chargegate.accept_requests(NULL, '{a}', '{https://x.example}', '{NULL}')$$,
                 '22023', 'accept_requests: array arguments must not be NULL',
                 'a NULL array is rejected');
SELECT throws_ok($$SELECT * FROM chargegate.accept_requests(
                     '{{00000000-0000-4000-8000-000000000001}}', '{{a}}', '{{https://x.example}}', '{{NULL}}')$$,
                 '22023', 'accept_requests: array arguments must be one-dimensional',
                 'two-dimensional arrays are rejected');
SELECT throws_ok($$SELECT * FROM chargegate.accept_requests(
                     '{00000000-0000-4000-8000-000000000001,00000000-0000-4000-8000-000000000002}',
                     '{good,bad token}', '{https://x.example,https://x.example}', '{key-bad-1,NULL}')$$,
                 '23514', NULL,
                 'an invalid element fails the whole batch with check_violation');
SELECT throws_ok($$SELECT * FROM chargegate.accept_requests(
                     '{00000000-0000-4000-8000-000000000001,NULL}',
                     '{a,b}', '{https://x.example,https://x.example}', '{NULL,NULL}')$$,
                 '23502', NULL,
                 'a NULL station_id fails the whole batch with not_null_violation');
SELECT throws_ok($$SELECT * FROM chargegate.accept_requests(
                     '{00000000-0000-4000-8000-000000000001}', '{a}', '{https://x.example}', '{"bad key"}')$$,
                 '23514', NULL,
                 'an invalid idempotency key fails the batch with check_violation');
SELECT is(pg_temp.counts(), ARRAY[11, 11, 6]::bigint[], 'empty batches and failed batches write nothing');

-- ---------------------------------------------------------------------------
-- A large batch (the hot path) and ordering of the commands
-- ---------------------------------------------------------------------------
CREATE TEMPORARY TABLE big AS
SELECT * FROM chargegate.accept_requests(
    (SELECT array_agg(gen_random_uuid()) FROM generate_series(1, 500)),
    (SELECT array_agg('tok-' || g ORDER BY g) FROM generate_series(1, 500) AS g),
    (SELECT array_agg('https://big.example/' || g ORDER BY g) FROM generate_series(1, 500) AS g),
    (SELECT array_agg(CASE WHEN g % 2 = 0 THEN 'big-' || g END ORDER BY g) FROM generate_series(1, 500) AS g));
SELECT results_eq($$SELECT ord, outcome FROM big$$,
                  $$SELECT g, 'created'::text FROM generate_series(1, 500) AS g$$,
                  'a batch of 500 returns 500 created rows in order');
SELECT is_empty(
    $$SELECT 1 FROM big b JOIN chargegate.charging_session_request q USING (request_id)
       WHERE q.driver_token <> 'tok-' || b.ord OR q.callback_url <> 'https://big.example/' || b.ord$$,
    'in a batch of 500 every request_id belongs to its own element');
SELECT is((SELECT count(*) FROM big b JOIN chargegate.idempotency_key k USING (request_id)
            WHERE k.key = 'big-' || b.ord), 250::bigint,
          'in a batch of 500 every key points to its own element''s request');
SELECT ok((SELECT bool_and(o.id < o2.id)
             FROM big b
             JOIN chargegate.charging_session_request_outbox o ON o.aggregate_id = b.request_id
             JOIN big b2 ON b2.ord = b.ord + 1
             JOIN chargegate.charging_session_request_outbox o2 ON o2.aggregate_id = b2.request_id),
          'commands of one batch are inserted in input order');

SELECT * FROM finish();
ROLLBACK;

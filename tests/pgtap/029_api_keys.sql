-- API keys (migration 008, DESIGN §3): the table's rules, requests and
-- Idempotency-Keys scoped per key, and the snapshot daemons read.
BEGIN;
SELECT plan(25);

SELECT has_table('chargegate', 'api_key', 'table chargegate.api_key exists');
SELECT columns_are('chargegate', 'api_key',
                   ARRAY['id', 'name', 'key_hash', 'created_at', 'revoked_at', 'last_used_at'],
                   'api_key has exactly id, name, key_hash, created_at, revoked_at, last_used_at');
SELECT col_type_is('chargegate', 'api_key', 'key_hash', 'bytea', 'only a hash of the key is stored (bytea)');
SELECT fk_ok('chargegate', 'charging_session_request', 'api_key_id', 'chargegate', 'api_key', 'id',
             'a request names the API key that created it');

INSERT INTO chargegate.api_key (name, key_hash)
VALUES ('acme', sha256('cgk_a')), ('beta', sha256('cgk_b')), ('old', sha256('cgk_o'));
UPDATE chargegate.api_key SET revoked_at = now() WHERE name = 'old';
CREATE TEMPORARY TABLE k AS SELECT name, id FROM chargegate.api_key;
CREATE FUNCTION pg_temp.kid(text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM k WHERE name = $1 $$;

-- ---------------------------------------------------------------------------
-- The table's rules
-- ---------------------------------------------------------------------------
SELECT throws_ok($$INSERT INTO chargegate.api_key (name, key_hash) VALUES ('acme', sha256('cgk_x'))$$,
                 '23505', NULL, 'two active keys cannot share a name');
SELECT lives_ok($$INSERT INTO chargegate.api_key (name, key_hash) VALUES ('old', sha256('cgk_o2'))$$,
                'a revoked key''s name can be used again');
SELECT throws_ok($$INSERT INTO chargegate.api_key (name, key_hash) VALUES ('dup', sha256('cgk_a'))$$,
                 '23505', NULL, 'a hash is stored once');
SELECT throws_ok($$INSERT INTO chargegate.api_key (name, key_hash) VALUES ('short', '\x00')$$,
                 '23514', NULL, 'a hash has 32 bytes');
SELECT throws_ok($$INSERT INTO chargegate.api_key (name, key_hash) VALUES ('-x', sha256('cgk_y'))$$,
                 '23514', NULL, 'a name starts with a letter or digit');
SELECT throws_ok($$INSERT INTO chargegate.api_key (name, key_hash) VALUES ('a b', sha256('cgk_y'))$$,
                 '23514', NULL, 'a name has no spaces');

-- ---------------------------------------------------------------------------
-- Requests belong to their key; Idempotency-Keys are scoped per key
-- ---------------------------------------------------------------------------
CREATE TEMPORARY TABLE r AS
SELECT * FROM chargegate.accept_requests(
    ARRAY['123e4567-e89b-12d3-a456-426614174000', '123e4567-e89b-12d3-a456-426614174000',
          '123e4567-e89b-12d3-a456-426614174000', '123e4567-e89b-12d3-a456-426614174000']::uuid[],
    ARRAY['validDriverToken123', 'validDriverToken123', 'validDriverToken123', 'otherDriverToken99'],
    ARRAY['https://a.example/cb', 'https://a.example/cb', 'https://a.example/cb', 'https://a.example/cb'],
    ARRAY['same-key', 'same-key', 'same-key', 'same-key'],
    ARRAY[pg_temp.kid('acme'), pg_temp.kid('beta'), pg_temp.kid('acme'), NULL]::bigint[]);

SELECT results_eq($$SELECT ord, outcome FROM r ORDER BY ord$$,
                  $$VALUES (1, 'created'), (2, 'created'), (3, 'replayed'), (4, 'created')$$,
                  'one Idempotency-Key sent with two API keys (and none) is three keys; a repeat under one replays');
SELECT is((SELECT count(DISTINCT request_id) FROM r), 3::bigint, 'three requests were created');
SELECT is((SELECT request_id FROM r WHERE ord = 3), (SELECT request_id FROM r WHERE ord = 1),
          'the replay under acme answers acme''s request');
SELECT results_eq(
    $$SELECT q.api_key_id FROM r JOIN chargegate.charging_session_request q USING (request_id)
       WHERE r.ord IN (1, 2, 4) ORDER BY r.ord$$,
    $$VALUES (pg_temp.kid('acme')), (pg_temp.kid('beta')), (NULL::bigint)$$,
    'each request names the key that created it (NULL without one)');
SELECT results_eq(
    $$SELECT api_key_id, key FROM chargegate.idempotency_key ORDER BY api_key_id$$,
    $$VALUES (0::bigint, 'same-key'::text), (pg_temp.kid('acme'), 'same-key'), (pg_temp.kid('beta'), 'same-key')$$,
    'idempotency keys are stored per API key (0: none)');

CREATE TEMPORARY TABLE c AS
SELECT * FROM chargegate.accept_requests(
    ARRAY['123e4567-e89b-12d3-a456-426614174000']::uuid[], ARRAY['anotherToken'],
    ARRAY['https://a.example/cb'], ARRAY['same-key'], ARRAY[pg_temp.kid('beta')]::bigint[]);
SELECT results_eq($$SELECT outcome, request_id FROM c$$,
                  $$SELECT 'conflict'::text, request_id FROM r WHERE ord = 2$$,
                  'a conflict is judged against the same API key''s request only');
SELECT throws_ok($$DELETE FROM chargegate.api_key WHERE name = 'acme'$$, '23503', NULL,
                 'a key with requests cannot be deleted');
SELECT lives_ok($$SELECT * FROM chargegate.accept_requests(ARRAY['123e4567-e89b-12d3-a456-426614174000']::uuid[],
                  ARRAY['validDriverToken123'], ARRAY['https://a.example/cb'], ARRAY[NULL]::text[])$$,
                'the four-array call still works (no API key)');
SELECT throws_ok($$SELECT * FROM chargegate.accept_requests(ARRAY['123e4567-e89b-12d3-a456-426614174000']::uuid[],
                  ARRAY['validDriverToken123'], ARRAY['https://a.example/cb'], ARRAY[NULL]::text[],
                  ARRAY[1, 2]::bigint[])$$,
                 '22023', NULL, 'an API key array of another length is refused');

-- ---------------------------------------------------------------------------
-- The snapshot daemons read
-- ---------------------------------------------------------------------------
SELECT results_eq(
    $$SELECT s.id, s.key_hash, s.revoked FROM chargegate.api_key_snapshot() s
       WHERE s.id IN (pg_temp.kid('acme'), pg_temp.kid('old')) ORDER BY s.id$$,
    $$VALUES (pg_temp.kid('acme'), encode(sha256('cgk_a'), 'hex'), false),
             (pg_temp.kid('old'), encode(sha256('cgk_o'), 'hex'), true)$$,
    'the snapshot has each key''s id, SHA-256 in hex and whether it is revoked');
SELECT is((SELECT count(*) FROM chargegate.api_key_snapshot()), (SELECT count(*) FROM chargegate.api_key),
          'the snapshot has every key, revoked ones included');
SELECT is((SELECT last_used_at FROM chargegate.api_key WHERE name = 'acme'), NULL, 'a new key was never used');
SELECT lives_ok($$SELECT * FROM chargegate.api_key_snapshot(ARRAY[pg_temp.kid('acme')])$$,
                'a daemon reports acme as used');
SELECT is((SELECT last_used_at FROM chargegate.api_key WHERE name = 'acme'), now(),
          'last_used_at is recorded for the keys a daemon reports');
UPDATE chargegate.api_key SET last_used_at = now() - interval '2 seconds' WHERE name = 'acme';
CREATE TEMPORARY TABLE again AS SELECT * FROM chargegate.api_key_snapshot(ARRAY[pg_temp.kid('acme')]);
SELECT is((SELECT last_used_at FROM chargegate.api_key WHERE name = 'acme'), now() - interval '2 seconds',
          'a key recorded less than 5 seconds ago is not written again');

SELECT * FROM finish();
ROLLBACK;

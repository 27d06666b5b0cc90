-- CHECK, NOT NULL, key and foreign-key constraints of charging_session_request
-- and idempotency_key: each rejects what it must and accepts the edge values.
BEGIN;
SELECT plan(66);

-- An INSERT of one request with the given values; the others are valid.
CREATE FUNCTION pg_temp.request_sql(
    p_token text DEFAULT 'validDriverToken123',
    p_url text DEFAULT 'https://cpo.example.com/callbacks/start',
    p_status text DEFAULT 'accepted',
    p_decision text DEFAULT NULL,
    p_attempts integer DEFAULT 0)
RETURNS text LANGUAGE sql AS $$
    SELECT format($q$INSERT INTO chargegate.charging_session_request
                       (request_id, station_id, driver_token, callback_url, status, decision, callback_attempts)
                     VALUES (gen_random_uuid(), gen_random_uuid(), %L, %L, %L, %L, %s)$q$,
                  p_token, p_url, p_status, p_decision, p_attempts)
$$;

-- The error message of a CHECK violation, for the table that owns the constraint.
CREATE FUNCTION pg_temp.violates(p_constraint text) RETURNS text LANGUAGE sql AS $$
    SELECT format('new row for relation "%s" violates check constraint "%s"', c.relname, k.conname)
      FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
     WHERE k.connamespace = 'chargegate'::regnamespace AND k.conname = p_constraint
$$;

-- ---------------------------------------------------------------------------
-- driver_token: 1-255 characters of 0x21-0x7E
-- ---------------------------------------------------------------------------
SELECT throws_ok(pg_temp.request_sql(p_token => v), '23514',
                 pg_temp.violates('charging_session_request_driver_token_check'),
                 'driver_token rejects ' || d)
  FROM (VALUES ('',                  'the empty string'),
               (repeat('a', 256),    '256 characters'),
               ('driver token',      'a space (0x20)'),
               (E'token\t1',         'a tab'),
               (E'token\n',          'a trailing newline'),
               ('token' || chr(127), 'DEL (0x7F)'),
               ('tokén',             'a non-ASCII letter'),
               (E'tok\u00a0en',      'a no-break space')) AS t(v, d);

SELECT lives_ok(pg_temp.request_sql(p_token => v), 'driver_token accepts ' || d)
  FROM (VALUES ('!',                 'a single character (0x21)'),
               ('~',                 'a single character (0x7E)'),
               (repeat('x', 255),    '255 characters'),
               ((SELECT string_agg(chr(c), '') FROM generate_series(33, 126) AS c),
                                     'every printable ASCII character')) AS t(v, d);

-- ---------------------------------------------------------------------------
-- callback_url: http(s), case-insensitive, at most 2048 bytes
-- ---------------------------------------------------------------------------
SELECT throws_ok(pg_temp.request_sql(p_url => v), '23514',
                 pg_temp.violates('charging_session_request_callback_url_check'),
                 'callback_url rejects ' || d)
  FROM (VALUES ('',                                      'the empty string'),
               ('ftp://cpo.example.com/cb',              'an ftp URL'),
               ('cpo.example.com/cb',                    'a URL without scheme'),
               ('https:/cpo.example.com',                'a malformed scheme separator'),
               (' https://cpo.example.com',              'leading white space'),
               ('javascript:alert(1)',                   'a javascript: URL'),
               ('https://h/' || repeat('a', 2039),       '2049 bytes'),
               ('https://h/' || repeat('é', 1020),       '2050 bytes in 1030 characters')) AS t(v, d);

SELECT lives_ok(pg_temp.request_sql(p_url => v), 'callback_url accepts ' || d)
  FROM (VALUES ('http://cpo.example.com/cb',             'http'),
               ('https://cpo.example.com/cb',            'https'),
               ('HTTPS://CPO.EXAMPLE.COM/CB',            'an upper-case scheme'),
               ('hTtP://cpo.example.com',                'a mixed-case scheme'),
               ('https://h/' || repeat('a', 2038),       'exactly 2048 bytes'),
               ('https://h/' || repeat('é', 1019),       'exactly 2048 bytes of UTF-8')) AS t(v, d);

-- ---------------------------------------------------------------------------
-- status, decision and their pairing
-- ---------------------------------------------------------------------------
SELECT throws_ok(pg_temp.request_sql(p_status => s, p_decision => dec), '23514',
                 pg_temp.violates(c), d)
  FROM (VALUES ('pending',         NULL,          'charging_session_request_status_check',
                'status rejects an unknown value'),
               ('ACCEPTED',        NULL,          'charging_session_request_status_check',
                'status is case-sensitive'),
               ('decided',         'maybe',       'charging_session_request_decision_check',
                'decision rejects an unknown value'),
               ('decided',         'Allowed',     'charging_session_request_decision_check',
                'decision is case-sensitive'),
               ('accepted',        'allowed',     'charging_session_request_status_decision_check',
                'an accepted request has no decision'),
               ('decided',         NULL,          'charging_session_request_status_decision_check',
                'a decided request needs a decision'),
               ('delivered',       NULL,          'charging_session_request_status_decision_check',
                'a delivered request needs a decision'),
               ('delivery_failed', NULL,          'charging_session_request_status_decision_check',
                'a delivery_failed request needs a decision')) AS t(s, dec, c, d);

SELECT lives_ok(pg_temp.request_sql(p_status => s, p_decision => dec),
                format('status %s with decision %s is valid', s, coalesce(dec, 'NULL')))
  FROM (VALUES ('accepted',        NULL),
               ('decided',         'allowed'),
               ('decided',         'not_allowed'),
               ('decided',         'unknown'),
               ('decided',         'invalid'),
               ('delivered',       'allowed'),
               ('delivery_failed', 'unknown')) AS t(s, dec);

INSERT INTO chargegate.charging_session_request (request_id, station_id, driver_token, callback_url)
VALUES ('00000000-0000-4000-8000-000000000001', gen_random_uuid(), 'tok', 'https://cpo.example.com/cb');
SELECT throws_ok($$UPDATE chargegate.charging_session_request SET status = 'decided'
                    WHERE request_id = '00000000-0000-4000-8000-000000000001'$$,
                 '23514', pg_temp.violates('charging_session_request_status_decision_check'),
                 'an UPDATE to decided without a decision is rejected');
SELECT lives_ok($$UPDATE chargegate.charging_session_request SET status = 'decided', decision = 'allowed'
                   WHERE request_id = '00000000-0000-4000-8000-000000000001'$$,
                'an UPDATE to decided with a decision is accepted');

-- ---------------------------------------------------------------------------
-- callback_attempts >= 0
-- ---------------------------------------------------------------------------
SELECT throws_ok(pg_temp.request_sql(p_attempts => -1), '23514',
                 pg_temp.violates('charging_session_request_callback_attempts_check'),
                 'callback_attempts rejects -1');
SELECT lives_ok(pg_temp.request_sql(p_attempts => 0), 'callback_attempts accepts 0');

-- ---------------------------------------------------------------------------
-- NOT NULL and the primary key
-- ---------------------------------------------------------------------------
SELECT throws_ok(format($q$INSERT INTO chargegate.charging_session_request
                            (request_id, station_id, driver_token, callback_url) VALUES (%s)$q$, v),
                 '23502', NULL, d)
  FROM (VALUES ($$NULL, gen_random_uuid(), 'tok', 'https://x.example'$$, 'request_id is required'),
               ($$gen_random_uuid(), NULL, 'tok', 'https://x.example'$$, 'station_id is required'),
               ($$gen_random_uuid(), gen_random_uuid(), NULL, 'https://x.example'$$, 'driver_token is required'),
               ($$gen_random_uuid(), gen_random_uuid(), 'tok', NULL$$, 'callback_url is required')) AS t(v, d);
SELECT throws_ok($$INSERT INTO chargegate.charging_session_request (request_id, station_id, driver_token, callback_url)
                   VALUES ('00000000-0000-4000-8000-000000000001', gen_random_uuid(), 'tok', 'https://x.example')$$,
                 '23505', NULL, 'request_id is unique');

INSERT INTO chargegate.charging_session_request (request_id, station_id, driver_token, callback_url)
VALUES ('00000000-0000-4000-8000-000000000002', gen_random_uuid(), 'tok', 'https://x.example');
SELECT results_eq(
    $$SELECT status, decision, decision_reason, callback_attempts, created_at = now(), updated_at = now()
        FROM chargegate.charging_session_request
       WHERE request_id = '00000000-0000-4000-8000-000000000002'$$,
    $$VALUES ('accepted'::text, NULL::text, NULL::text, 0, true, true)$$,
    'a new request defaults to accepted, no decision, 0 attempts, timestamps now()');

-- ---------------------------------------------------------------------------
-- idempotency_key
-- ---------------------------------------------------------------------------
CREATE FUNCTION pg_temp.key_sql(p_key text) RETURNS text LANGUAGE sql AS $fn$
    SELECT format($q$DO $d$ DECLARE r uuid := gen_random_uuid(); BEGIN
                       INSERT INTO chargegate.charging_session_request (request_id, station_id, driver_token, callback_url)
                       VALUES (r, gen_random_uuid(), 'tok', 'https://x.example');
                       INSERT INTO chargegate.idempotency_key (key, request_id) VALUES (%L, r);
                     END $d$$q$, p_key)
$fn$;

SELECT throws_ok(pg_temp.key_sql(v), '23514', pg_temp.violates('idempotency_key_key_check'),
                 'idempotency key rejects ' || d)
  FROM (VALUES ('',               'the empty string'),
               (repeat('k', 256), '256 characters'),
               ('my key',         'a space'),
               (E'key\n',         'a newline'),
               ('clé',            'a non-ASCII letter')) AS t(v, d);
SELECT lives_ok(pg_temp.key_sql(v), 'idempotency key accepts ' || d)
  FROM (VALUES ('k',              'a single character'),
               (repeat('k', 255), '255 characters'),
               ((SELECT string_agg(chr(c), '') FROM generate_series(33, 126) AS c),
                                  'every printable ASCII character')) AS t(v, d);

SELECT throws_ok(pg_temp.key_sql('k'), '23505', NULL, 'an idempotency key is stored once');
SELECT lives_ok($$INSERT INTO chargegate.idempotency_key (key, request_id)
                  VALUES ('key-0002', '00000000-0000-4000-8000-000000000002')$$,
                'a key may point to an existing request');
SELECT throws_ok($$INSERT INTO chargegate.idempotency_key (key, request_id)
                   VALUES ('key-0002b', '00000000-0000-4000-8000-000000000002')$$,
                 '23505', NULL, 'a request has at most one idempotency key');

SELECT throws_ok($sql$DO $d$ BEGIN
                     INSERT INTO chargegate.idempotency_key (key, request_id)
                     VALUES ('dangling', '00000000-0000-4000-8000-0000000000ff');
                     SET CONSTRAINTS ALL IMMEDIATE;
                   END $d$$sql$,
                 '23503', NULL, 'an idempotency key must point to an existing request');
SELECT lives_ok($sql$DO $d$ BEGIN
                    INSERT INTO chargegate.idempotency_key (key, request_id)
                    VALUES ('key-first', '00000000-0000-4000-8000-000000000003');
                    INSERT INTO chargegate.charging_session_request (request_id, station_id, driver_token, callback_url)
                    VALUES ('00000000-0000-4000-8000-000000000003', gen_random_uuid(), 'tok', 'https://x.example');
                    SET CONSTRAINTS ALL IMMEDIATE;
                    SET CONSTRAINTS ALL DEFERRED;
                  END $d$$sql$,
                'the foreign key is deferred: a key may be inserted before its request in one transaction');

SELECT lives_ok($$DELETE FROM chargegate.charging_session_request
                   WHERE request_id = '00000000-0000-4000-8000-000000000002'$$,
                'a request with an idempotency key can be deleted');
SELECT is_empty($$SELECT 1 FROM chargegate.idempotency_key WHERE key = 'key-0002'$$,
                'deleting a request deletes its idempotency key');

SELECT * FROM finish();
ROLLBACK;

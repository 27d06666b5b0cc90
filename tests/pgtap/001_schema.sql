-- Schema of migration 001: tables, columns, types, defaults, keys, indexes,
-- storage settings and comments.  Names are stable (DESIGN.md §7).
BEGIN;
SELECT plan(186);

SELECT has_schema('chargegate', 'schema chargegate exists');
SELECT has_table('chargegate', 'schema_version', 'the migration runner keeps chargegate.schema_version');
SELECT ok(EXISTS (SELECT 1 FROM chargegate.schema_version WHERE version = 1 AND name LIKE '001\_init%'),
          'migration 001_init is recorded in schema_version');

SELECT has_table('chargegate', t, format('table chargegate.%s exists', t))
  FROM unnest(ARRAY['charging_session_request', 'idempotency_key',
                    'charging_session_request_outbox',
                    'authorization_decision_callback_outbox',
                    'callback_delivery_outbox']::name[]) AS t;

-- ---------------------------------------------------------------------------
-- Column sets, types, nullability and defaults.  One row per column:
-- (table, column, type, not null, default or NULL for none)
-- ---------------------------------------------------------------------------
CREATE TEMPORARY TABLE expected_column (
    tab name, col name, typ text, not_null boolean, def text, pos serial);
INSERT INTO expected_column (tab, col, typ, not_null, def) VALUES
    ('charging_session_request', 'request_id',        'uuid',                     true,  NULL),
    ('charging_session_request', 'station_id',        'uuid',                     true,  NULL),
    ('charging_session_request', 'driver_token',      'text',                     true,  NULL),
    ('charging_session_request', 'callback_url',      'text',                     true,  NULL),
    ('charging_session_request', 'status',            'text',                     true,  'accepted'),
    ('charging_session_request', 'decision',          'text',                     false, NULL),
    ('charging_session_request', 'decision_reason',   'text',                     false, NULL),
    ('charging_session_request', 'callback_attempts', 'integer',                  true,  '0'),
    ('charging_session_request', 'created_at',        'timestamp with time zone', true,  'now()'),
    ('charging_session_request', 'updated_at',        'timestamp with time zone', true,  'now()'),
    ('charging_session_request', 'api_key_id',        'bigint',                   false, NULL),
    ('idempotency_key',          'key',               'text',                     true,  NULL),
    ('idempotency_key',          'request_id',        'uuid',                     true,  NULL),
    ('idempotency_key',          'created_at',        'timestamp with time zone', true,  'now()'),
    ('idempotency_key',          'api_key_id',        'bigint',                   true,  '0');
INSERT INTO expected_column (tab, col, typ, not_null, def)
SELECT o.tab, c.col, c.typ, c.not_null, c.def
  FROM unnest(ARRAY['charging_session_request_outbox',
                    'authorization_decision_callback_outbox',
                    'callback_delivery_outbox']::name[]) WITH ORDINALITY AS o(tab, n)
 CROSS JOIN (VALUES
    (1,  'id',               'bigint',                   true,  NULL),
    (2,  'event_id',         'uuid',                     true,  'chargegate.uuid_v7()'),
    (3,  'event_type',       'text',                     true,  NULL),
    (4,  'aggregate_id',     'uuid',                     true,  NULL),
    (5,  'payload',          'jsonb',                    true,  NULL),
    (6,  'created_at',       'timestamp with time zone', true,  'now()'),
    (7,  'available_at',     'timestamp with time zone', true,  'now()'),
    (8,  'published_at',     'timestamp with time zone', false, NULL),
    (9,  'publish_attempts', 'integer',                  true,  '0'),
    (10, 'last_error',       'text',                     false, NULL)
 ) AS c(i, col, typ, not_null, def)
 ORDER BY o.n, c.i;

-- 5 tests: exactly these columns, in every table
SELECT columns_are('chargegate', tab, array_agg(col ORDER BY pos),
                   format('chargegate.%s has exactly the expected columns', tab))
  FROM expected_column GROUP BY tab ORDER BY min(pos);

-- 45 columns x 3 tests (type, nullability, default)
SELECT col_type_is('chargegate', tab, col, typ,
                   format('%s.%s is %s', tab, col, typ))
  FROM expected_column ORDER BY pos;
SELECT CASE WHEN not_null
            THEN col_not_null('chargegate', tab, col, format('%s.%s is NOT NULL', tab, col))
            ELSE col_is_null('chargegate', tab, col, format('%s.%s is nullable', tab, col))
       END
  FROM expected_column ORDER BY pos;
SELECT CASE WHEN def IS NULL
            THEN col_hasnt_default('chargegate', tab, col, format('%s.%s has no default', tab, col))
            ELSE col_default_is('chargegate', tab, col, def, format('%s.%s defaults to %s', tab, col, def))
       END
  FROM expected_column ORDER BY pos;

-- the outbox id is GENERATED ALWAYS AS IDENTITY (3 tests)
SELECT is(a.attidentity, 'a', format('%s.id is GENERATED ALWAYS AS IDENTITY', t))
  FROM unnest(ARRAY['charging_session_request_outbox',
                    'authorization_decision_callback_outbox',
                    'callback_delivery_outbox']) AS t
  JOIN pg_attribute a ON a.attrelid = format('chargegate.%I', t)::regclass AND a.attname = 'id';

-- ---------------------------------------------------------------------------
-- Keys
-- ---------------------------------------------------------------------------
SELECT col_is_pk('chargegate', 'charging_session_request', 'request_id',
                 'charging_session_request is keyed by request_id');
SELECT col_is_pk('chargegate', 'idempotency_key', ARRAY['api_key_id', 'key'],
                 'idempotency_key is keyed by (api_key_id, key): scoped per API key');
SELECT col_is_unique('chargegate', 'idempotency_key', 'request_id',
                     'a request has at most one idempotency key');
SELECT fk_ok('chargegate', 'idempotency_key', 'request_id',
             'chargegate', 'charging_session_request', 'request_id',
             'idempotency_key.request_id references charging_session_request');
SELECT results_eq(
    $$SELECT condeferrable, condeferred, confdeltype::text
        FROM pg_constraint WHERE conname = 'idempotency_key_request_id_fkey'
         AND conrelid = 'chargegate.idempotency_key'::regclass$$,
    $$VALUES (true, true, 'c')$$,
    'idempotency_key foreign key is DEFERRABLE INITIALLY DEFERRED and ON DELETE CASCADE');

-- 3 tables x 2 tests
SELECT col_is_pk('chargegate', t, 'id', format('%s is keyed by id', t))
  FROM unnest(ARRAY['charging_session_request_outbox',
                    'authorization_decision_callback_outbox',
                    'callback_delivery_outbox']::name[]) AS t;
SELECT col_is_unique('chargegate', t, 'event_id', format('%s.event_id is unique', t))
  FROM unnest(ARRAY['charging_session_request_outbox',
                    'authorization_decision_callback_outbox',
                    'callback_delivery_outbox']::name[]) AS t;

-- ---------------------------------------------------------------------------
-- CHECK constraints exist under their documented names (the C code maps
-- them to error messages)
-- ---------------------------------------------------------------------------
SELECT bag_eq(
    $$SELECT conrelid::regclass::text, conname::text FROM pg_constraint
       WHERE contype = 'c' AND conrelid IN (
             'chargegate.charging_session_request'::regclass, 'chargegate.idempotency_key'::regclass,
             'chargegate.charging_session_request_outbox'::regclass,
             'chargegate.authorization_decision_callback_outbox'::regclass,
             'chargegate.callback_delivery_outbox'::regclass)$$,
    $$VALUES
      ('chargegate.charging_session_request', 'charging_session_request_driver_token_check'),
      ('chargegate.charging_session_request', 'charging_session_request_callback_url_check'),
      ('chargegate.charging_session_request', 'charging_session_request_status_check'),
      ('chargegate.charging_session_request', 'charging_session_request_decision_check'),
      ('chargegate.charging_session_request', 'charging_session_request_callback_attempts_check'),
      ('chargegate.charging_session_request', 'charging_session_request_status_decision_check'),
      ('chargegate.idempotency_key', 'idempotency_key_key_check'),
      ('chargegate.charging_session_request_outbox', 'charging_session_request_outbox_event_type_check'),
      ('chargegate.charging_session_request_outbox', 'charging_session_request_outbox_payload_check'),
      ('chargegate.charging_session_request_outbox', 'charging_session_request_outbox_publish_attempts_check'),
      ('chargegate.authorization_decision_callback_outbox', 'authorization_decision_callback_outbox_event_type_check'),
      ('chargegate.authorization_decision_callback_outbox', 'authorization_decision_callback_outbox_payload_check'),
      ('chargegate.authorization_decision_callback_outbox', 'authorization_decision_callback_outbox_publish_attempts_check'),
      ('chargegate.callback_delivery_outbox', 'callback_delivery_outbox_event_type_check'),
      ('chargegate.callback_delivery_outbox', 'callback_delivery_outbox_payload_check'),
      ('chargegate.callback_delivery_outbox', 'callback_delivery_outbox_publish_attempts_check')$$,
    'every CHECK constraint of the tables of 001_init is known to the tests, by name');

-- ---------------------------------------------------------------------------
-- Outbox indexes: pending rows in claim order, published rows for retention
-- (3 tables x 4 tests)
-- ---------------------------------------------------------------------------
SELECT has_index('chargegate', t, t || '_pending_idx', ARRAY['available_at', 'id']::name[],
                 format('%s has a pending index on (available_at, id)', t))
  FROM unnest(ARRAY['charging_session_request_outbox',
                    'authorization_decision_callback_outbox',
                    'callback_delivery_outbox']::name[]) AS t;
SELECT is(pg_get_expr(i.indpred, i.indrelid), '(published_at IS NULL)',
          format('%s_pending_idx covers only pending rows', t))
  FROM unnest(ARRAY['charging_session_request_outbox',
                    'authorization_decision_callback_outbox',
                    'callback_delivery_outbox']) AS t
  JOIN pg_index i ON i.indexrelid = format('chargegate.%I', t || '_pending_idx')::regclass;
SELECT has_index('chargegate', t, t || '_published_idx', ARRAY['published_at']::name[],
                 format('%s has a retention index on published_at', t))
  FROM unnest(ARRAY['charging_session_request_outbox',
                    'authorization_decision_callback_outbox',
                    'callback_delivery_outbox']::name[]) AS t;
SELECT is(pg_get_expr(i.indpred, i.indrelid), '(published_at IS NOT NULL)',
          format('%s_published_idx covers only published rows', t))
  FROM unnest(ARRAY['charging_session_request_outbox',
                    'authorization_decision_callback_outbox',
                    'callback_delivery_outbox']) AS t
  JOIN pg_index i ON i.indexrelid = format('chargegate.%I', t || '_published_idx')::regclass;

-- hot queue tables vacuum early and unthrottled (3 tests)
SELECT ok(c.reloptions @> ARRAY['autovacuum_vacuum_scale_factor=0.01',
                                'autovacuum_vacuum_cost_delay=0'],
          format('%s has aggressive per-table autovacuum settings', t))
  FROM unnest(ARRAY['charging_session_request_outbox',
                    'authorization_decision_callback_outbox',
                    'callback_delivery_outbox']) AS t
  JOIN pg_class c ON c.oid = format('chargegate.%I', t)::regclass;

-- ---------------------------------------------------------------------------
-- DBAs read the schema: every table and the non-obvious columns are commented
-- ---------------------------------------------------------------------------
SELECT is_empty(
    $$SELECT c.relname FROM pg_class c
       WHERE c.relnamespace = 'chargegate'::regnamespace AND c.relkind IN ('r', 'p', 'v')
         AND c.relname <> 'schema_version'
         AND coalesce(obj_description(c.oid, 'pg_class'), '') = ''$$,
    'every table and view in chargegate has a comment');
SELECT is_empty(
    $$SELECT format('%s.%s', t, c)
        FROM unnest(ARRAY['charging_session_request_outbox',
                          'authorization_decision_callback_outbox',
                          'callback_delivery_outbox']) AS t,
             unnest(ARRAY['id', 'event_id', 'aggregate_id', 'payload', 'available_at',
                          'published_at', 'publish_attempts', 'last_error']) AS c
       WHERE coalesce(col_description(format('chargegate.%I', t)::regclass,
                      (SELECT attnum FROM pg_attribute
                        WHERE attrelid = format('chargegate.%I', t)::regclass AND attname = c)), '') = ''
      UNION ALL
      SELECT format('charging_session_request.%s', c)
        FROM unnest(ARRAY['request_id', 'driver_token', 'callback_url', 'status', 'decision',
                          'decision_reason', 'callback_attempts']) AS c
       WHERE coalesce(col_description('chargegate.charging_session_request'::regclass,
                      (SELECT attnum FROM pg_attribute
                        WHERE attrelid = 'chargegate.charging_session_request'::regclass
                          AND attname = c)), '') = ''$$,
    'the non-obvious columns are commented');

-- ---------------------------------------------------------------------------
-- accept_requests: signature (behaviour in 010_accept_requests.sql)
-- ---------------------------------------------------------------------------
SELECT has_function('chargegate', 'accept_requests', ARRAY['uuid[]', 'text[]', 'text[]', 'text[]', 'bigint[]'],
                    'chargegate.accept_requests(uuid[], text[], text[], text[], bigint[]) exists');
SELECT function_returns('chargegate', 'accept_requests', ARRAY['uuid[]', 'text[]', 'text[]', 'text[]', 'bigint[]'],
                        'setof record', 'accept_requests returns a set of rows');
SELECT results_eq(
    $$SELECT pg_get_function_result('chargegate.accept_requests(uuid[], text[], text[], text[], bigint[])'::regprocedure)$$,
    $$VALUES ('TABLE(ord integer, request_id uuid, outcome text)')$$,
    'accept_requests returns TABLE(ord integer, request_id uuid, outcome text)');
SELECT function_lang_is('chargegate', 'accept_requests', ARRAY['uuid[]', 'text[]', 'text[]', 'text[]', 'bigint[]'],
                        'plpgsql', 'accept_requests is written in PL/pgSQL');
SELECT volatility_is('chargegate', 'accept_requests', ARRAY['uuid[]', 'text[]', 'text[]', 'text[]', 'bigint[]'],
                     'volatile', 'accept_requests is VOLATILE');
SELECT isnt(obj_description('chargegate.accept_requests(uuid[], text[], text[], text[], bigint[])'::regprocedure, 'pg_proc'),
            NULL, 'accept_requests has a comment');

SELECT * FROM finish();
ROLLBACK;

-- The three outbox tables: event_type, payload and publish_attempts checks,
-- generated columns and defaults, and that the relay's claim query and the
-- retention query use the partial indexes.
BEGIN;
SELECT plan(60);

CREATE TEMPORARY TABLE outbox (tab text, good_types text[], n serial);
INSERT INTO outbox (tab, good_types) VALUES
    ('charging_session_request_outbox',        ARRAY['StartChargingSessionRequestCommand']),
    ('authorization_decision_callback_outbox', ARRAY['AuthorizationDecisionCallback']),
    ('callback_delivery_outbox',               ARRAY['CallbackDeliverySucceeded', 'CallbackFailed']);

CREATE FUNCTION pg_temp.insert_sql(p_tab text, p_type text, p_payload text DEFAULT $d$'{}'$d$,
                                   p_extra_cols text DEFAULT '', p_extra_vals text DEFAULT '')
RETURNS text LANGUAGE sql AS $$
    SELECT format('INSERT INTO chargegate.%I (event_type, aggregate_id, payload%s) VALUES (%L, gen_random_uuid(), %s%s)',
                  p_tab, p_extra_cols, p_type, p_payload, p_extra_vals)
$$;

CREATE FUNCTION pg_temp.violates(p_tab text, p_what text) RETURNS text LANGUAGE sql AS $$
    SELECT format('new row for relation "%s" violates check constraint "%s_%s_check"', p_tab, p_tab, p_what)
$$;

-- ---------------------------------------------------------------------------
-- event_type: each outbox takes only its own events (14 + 4 tests)
-- ---------------------------------------------------------------------------
SELECT throws_ok(pg_temp.insert_sql(o.tab, bad), '23514', pg_temp.violates(o.tab, 'event_type'),
                 format('%s rejects event_type %s', o.tab, coalesce(bad, 'NULL')))
  FROM outbox o
 CROSS JOIN LATERAL (
       SELECT t AS bad FROM unnest(ARRAY['StartChargingSessionRequestCommand',
                                         'AuthorizationDecisionCallback',
                                         'CallbackDeliverySucceeded', 'CallbackFailed',
                                         'startchargingsessionrequestcommand', 'Unknown']) AS t
        WHERE t <> ALL (o.good_types)) AS b
 ORDER BY o.n, bad;

SELECT lives_ok(pg_temp.insert_sql(o.tab, t), format('%s accepts event_type %s', o.tab, t))
  FROM outbox o CROSS JOIN LATERAL unnest(o.good_types) AS t
 ORDER BY o.n, t;

-- ---------------------------------------------------------------------------
-- payload must be a JSON object; NOT NULL columns (3 x 7 = 21 tests)
-- ---------------------------------------------------------------------------
SELECT throws_ok(pg_temp.insert_sql(o.tab, o.good_types[1], p), '23514',
                 pg_temp.violates(o.tab, 'payload'),
                 format('%s rejects a payload that is %s', o.tab, d))
  FROM outbox o
 CROSS JOIN (VALUES (1, $$'[]'$$,      'an array'),
                    (2, $$'"text"'$$,  'a string'),
                    (3, $$'42'$$,      'a number'),
                    (4, $$'null'$$,    'JSON null')) AS p(i, p, d)
 ORDER BY o.n, p.i;
SELECT throws_ok(pg_temp.insert_sql(o.tab, o.good_types[1], 'NULL'), '23502', NULL,
                 format('%s requires a payload', o.tab))
  FROM outbox o ORDER BY o.n;
SELECT throws_ok(format('INSERT INTO chargegate.%I (event_type, payload) VALUES (%L, %L)',
                        o.tab, o.good_types[1], '{}'), '23502', NULL,
                 format('%s requires an aggregate_id', o.tab))
  FROM outbox o ORDER BY o.n;
SELECT throws_ok(pg_temp.insert_sql(o.tab, NULL), '23502', NULL,
                 format('%s requires an event_type', o.tab))
  FROM outbox o ORDER BY o.n;

-- ---------------------------------------------------------------------------
-- publish_attempts >= 0, id always generated, event_id unique (3 x 4 = 12)
-- ---------------------------------------------------------------------------
SELECT throws_ok(pg_temp.insert_sql(o.tab, o.good_types[1], '''{}''', ', publish_attempts', ', -1'),
                 '23514', pg_temp.violates(o.tab, 'publish_attempts'),
                 format('%s rejects publish_attempts -1', o.tab))
  FROM outbox o ORDER BY o.n;
SELECT throws_ok(pg_temp.insert_sql(o.tab, o.good_types[1], '''{}''', ', id', ', 1'),
                 '428C9', NULL, format('%s.id cannot be set by hand', o.tab))
  FROM outbox o ORDER BY o.n;
SELECT lives_ok(pg_temp.insert_sql(o.tab, o.good_types[1], '''{}''', ', event_id',
                                   ', ''00000000-0000-4000-8000-0000000000e1'''),
                format('%s takes a given event_id', o.tab))
  FROM outbox o ORDER BY o.n;
SELECT throws_ok(pg_temp.insert_sql(o.tab, o.good_types[1], '''{}''', ', event_id',
                                    ', ''00000000-0000-4000-8000-0000000000e1'''),
                 '23505', NULL, format('%s.event_id is unique', o.tab))
  FROM outbox o ORDER BY o.n;

-- defaults of a new row (3 tests)
CREATE TEMPORARY TABLE new_row (tab text, ok boolean);
DO $$
DECLARE
    t text;
    r boolean;
BEGIN
    FOR t IN SELECT tab FROM outbox ORDER BY n LOOP
        EXECUTE format($q$
            WITH i AS (INSERT INTO chargegate.%I (event_type, aggregate_id, payload)
                       VALUES ((SELECT good_types[1] FROM outbox WHERE tab = %L), gen_random_uuid(), '{"k": 1}')
                       RETURNING *)
            SELECT id IS NOT NULL AND event_id IS NOT NULL AND created_at = now() AND available_at = now()
                   AND published_at IS NULL AND publish_attempts = 0 AND last_error IS NULL
              FROM i$q$, t, t) INTO r;
        INSERT INTO new_row VALUES (t, r);
    END LOOP;
END
$$;
SELECT ok(n.ok, format('a new %s row is pending, available now, with a fresh event_id and no attempts', n.tab))
  FROM new_row n JOIN outbox o USING (tab) ORDER BY o.n;

-- ---------------------------------------------------------------------------
-- Index use under a realistic shape: many published rows, a few pending.
-- The relay's claim query must use the pending index and the retention
-- delete the published index (3 x 2 = 6 tests).
-- ---------------------------------------------------------------------------
CREATE FUNCTION pg_temp.plan_of(p_query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    l text;
    r text := '';
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || p_query LOOP
        r := r || l || E'\n';
    END LOOP;
    RETURN r;
END
$$;

DO $$
DECLARE
    o record;
BEGIN
    FOR o IN SELECT tab, good_types[1] AS typ FROM outbox ORDER BY n LOOP
        EXECUTE format($q$
            INSERT INTO chargegate.%I (event_type, aggregate_id, payload, created_at, available_at, published_at)
            SELECT %L, gen_random_uuid(), '{}',
                   now() - interval '1 second' * g, now() - interval '1 second' * g,
                   CASE WHEN g %% 2000 = 0 THEN NULL
                        ELSE now() - interval '1 millisecond' * g END
              FROM generate_series(1, 20000) AS g$q$, o.tab, o.typ);
        EXECUTE format('ANALYZE chargegate.%I', o.tab);
    END LOOP;
END
$$;

SELECT matches(
    pg_temp.plan_of(format(
        $q$SELECT id, event_id, event_type, aggregate_id, payload FROM chargegate.%I
            WHERE published_at IS NULL AND available_at <= now()
            ORDER BY available_at, id LIMIT 100 FOR UPDATE SKIP LOCKED$q$, o.tab)),
    format('Index Scan using %s_pending_idx', o.tab),
    format('the relay''s claim query on %s uses %s_pending_idx', o.tab, o.tab))
  FROM outbox o ORDER BY o.n;

SELECT matches(
    pg_temp.plan_of(format(
        $q$SELECT id FROM chargegate.%I
            WHERE published_at IS NOT NULL AND published_at < now() - interval '19.8 seconds'
            ORDER BY published_at LIMIT 1000 FOR UPDATE SKIP LOCKED$q$, o.tab)),
    format('Index (Only )?Scan using %s_published_idx', o.tab),
    format('the retention query on %s uses %s_published_idx', o.tab, o.tab))
  FROM outbox o ORDER BY o.n;

SELECT * FROM finish();
ROLLBACK;

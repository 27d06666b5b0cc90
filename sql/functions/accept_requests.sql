-- chargegate.accept_requests — the API's group commit: accept a batch of
-- validated start-charging-session requests in one transaction.
--
-- Parameters (parallel arrays, one-dimensional, all of the same length;
-- element i of each array is request i):
--   p_station_ids       uuid[]  station_id of each request        (no NULLs)
--   p_driver_tokens     text[]  driver_token of each request      (no NULLs)
--   p_callback_urls     text[]  callback_url of each request      (no NULLs)
--   p_idempotency_keys  text[]  Idempotency-Key header, or NULL for a request
--                               sent without one
--   p_api_key_ids       bigint[] the API key each request came with (NULL
--                               elements, or a NULL array: none); the request
--                               belongs to it, and its Idempotency-Key is
--                               scoped to it
--
-- Returns one row per input element, in input order:
--   ord         1-based position of the element in the arrays
--   request_id  the new request's id ('created'), or the id of the request
--               that first used the same idempotency key ('replayed',
--               'conflict')
--   outcome     'created'  — request row and its StartChargingSessionRequestCommand
--                            were inserted (answer 202)
--               'replayed' — the key was already used with the same API key,
--                            by an earlier transaction or earlier in this batch,
--                            with the same station_id, driver_token and
--                            callback_url (answer 202 with the existing
--                            request_id)
--               'conflict' — the key was already used with the same API key
--                            and a different body (answer 422)
--
-- For each created request it inserts the charging_session_request row
-- (status 'accepted') and its outbox event (event_type
-- 'StartChargingSessionRequestCommand', aggregate_id = request_id, payload
-- {"request_id","station_id","driver_token","callback_url"}).  It sends no
-- NOTIFY: the caller wakes the relays after the commit (see ingest.c).
--
-- Errors (the whole batch is rolled back): arrays of different lengths, NULL or
-- multi-dimensional arrays (SQLSTATE 22023); a value the table constraints
-- reject (23514 check_violation, 23502 not_null_violation) — the caller
-- validates first; an idempotency key whose request was deleted while this
-- call waited for it (40001: retry the batch).
--
-- Concurrency: an element whose key is being inserted by a concurrent,
-- uncommitted transaction waits for it (INSERT … ON CONFLICT).  The existing
-- request is read by a separate statement after the inserts, so in READ
-- COMMITTED it sees that transaction's committed row.  Keys are claimed in
-- sorted order so that two batches sharing keys do not deadlock.
DROP FUNCTION IF EXISTS chargegate.accept_requests(uuid[], text[], text[], text[]);
CREATE OR REPLACE FUNCTION chargegate.accept_requests(
    p_station_ids      uuid[],
    p_driver_tokens    text[],
    p_callback_urls    text[],
    p_idempotency_keys text[],
    p_api_key_ids      bigint[] DEFAULT NULL)
RETURNS TABLE (ord integer, request_id uuid, outcome text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    v_n            integer := cardinality(p_station_ids);
    v_created_ords integer[];
    v_created_ids  uuid[];
    v_ords         integer[];
    v_ids          uuid[];
    v_outcomes     text[];
    v_missing      integer;
BEGIN
    IF p_station_ids IS NULL OR p_driver_tokens IS NULL
       OR p_callback_urls IS NULL OR p_idempotency_keys IS NULL THEN
        RAISE EXCEPTION 'accept_requests: array arguments must not be NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF coalesce(array_ndims(p_station_ids), 1) <> 1
       OR coalesce(array_ndims(p_driver_tokens), 1) <> 1
       OR coalesce(array_ndims(p_callback_urls), 1) <> 1
       OR coalesce(array_ndims(p_idempotency_keys), 1) <> 1 THEN
        RAISE EXCEPTION 'accept_requests: array arguments must be one-dimensional'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(p_driver_tokens) <> v_n
       OR cardinality(p_callback_urls) <> v_n
       OR cardinality(p_idempotency_keys) <> v_n
       OR (p_api_key_ids IS NOT NULL AND cardinality(p_api_key_ids) <> v_n) THEN
        RAISE EXCEPTION 'accept_requests: arrays must have the same length '
                        '(station_ids %, driver_tokens %, callback_urls %, idempotency_keys %, api_key_ids %)',
                        v_n, cardinality(p_driver_tokens),
                        cardinality(p_callback_urls), cardinality(p_idempotency_keys),
                        coalesce(cardinality(p_api_key_ids)::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_n = 0 THEN
        RETURN;
    END IF;

    -- 1. Claim idempotency keys, then insert the request and its command for
    --    every element that owns its key or has none.  One statement; the
    --    request rows satisfy the deferred foreign key at commit.
    WITH input AS MATERIALIZED (
        SELECT u.ord::integer       AS ord,
               chargegate.uuid_v7() AS new_id,
               u.station_id, u.driver_token, u.callback_url, u.idem_key, u.api_key_id
          FROM unnest(p_station_ids, p_driver_tokens, p_callback_urls, p_idempotency_keys,
                      coalesce(p_api_key_ids, '{}'))
               WITH ORDINALITY AS u(station_id, driver_token, callback_url, idem_key, api_key_id, ord)
         WHERE u.ord <= v_n
    ), claimed AS (
        INSERT INTO chargegate.idempotency_key AS k (api_key_id, key, request_id)
        SELECT coalesce(i.api_key_id, 0), i.idem_key, i.new_id
          FROM input i
         WHERE i.idem_key IS NOT NULL
         ORDER BY coalesce(i.api_key_id, 0), i.idem_key, i.ord
            ON CONFLICT (api_key_id, key) DO NOTHING
        RETURNING k.request_id
    ), owners AS MATERIALIZED (
        SELECT i.*
          FROM input i
         WHERE i.idem_key IS NULL
            OR i.new_id IN (SELECT c.request_id FROM claimed c)
    ), requests AS (
        INSERT INTO chargegate.charging_session_request
               (request_id, station_id, driver_token, callback_url, api_key_id)
        SELECT o.new_id, o.station_id, o.driver_token, o.callback_url, o.api_key_id
          FROM owners o
         ORDER BY o.ord
    ), commands AS (
        INSERT INTO chargegate.charging_session_request_outbox
               (event_type, aggregate_id, payload)
        SELECT 'StartChargingSessionRequestCommand', o.new_id,
               jsonb_build_object('request_id',   o.new_id::text,
                                  'station_id',   o.station_id::text,
                                  'driver_token', o.driver_token,
                                  'callback_url', o.callback_url)
          FROM owners o
         ORDER BY o.ord
    )
    SELECT array_agg(o.ord ORDER BY o.ord), array_agg(o.new_id ORDER BY o.ord)
      INTO v_created_ords, v_created_ids
      FROM owners o;

    -- 2. A separate statement (a fresh snapshot in READ COMMITTED) reads the
    --    request behind every key this call did not claim: it sees keys
    --    committed by concurrent transactions we waited for in step 1, and
    --    keys claimed earlier in this batch.
    --    Created elements skip the lookup (a one-time filter in the lateral
    --    subquery), so a batch of new requests costs no index probes here.
    SELECT array_agg(u.ord::integer ORDER BY u.ord),
           array_agg(coalesce(c.id, e.request_id) ORDER BY u.ord),
           array_agg(CASE
                         WHEN c.id IS NOT NULL THEN 'created'
                         WHEN e.request_id IS NULL THEN NULL
                         WHEN e.station_id = u.station_id
                          AND e.driver_token = u.driver_token
                          AND e.callback_url = u.callback_url THEN 'replayed'
                         ELSE 'conflict'
                     END ORDER BY u.ord)
      INTO v_ords, v_ids, v_outcomes
      FROM unnest(p_station_ids, p_driver_tokens, p_callback_urls, p_idempotency_keys,
                  coalesce(p_api_key_ids, '{}'))
           WITH ORDINALITY AS u(station_id, driver_token, callback_url, idem_key, api_key_id, ord)
      LEFT JOIN unnest(v_created_ords, v_created_ids) AS c(ord, id)
             ON c.ord = u.ord
      LEFT JOIN LATERAL (
               SELECT r.request_id, r.station_id, r.driver_token, r.callback_url
                 FROM chargegate.idempotency_key k
                 JOIN chargegate.charging_session_request r ON r.request_id = k.request_id
                WHERE c.id IS NULL AND k.api_key_id = coalesce(u.api_key_id, 0) AND k.key = u.idem_key
           ) AS e ON true
     WHERE u.ord <= v_n;

    v_missing := array_position(v_outcomes, NULL);
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'accept_requests: idempotency key of element % vanished while waiting for a concurrent transaction',
                        v_ords[v_missing]
            USING ERRCODE = 'serialization_failure',
                  HINT = 'Retry the batch.';
    END IF;

    -- No NOTIFY here: NOTIFY takes a cluster-wide lock at commit, which would
    -- serialise every group commit.  The daemon wakes the relays after the
    -- commit, from a separate small transaction.

    RETURN QUERY
        SELECT t.ord, t.id, t.outcome
          FROM unnest(v_ords, v_ids, v_outcomes) AS t(ord, id, outcome);
END;
$function$;

COMMENT ON FUNCTION chargegate.accept_requests(uuid[], text[], text[], text[], bigint[]) IS
    'Group commit of the API: accepts a batch of validated requests (parallel arrays, element i = '
    'request i, idempotency key and API key may be NULL); returns (ord, request_id, outcome) per element '
    'with outcome created, replayed or conflict. See sql/functions/accept_requests.sql.';

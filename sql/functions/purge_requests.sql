-- chargegate.purge_requests(p_retention_ms bigint, p_limit integer, p_wait boolean DEFAULT false)
--     → TABLE (table_name text, deleted bigint)
--
-- Request retention (DESIGN §6, request.retention): deletes up to p_limit
-- requests that are over (delivered or delivery_failed) and have not changed
-- for p_retention_ms milliseconds, with everything that hangs off them:
-- their authorization audit rows, callback delivery attempts, failure-notice
-- attempts and idempotency keys (the key's foreign key cascades).  Requests still on their
-- way (accepted, decided) stay, however old.  API keys stay: a revoked key's
-- row is small and names who made the requests that are left.
--
-- One daemon at a time does this work (the retention duty, an advisory
-- lock): another caller returns no rows at once, or with p_wait waits for
-- its turn (chargegatectl purge).  Call it again while the request count
-- equals p_limit.
CREATE OR REPLACE FUNCTION chargegate.purge_requests(p_retention_ms bigint, p_limit integer,
                                                     p_wait boolean DEFAULT false)
RETURNS TABLE (table_name text, deleted bigint)
LANGUAGE plpgsql
VOLATILE
-- the owner's rights: chargegate_app deletes only through retention (sql/after/grants.sql)
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_cutoff timestamptz := now() - make_interval(secs => p_retention_ms / 1000.0);
    v_ids    uuid[];
    v_n      bigint;
BEGIN
    IF p_retention_ms IS NULL OR p_retention_ms < 0 OR p_limit IS NULL OR p_limit < 1 THEN
        RAISE EXCEPTION 'purge_requests: retention must be >= 0 and limit positive (got %, %)',
                        p_retention_ms, p_limit
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_wait THEN
        PERFORM pg_advisory_xact_lock(7238141033);
    ELSIF NOT pg_try_advisory_xact_lock(7238141033) THEN
        RETURN;
    END IF;

    SELECT array_agg(r.request_id) INTO v_ids
      FROM (SELECT q.request_id FROM chargegate.charging_session_request q
             WHERE q.status IN ('delivered', 'delivery_failed') AND q.updated_at < v_cutoff
             ORDER BY q.updated_at LIMIT p_limit
               FOR UPDATE SKIP LOCKED) r;
    v_ids := coalesce(v_ids, '{}');

    DELETE FROM chargegate.authorization_audit a WHERE a.request_id = ANY (v_ids);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    table_name := 'authorization_audit'; deleted := v_n; RETURN NEXT;

    DELETE FROM chargegate.callback_delivery_attempt c WHERE c.request_id = ANY (v_ids);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    table_name := 'callback_delivery_attempt'; deleted := v_n; RETURN NEXT;

    DELETE FROM chargegate.failure_notice_attempt f WHERE f.request_id = ANY (v_ids);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    table_name := 'failure_notice_attempt'; deleted := v_n; RETURN NEXT;

    DELETE FROM chargegate.idempotency_key k WHERE k.request_id = ANY (v_ids);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    table_name := 'idempotency_key'; deleted := v_n; RETURN NEXT;

    DELETE FROM chargegate.charging_session_request q WHERE q.request_id = ANY (v_ids);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    table_name := 'charging_session_request'; deleted := v_n; RETURN NEXT;
END;
$function$;

COMMENT ON FUNCTION chargegate.purge_requests(bigint, integer, boolean) IS
    'Request retention: deletes up to p_limit finished requests unchanged for p_retention_ms, with their '
    'audit rows, delivery attempts and idempotency keys; one caller at a time. '
    'See sql/functions/purge_requests.sql.';

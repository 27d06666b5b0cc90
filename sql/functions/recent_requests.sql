-- chargegate.recent_requests(p_limit integer) → jsonb
--
-- The newest p_limit requests (1 to 1000), newest first, as a JSON array of
-- {"request_id", "station_id", "status", "decision", "attempts",
--  "created_at", "updated_at"} — for the status page and operators.  Never
-- the driver token or the callback URL's secrets: the URL is in
-- request_story() only.  Request ids are time-ordered (UUID v7, migration
-- 006), so the primary key finds the newest without a scan.
CREATE OR REPLACE FUNCTION chargegate.recent_requests(p_limit integer)
RETURNS jsonb
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'request_id', r.request_id, 'station_id', r.station_id, 'status', r.status,
               'decision', r.decision, 'attempts', r.callback_attempts,
               'created_at', r.created_at, 'updated_at', r.updated_at)
           ORDER BY r.created_at DESC, r.request_id DESC), '[]')
      FROM (SELECT * FROM chargegate.charging_session_request
             ORDER BY request_id DESC
             LIMIT least(greatest(coalesce(p_limit, 20), 1), 1000)) r;
$function$;

COMMENT ON FUNCTION chargegate.recent_requests(integer) IS
    'The newest requests (at most 1000) with status, decision and callback attempts, as a JSON array.';

-- chargegate.schedule_callback_retries(p_items jsonb) → integer
--
-- The retry scheduler's writes: for each CallbackFailed that is not final,
-- one CallbackRetryRequested in callback_retry_outbox whose available_at is
-- the failure's next_attempt_at — the relay publishes it only then, so the
-- delay lives in the database and survives restarts.  p_items is a JSON
-- array of CallbackFailed payloads; final ones are ignored.
CREATE OR REPLACE FUNCTION chargegate.schedule_callback_retries(p_items jsonb)
RETURNS integer
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH retries AS (
        INSERT INTO chargegate.callback_retry_outbox (event_type, aggregate_id, payload, available_at)
        SELECT 'CallbackRetryRequested', (x ->> 'request_id')::uuid,
               jsonb_build_object('request_id', x -> 'request_id', 'webhook_id', x -> 'webhook_id',
                                  'attempt', (x ->> 'attempt')::integer + 1,
                                  'callback_url', x -> 'callback_url', 'station_id', x -> 'station_id',
                                  'driver_token', x -> 'driver_token', 'status', x -> 'status')
                 || CASE WHEN x ? 'reason' THEN jsonb_build_object('reason', x -> 'reason') ELSE '{}' END,
               coalesce((x ->> 'next_attempt_at')::timestamptz, now())
          FROM jsonb_array_elements(p_items) AS x
         WHERE NOT coalesce((x ->> 'final')::boolean, true)
        RETURNING 1
    )
    SELECT count(*)::integer FROM retries;
$function$;

COMMENT ON FUNCTION chargegate.schedule_callback_retries(jsonb) IS
    'Retry scheduler: a delayed CallbackRetryRequested for every non-final CallbackFailed.';

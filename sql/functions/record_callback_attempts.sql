-- chargegate.record_callback_attempts(p_items jsonb) → integer
--
-- The Notification context's writes for a batch of callback attempts: one
-- callback_delivery_attempt row each, and the outcome event in
-- callback_delivery_outbox — CallbackDeliverySucceeded, or CallbackFailed
-- carrying what a retry needs (the callback's content, the attempt number,
-- the error class, next_attempt_at or final).  p_items is a JSON array of
-- objects: request_id, webhook_id, attempt, callback_url, station_id,
-- driver_token, status, reason, http_status, latency_ms, error_class,
-- response_body, error_detail, success, final, next_attempt_in_ms.  A final
-- CallbackFailed also carries what the operator's failure notice reports
-- (callback.failure_url): detail (the answer's start, or the transport
-- error) and failed_at.  The next attempt's
-- time is now() + next_attempt_in_ms: the database's clock, the one the
-- relay compares it with, whatever the clock of the daemon that sent it.
CREATE OR REPLACE FUNCTION chargegate.record_callback_attempts(p_items jsonb)
RETURNS integer
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH items AS (
        SELECT * FROM jsonb_to_recordset(p_items) AS x(
            request_id uuid, webhook_id uuid, attempt integer, callback_url text, station_id text,
            driver_token text, status text, reason text, http_status integer, latency_ms integer,
            error_class text, response_body text, error_detail text, success boolean, final boolean,
            next_attempt_in_ms bigint)
    ), timed AS (
        SELECT i.*, now() + make_interval(secs => i.next_attempt_in_ms / 1000.0) AS next_attempt_at
          FROM items i
    ), attempts AS (
        INSERT INTO chargegate.callback_delivery_attempt
               (request_id, webhook_id, attempt, callback_url, http_status, latency_ms, error_class,
                response_body, final, next_attempt_at)
        SELECT request_id, webhook_id, attempt, callback_url, http_status, latency_ms, error_class,
               left(response_body, 4096), final, next_attempt_at
          FROM timed
    ), events AS (
        INSERT INTO chargegate.callback_delivery_outbox (event_type, aggregate_id, payload)
        SELECT CASE WHEN success THEN 'CallbackDeliverySucceeded' ELSE 'CallbackFailed' END, request_id,
               jsonb_strip_nulls(jsonb_build_object(
                   'request_id', request_id, 'webhook_id', webhook_id, 'attempt', attempt,
                   'http_status', http_status, 'error_class', error_class, 'final', final,
                   'next_attempt_at', next_attempt_at, 'callback_url', callback_url,
                   'station_id', station_id, 'driver_token', driver_token, 'status', status,
                   'reason', reason)
                   || CASE WHEN final AND NOT success THEN jsonb_strip_nulls(jsonb_build_object(
                          'detail', left(coalesce(response_body, error_detail), 1024), 'failed_at', now()))
                      ELSE '{}' END)
          FROM timed
        RETURNING 1
    )
    SELECT count(*)::integer FROM events;
$function$;

COMMENT ON FUNCTION chargegate.record_callback_attempts(jsonb) IS
    'Notification: delivery-attempt rows and CallbackDeliverySucceeded/CallbackFailed events for a batch.';

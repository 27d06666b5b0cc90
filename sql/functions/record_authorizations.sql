-- chargegate.record_authorizations(p_items jsonb) → integer
--
-- The Authorization worker's writes for a batch of decisions, committed with
-- the batch's acknowledgement: one authorization_audit row and one
-- AuthorizationDecisionCallback in authorization_decision_callback_outbox per
-- item.  p_items is a JSON array of objects with request_id, event_id,
-- station_id, driver_token, callback_url, decision, reason, sent, http_status,
-- response, latency_ms, cause.  Returns the number of items recorded.
CREATE OR REPLACE FUNCTION chargegate.record_authorizations(p_items jsonb)
RETURNS integer
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH items AS (
        SELECT * FROM jsonb_to_recordset(p_items) AS x(
            request_id uuid, event_id uuid, station_id text, driver_token text, callback_url text,
            decision text, reason text, sent jsonb, http_status integer, response text,
            latency_ms integer, cause text)
    ), audit AS (
        INSERT INTO chargegate.authorization_audit
               (request_id, event_id, sent, http_status, response, decision, reason, latency_ms, cause)
        SELECT request_id, event_id, sent, http_status, left(response, 4096), decision, reason, latency_ms, cause
          FROM items
    ), events AS (
        INSERT INTO chargegate.authorization_decision_callback_outbox (event_type, aggregate_id, payload)
        SELECT 'AuthorizationDecisionCallback', request_id,
               jsonb_strip_nulls(jsonb_build_object(
                   'request_id', request_id, 'station_id', station_id, 'driver_token', driver_token,
                   'callback_url', callback_url, 'status', decision, 'reason', reason))
          FROM items
        RETURNING 1
    )
    SELECT count(*)::integer FROM events;
$function$;

COMMENT ON FUNCTION chargegate.record_authorizations(jsonb) IS
    'Authorization worker: audit rows and AuthorizationDecisionCallback events for a batch of decisions.';

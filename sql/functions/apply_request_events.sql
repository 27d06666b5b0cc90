-- chargegate.apply_request_events(p_items jsonb) → integer
--
-- The ChargingSessionRequest context keeps each request's status current from
-- the events it consumes.  p_items is a JSON array of objects with
-- event_type and the event's payload members (request_id, status, reason,
-- attempt, final):
--   AuthorizationDecisionCallback  accepted → decided, with decision and reason
--   CallbackDeliverySucceeded      → delivered
--   CallbackFailed, final          → delivery_failed
--   CallbackFailed, not final      status unchanged
-- callback_attempts becomes the highest attempt seen.  Events may arrive in
-- any order across topics: a request never moves back from delivered or
-- delivery_failed, and a delivery event sets the decision if it came first.
CREATE OR REPLACE FUNCTION chargegate.apply_request_events(p_items jsonb)
RETURNS integer
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH items AS (
        SELECT * FROM jsonb_to_recordset(p_items) AS x(
            event_type text, request_id uuid, status text, reason text, attempt integer, final boolean)
    ), per_request AS (
        SELECT request_id,
               max(status) FILTER (WHERE status IS NOT NULL) AS decision,
               max(reason) AS reason,
               coalesce(max(attempt), 0) AS attempts,
               bool_or(event_type = 'CallbackDeliverySucceeded') AS delivered,
               bool_or(event_type = 'CallbackFailed' AND coalesce(final, false)) AS failed
          FROM items GROUP BY request_id
    ), updated AS (
        -- The new values are computed from r inside the UPDATE, not from a
        -- snapshot taken before it: when a concurrent transaction (the other
        -- topic's consumer) changed the row meanwhile, the UPDATE re-reads
        -- the committed row, so a decision applied after a delivery can never
        -- move the request back to decided.  A redelivered event that
        -- changes nothing leaves the row (and updated_at) alone.
        UPDATE chargegate.charging_session_request r
           SET decision = coalesce(r.decision, p.decision),
               decision_reason = coalesce(r.decision_reason, p.reason),
               callback_attempts = greatest(r.callback_attempts, p.attempts),
               status = CASE
                   WHEN r.status IN ('delivered', 'delivery_failed') THEN r.status
                   WHEN p.delivered THEN 'delivered'
                   WHEN p.failed THEN 'delivery_failed'
                   WHEN coalesce(r.decision, p.decision) IS NOT NULL THEN 'decided'
                   ELSE r.status END,
               updated_at = now()
          FROM per_request p
         WHERE r.request_id = p.request_id
           AND (r.decision IS NULL AND p.decision IS NOT NULL
                OR r.decision_reason IS NULL AND p.reason IS NOT NULL
                OR p.attempts > r.callback_attempts
                OR r.status NOT IN ('delivered', 'delivery_failed')
                   AND (p.delivered OR p.failed
                        OR r.status = 'accepted' AND coalesce(r.decision, p.decision) IS NOT NULL))
        RETURNING 1
    )
    SELECT count(*)::integer FROM updated;
$function$;

COMMENT ON FUNCTION chargegate.apply_request_events(jsonb) IS
    'Request status: applies decision and delivery events to charging_session_request.';

-- chargegate.request_story(p_request_id uuid) → jsonb
--
-- One request's whole story for an operator (chargegatectl requests show,
-- the status page), NULL when the request is unknown (or purged):
--   {"request": {request_id, station_id, status, decision, reason, attempts,
--                created_at, updated_at, callback_url},
--    "timeline": [{"at", "event", ...details}]}   in time order:
--   accepted          the request row was committed (the 202)
--   relayed           an outbox event was handed to its topic: outbox,
--                     event_type, event_id, queued_at
--   pending           an outbox event not relayed yet (a delayed retry is
--                     pending until its time): outbox, event_type, event_id
--   authorization     the answer of the authorization service: decision,
--                     reason, http_status, latency_ms (of the call), cause
--   callback_attempt  one POST to the callback URL: attempt, http_status,
--                     latency_ms, error_class, final, next_attempt_at,
--                     response (its first 200 characters)
--   delivered | delivery_failed   the final state
--   failure_notice_attempt  one POST of the CallbackDeliveryFailed notice
--                     to callback.failure_url: attempt, http_status,
--                     latency_ms, error_class, final (the notice accepted or
--                     given up), webhook_id (the notice's, the same on every
--                     attempt), response (its first 200 characters); it
--                     follows the final callback attempt, and usually the
--                     final state (whose row another consumer updates)
-- Outbox events are kept for queue.retention only; audit rows and attempts
-- as long as the request.  The outboxes have no index on aggregate_id (one
-- would cost every request), so only their unpublished rows (the pending
-- index) and the rows published while the request was open (the published
-- index: from a minute before it was accepted to a minute after its final
-- state, or until now) are searched.  Never the driver token, what was sent to the
-- authorization service or its raw answer (they carry the token), nor any
-- key or secret: not callback.failure_url either, which may carry
-- credentials and is the operator's configuration, not the request's.
-- JIT off: the planner cannot know how narrow the published_at ranges are and
-- would compile the query (~200 ms) to save microseconds.
CREATE OR REPLACE FUNCTION chargegate.request_story(p_request_id uuid)
RETURNS jsonb
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $function$
    WITH r AS (
        SELECT * FROM chargegate.charging_session_request WHERE request_id = p_request_id
    ), span AS (
        -- when the request's events can have been published (see above)
        SELECT created_at - interval '1 minute' AS lo,
               CASE WHEN status IN ('delivered', 'delivery_failed') THEN updated_at + interval '1 minute'
                    ELSE 'infinity' END AS hi
          FROM r
    ), outbox_rows AS (
        SELECT 'charging_session_request_outbox' AS outbox, event_id, event_type, created_at, available_at,
               published_at
          FROM span, chargegate.charging_session_request_outbox
         WHERE aggregate_id = p_request_id AND (published_at IS NULL OR published_at BETWEEN span.lo AND span.hi)
        UNION ALL
        SELECT 'authorization_decision_callback_outbox', event_id, event_type, created_at, available_at,
               published_at
          FROM span, chargegate.authorization_decision_callback_outbox
         WHERE aggregate_id = p_request_id AND (published_at IS NULL OR published_at BETWEEN span.lo AND span.hi)
        UNION ALL
        SELECT 'callback_delivery_outbox', event_id, event_type, created_at, available_at, published_at
          FROM span, chargegate.callback_delivery_outbox
         WHERE aggregate_id = p_request_id AND (published_at IS NULL OR published_at BETWEEN span.lo AND span.hi)
        UNION ALL
        SELECT 'callback_retry_outbox', event_id, event_type, created_at, available_at, published_at
          FROM span, chargegate.callback_retry_outbox
         WHERE aggregate_id = p_request_id AND (published_at IS NULL OR published_at BETWEEN span.lo AND span.hi)
    ), events (at, seq, id, entry) AS (
        SELECT created_at, 0, 0::bigint, jsonb_build_object('event', 'accepted') FROM r
        UNION ALL
        SELECT coalesce(published_at, available_at), 1, 0,
               jsonb_build_object('event', CASE WHEN published_at IS NULL THEN 'pending' ELSE 'relayed' END,
                                  'outbox', outbox, 'event_type', event_type, 'event_id', event_id,
                                  'queued_at', created_at)
          FROM outbox_rows
        UNION ALL
        SELECT created_at, 2, id,
               jsonb_build_object('event', 'authorization', 'decision', decision, 'reason', reason,
                                  'http_status', http_status, 'latency_ms', latency_ms, 'cause', cause)
          FROM chargegate.authorization_audit WHERE request_id = p_request_id
        UNION ALL
        SELECT created_at, 3, id,
               jsonb_build_object('event', 'callback_attempt', 'attempt', attempt, 'http_status', http_status,
                                  'latency_ms', latency_ms, 'error_class', error_class, 'final', final,
                                  'next_attempt_at', next_attempt_at, 'response', left(response_body, 200))
          FROM chargegate.callback_delivery_attempt WHERE request_id = p_request_id
        UNION ALL
        SELECT updated_at, 4, 0, jsonb_build_object('event', status)
          FROM r WHERE status IN ('delivered', 'delivery_failed')
        UNION ALL
        SELECT created_at, 5, id,
               jsonb_build_object('event', 'failure_notice_attempt', 'attempt', attempt,
                                  'http_status', http_status, 'latency_ms', latency_ms,
                                  'error_class', error_class, 'final', final, 'webhook_id', webhook_id,
                                  'response', left(response_body, 200))
          FROM chargegate.failure_notice_attempt WHERE request_id = p_request_id
    )
    SELECT jsonb_build_object(
               'request', jsonb_build_object(
                   'request_id', r.request_id, 'station_id', r.station_id, 'status', r.status,
                   'decision', r.decision, 'reason', r.decision_reason, 'attempts', r.callback_attempts,
                   'created_at', r.created_at, 'updated_at', r.updated_at, 'callback_url', r.callback_url),
               'timeline', (SELECT coalesce(jsonb_agg(jsonb_build_object('at', e.at) || e.entry
                                                      ORDER BY e.at, e.seq, e.id), '[]')
                              FROM events e))
      FROM r;
$function$;

COMMENT ON FUNCTION chargegate.request_story(uuid) IS
    'One request''s story in time order (accepted, relayed, authorization, callback attempts, final state, '
    'failure notice attempts) '
    'as JSON; NULL when unknown.  Never the driver token or secrets.';

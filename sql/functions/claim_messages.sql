-- chargegate.claim_messages(p_subscription, p_owner, p_limit, p_lease_ms)
--
-- Leases up to p_limit due messages of a subscription to p_owner for
-- p_lease_ms milliseconds: rows that are ready and due, or leased with an
-- expired lease (their consumer died or stalled).  FOR UPDATE SKIP LOCKED lets
-- any number of consumers claim concurrently without ever receiving the same
-- row.  Each claim increments attempts and the fencing counter; the caller
-- acknowledges with (message_id, fence).  Returns the leased messages in
-- publication order; handled is true for an event this subscription already
-- handled (a duplicate delivery), which the consumer acknowledges unhandled.
CREATE OR REPLACE FUNCTION chargegate.claim_messages(
    p_subscription text, p_owner text, p_limit integer, p_lease_ms integer)
RETURNS TABLE (message_id bigint, fence bigint, attempts integer, event_id uuid, event_type text,
               aggregate_id uuid, payload jsonb, published_at timestamptz, handled boolean)
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH due AS (
        SELECT sm.message_id, sm.state
          FROM chargegate.subscription_message sm
         WHERE sm.subscription = p_subscription
           AND sm.state IN ('ready', 'leased')
           AND sm.available_at <= now()
         ORDER BY sm.available_at
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    ), leased AS (
        UPDATE chargegate.subscription_message sm
           SET state = 'leased',
               lease_owner = p_owner,
               available_at = now() + make_interval(secs => p_lease_ms / 1000.0),
               fence = sm.fence + 1,
               attempts = sm.attempts + 1,
               last_error = CASE WHEN d.state = 'leased'
                                 THEN 'lease of ' || sm.lease_owner || ' expired'
                                 ELSE sm.last_error END
          FROM due d
         WHERE sm.subscription = p_subscription AND sm.message_id = d.message_id
        RETURNING sm.message_id, sm.fence, sm.attempts
    )
    SELECT l.message_id, l.fence, l.attempts, m.event_id, m.event_type, m.aggregate_id, m.payload,
           m.published_at,
           EXISTS (SELECT 1 FROM chargegate.handled_event h
                    WHERE h.subscription = p_subscription AND h.event_id = m.event_id)
      FROM leased l JOIN chargegate.topic_message m ON m.id = l.message_id
     ORDER BY m.id;
$function$;

COMMENT ON FUNCTION chargegate.claim_messages(text, text, integer, integer) IS
    'Leases up to p_limit due messages of a subscription to a consumer (SKIP LOCKED; fenced).';

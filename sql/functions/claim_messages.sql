-- chargegate.claim_messages(p_subscription, p_owner, p_limit, p_lease_ms)
--
-- Leases due batches of a subscription to p_owner for p_lease_ms
-- milliseconds: batches that are ready and due, or leased with an expired
-- lease (their consumer died or stalled), in due order, as many as fit in
-- p_limit messages.  A first batch larger than p_limit is cut: its first
-- p_limit messages are leased, the rest becomes a ready batch of its own
-- (same attempts and age) — a consumer claims no more than it can handle,
-- so what it cannot start waits here, not in its memory.  FOR UPDATE SKIP LOCKED lets any
-- number of consumers claim concurrently without ever receiving the same
-- batch.  Each claim increments attempts and the fencing counter; the caller
-- settles with (batch_id, fence).  Returns one row per message, in
-- publication order; handled is true for an event this subscription already
-- handled (a duplicate delivery), which the consumer acknowledges unhandled;
-- age_ms is how long ago the message was published, by the database's
-- clock (a consumer's own clock may be off).
DROP FUNCTION IF EXISTS chargegate.claim_messages(text, text, integer, integer);
CREATE OR REPLACE FUNCTION chargegate.claim_messages(
    p_subscription text, p_owner text, p_limit integer, p_lease_ms integer)
RETURNS TABLE (batch_id bigint, fence bigint, attempts integer, message_id bigint, event_id uuid,
               event_type text, aggregate_id uuid, payload jsonb, published_at timestamptz, handled boolean,
               age_ms bigint)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF p_limit IS NULL OR p_limit < 1 THEN
        RAISE EXCEPTION 'claim_messages: limit must be positive, got %', p_limit
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A lease lost in a crash only makes the message claimable again, so the
    -- claim need not wait for a WAL flush (the settle transaction does).
    PERFORM set_config('synchronous_commit', 'off', true);
    -- EXECUTE plans with the actual values: a generic plan cannot see the
    -- LIMIT and may sort the whole backlog instead of walking the index.
    RETURN QUERY EXECUTE $sql$
    WITH due AS (
        SELECT b.ctid AS row_id, b.id, b.state, b.available_at, cardinality(b.message_ids) AS n
          FROM chargegate.subscription_batch b
         WHERE b.subscription = $1
           AND b.state IN ('ready', 'leased')
           AND b.available_at <= now()
         ORDER BY b.available_at
         LIMIT $3
           FOR UPDATE SKIP LOCKED
    ), picked AS (
        SELECT d.row_id, d.state, d.running = d.n AND d.n > $3 AS cut FROM (
            SELECT d.*, sum(d.n) OVER (ORDER BY d.available_at, d.id) AS running FROM due d
        ) d
         WHERE d.running <= $3 OR d.running = d.n  -- what fits, and the first batch (cut to fit)
    ), rest AS (
        INSERT INTO chargegate.subscription_batch
               (subscription, message_ids, oldest_message_id, state, available_at, attempts, last_error, created_at)
        SELECT b.subscription, b.message_ids[$3 + 1:], b.message_ids[$3 + 1], 'ready', now(), b.attempts,
               b.last_error, b.created_at
          FROM picked p JOIN chargegate.subscription_batch b ON b.ctid = p.row_id
         WHERE p.cut
    ), leased AS (
        UPDATE chargegate.subscription_batch b
           SET message_ids = CASE WHEN p.cut THEN b.message_ids[1:$3] ELSE b.message_ids END,
               state = 'leased',
               lease_owner = $2,
               available_at = now() + make_interval(secs => $4 / 1000.0),
               fence = b.fence + 1,
               attempts = b.attempts + 1,
               last_error = CASE WHEN p.state = 'leased'
                                 THEN 'lease of ' || b.lease_owner || ' expired'
                                 ELSE b.last_error END
          FROM picked p
         WHERE b.ctid = p.row_id
        RETURNING b.id, b.fence, b.attempts, b.message_ids
    )
    SELECT l.id, l.fence, l.attempts, m.id, m.event_id, m.event_type, m.aggregate_id, m.payload,
           m.published_at,
           -- only a batch delivered before can hold an event handled already
           -- (a settle that failed after a concurrent duplicate): skip the
           -- probe on first deliveries, the common case
           CASE WHEN l.attempts > 1
                THEN EXISTS (SELECT 1 FROM chargegate.handled_event h
                              WHERE h.subscription = $1 AND h.event_id = m.event_id)
                ELSE false END,
           greatest(floor(extract(epoch FROM now() - m.published_at) * 1000), 0)::bigint
      FROM leased l
      CROSS JOIN LATERAL unnest(l.message_ids) AS u(message_id)
      JOIN chargegate.topic_message m ON m.id = u.message_id
     ORDER BY m.id
    $sql$ USING p_subscription, p_owner, p_limit, p_lease_ms;
END;
$function$;

COMMENT ON FUNCTION chargegate.claim_messages(text, text, integer, integer) IS
    'Leases due batches of a subscription, up to p_limit messages, to a consumer (SKIP LOCKED; fenced).';

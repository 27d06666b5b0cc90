-- chargegate.purge_expired(p_retention_ms bigint, p_limit integer)
--     → TABLE (table_name text, deleted bigint)
--
-- Retention (DESIGN §2.6): deletes, in bounded batches of at most p_limit rows
-- per table, what is done and older than p_retention_ms milliseconds —
-- published outbox rows, topic messages no subscription still holds
-- (pending, leased or dead rows keep theirs; acknowledged ones are deleted at
-- acknowledgement), and handled event ids.  A handled event id stays as long
-- as its message is still on the topic (another subscription may still hold
-- it, and it could be delivered again), whatever the retention: it is what
-- keeps a redelivered event from being handled twice.  Requests, their
-- idempotency keys and dead letters are never removed here (idempotency keys
-- live as long as their request).  Call it again while any count equals
-- p_limit; the daemon does so every few seconds.
CREATE OR REPLACE FUNCTION chargegate.purge_expired(p_retention_ms bigint, p_limit integer)
RETURNS TABLE (table_name text, deleted bigint)
LANGUAGE plpgsql
VOLATILE
-- the owner's rights: chargegate_app deletes only through retention (sql/after/grants.sql)
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_cutoff timestamptz := now() - make_interval(secs => p_retention_ms / 1000.0);
    v_outbox text;
    v_n      bigint;
BEGIN
    IF p_retention_ms IS NULL OR p_retention_ms < 0 OR p_limit IS NULL OR p_limit < 1 THEN
        RAISE EXCEPTION 'purge_expired: retention must be >= 0 and limit positive (got %, %)',
                        p_retention_ms, p_limit
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    FOR v_outbox IN SELECT o.name FROM chargegate.outbox o ORDER BY o.name LOOP
        EXECUTE format($sql$
            WITH doomed AS (
                SELECT o.id FROM chargegate.%1$I o
                 WHERE o.published_at IS NOT NULL AND o.published_at < $1
                 ORDER BY o.published_at LIMIT $2
                   FOR UPDATE SKIP LOCKED
            ), gone AS (
                DELETE FROM chargegate.%1$I o USING doomed d WHERE o.id = d.id RETURNING 1
            )
            SELECT count(*) FROM gone
        $sql$, v_outbox) INTO v_n USING v_cutoff, p_limit;
        table_name := v_outbox; deleted := v_n; RETURN NEXT;
    END LOOP;

    WITH doomed AS (
        SELECT m.id FROM chargegate.topic_message m
         WHERE m.published_at < v_cutoff
           -- no batch (pending, leased, retrying or dead) still delivers it; only
           -- batches at least as old as the message can, found by their oldest id
           AND NOT EXISTS (SELECT 1 FROM chargegate.subscription_batch b
                            WHERE b.oldest_message_id <= m.id AND m.id = ANY (b.message_ids))
         ORDER BY m.published_at LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM chargegate.topic_message m USING doomed d WHERE m.id = d.id RETURNING 1
    )
    SELECT count(*) INTO v_n FROM gone;
    table_name := 'topic_message'; deleted := v_n; RETURN NEXT;

    -- after the topic messages: what was purged above frees its handled ids
    WITH doomed AS (
        SELECT h.subscription, h.event_id FROM chargegate.handled_event h
         WHERE h.handled_at < v_cutoff
           AND NOT EXISTS (SELECT 1 FROM chargegate.subscription s
                             JOIN chargegate.topic_message m ON m.topic = s.topic AND m.event_id = h.event_id
                            WHERE s.name = h.subscription)
         ORDER BY h.handled_at LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM chargegate.handled_event h USING doomed d
         WHERE h.subscription = d.subscription AND h.event_id = d.event_id
        RETURNING 1
    )
    SELECT count(*) INTO v_n FROM gone;
    table_name := 'handled_event'; deleted := v_n; RETURN NEXT;
END;
$function$;

COMMENT ON FUNCTION chargegate.purge_expired(bigint, integer) IS
    'Retention: deletes up to p_limit done rows per table older than p_retention_ms; returns counts.';

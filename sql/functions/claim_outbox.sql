-- chargegate.claim_outbox(p_outbox text, p_owner text, p_limit integer, p_lease_ms integer)
--     → TABLE (id bigint, event_id uuid, event_type text, aggregate_id uuid, payload jsonb, topic text)
--
-- The claim of the Kafka transport's relay: leases up to p_limit due,
-- unpublished rows of the outbox table p_outbox to p_owner for p_lease_ms
-- milliseconds and returns them in claim order with the outbox's topic.  A
-- row is due when published_at IS NULL, available_at <= now() and it holds no
-- live lease.  Candidates are locked FOR UPDATE SKIP LOCKED, and the lease
-- insert decides races: a concurrent relay that also picked a row finds the
-- other's lease (ON CONFLICT) and does not return it.  The relay later calls
-- mark_published or record_publish_error.
DROP FUNCTION IF EXISTS chargegate.claim_outbox(text, text, integer, integer);
CREATE OR REPLACE FUNCTION chargegate.claim_outbox(
    p_outbox text, p_owner text, p_limit integer, p_lease_ms integer)
RETURNS TABLE (id bigint, event_id uuid, event_type text, aggregate_id uuid, payload jsonb, topic text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_topic text;
BEGIN
    SELECT o.topic INTO v_topic FROM chargegate.outbox o WHERE o.name = p_outbox;
    IF v_topic IS NULL THEN
        RAISE EXCEPTION 'claim_outbox: unknown outbox "%"', p_outbox
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_limit IS NULL OR p_limit < 1 OR p_lease_ms IS NULL OR p_lease_ms < 1 THEN
        RAISE EXCEPTION 'claim_outbox: limit and lease must be positive, got % and %', p_limit, p_lease_ms
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- a lease lost in a crash only delays the row by the lease
    PERFORM set_config('synchronous_commit', 'off', true);
    RETURN QUERY EXECUTE format($sql$
        WITH candidates AS (
            SELECT o.id FROM chargegate.%1$I o
             WHERE o.published_at IS NULL AND o.available_at <= now()
               AND NOT EXISTS (SELECT 1 FROM chargegate.outbox_lease l
                                WHERE l.outbox = $1 AND l.row_id = o.id AND l.expires_at > now())
             ORDER BY o.available_at, o.id
             LIMIT $3
               FOR UPDATE SKIP LOCKED
        ), leased AS (
            INSERT INTO chargegate.outbox_lease AS l (outbox, row_id, owner, expires_at)
            SELECT $1, c.id, $2, now() + make_interval(secs => $4 / 1000.0) FROM candidates c
            ON CONFLICT (outbox, row_id) DO UPDATE
               SET owner = excluded.owner, claimed_at = now(), expires_at = excluded.expires_at
             WHERE l.expires_at <= now()
            RETURNING l.row_id
        )
        SELECT o.id, o.event_id, o.event_type, o.aggregate_id, o.payload, $5
          FROM chargegate.%1$I o JOIN leased l ON l.row_id = o.id
         ORDER BY o.available_at, o.id
    $sql$, p_outbox) USING p_outbox, p_owner, p_limit, p_lease_ms, v_topic;
END;
$function$;

COMMENT ON FUNCTION chargegate.claim_outbox(text, text, integer, integer) IS
    'Kafka relay: leases up to p_limit due rows of an outbox table (SKIP LOCKED) and returns them with their topic.';

-- chargegate.relay_outbox(p_outbox text, p_limit integer)
--     → TABLE (moved integer, next_due_ms bigint, unsubscribed boolean)
--
-- The relay of the PostgreSQL transport: claims up to p_limit due, unpublished
-- rows of the outbox table p_outbox (FOR UPDATE SKIP LOCKED, so concurrent
-- relays in other daemons take other rows), publishes them to the outbox's
-- topic with one subscription_batch per subscription (fan-out) and marks
-- them published — all in the caller's transaction, so each row moves exactly
-- once.  Returns the number of rows moved and, when rows are pending but not
-- yet due (delayed retries), in how many milliseconds the next one is due
-- (NULL otherwise).  Sends one payload-free NOTIFY on chargegate_topic_<topic>
-- when it moved anything.
--
-- A topic without any subscription would swallow what is published to it
-- (a subscription receives only what is published after it exists), so
-- then nothing moves: the rows stay pending, unsubscribed is true, and the
-- relay says so in its log; chargegate.outbox_status shows it too.
DROP FUNCTION IF EXISTS chargegate.relay_outbox(text, integer);
CREATE OR REPLACE FUNCTION chargegate.relay_outbox(p_outbox text, p_limit integer)
RETURNS TABLE (moved integer, next_due_ms bigint, unsubscribed boolean)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_topic text;
    v_moved integer;
    v_next  bigint;
BEGIN
    SELECT o.topic INTO v_topic FROM chargegate.outbox o WHERE o.name = p_outbox;
    IF v_topic IS NULL THEN
        RAISE EXCEPTION 'relay_outbox: unknown outbox "%"', p_outbox
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Losing this transaction in a crash is harmless (the rows are simply
    -- still pending), and any later synchronous commit flushes it anyway:
    -- don't make the wake-up path wait for a WAL flush.
    PERFORM set_config('synchronous_commit', 'off', true);

    IF p_limit IS NULL OR p_limit < 1 THEN
        RAISE EXCEPTION 'relay_outbox: limit must be positive, got %', p_limit
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM chargegate.subscription s WHERE s.topic = v_topic) THEN
        moved := 0;
        next_due_ms := NULL;
        unsubscribed := true;
        RETURN NEXT;
        RETURN;
    END IF;

    EXECUTE format($sql$
        WITH claimed AS (
            SELECT o.id FROM chargegate.%1$I o
             WHERE o.published_at IS NULL AND o.available_at <= now()
             ORDER BY o.available_at, o.id
             LIMIT $1
               FOR UPDATE SKIP LOCKED
        ), published AS (
            UPDATE chargegate.%1$I o SET published_at = now()
              FROM claimed c WHERE o.id = c.id
            RETURNING o.id, o.event_id, o.event_type, o.aggregate_id, o.payload, o.created_at
        ), messages AS (
            INSERT INTO chargegate.topic_message
                   (topic, event_id, event_type, aggregate_id, payload, created_at)
            SELECT $2, p.event_id, p.event_type, p.aggregate_id, p.payload, p.created_at
              FROM published p ORDER BY p.id
            ON CONFLICT (topic, event_id) DO NOTHING
            RETURNING id
        ), fanout AS (
            INSERT INTO chargegate.subscription_batch (subscription, message_ids, oldest_message_id)
            SELECT s.name, b.ids, b.oldest
              FROM (SELECT array_agg(m.id ORDER BY m.id) AS ids, min(m.id) AS oldest FROM messages m) b
              CROSS JOIN chargegate.subscription s
             WHERE s.topic = $2 AND b.ids IS NOT NULL
        )
        SELECT count(*)::integer FROM published
    $sql$, p_outbox) INTO v_moved USING p_limit, v_topic;

    EXECUTE format($sql$
        SELECT ceil(extract(epoch FROM min(o.available_at) - now()) * 1000)::bigint
          FROM chargegate.%1$I o
         WHERE o.published_at IS NULL AND o.available_at > now()
    $sql$, p_outbox) INTO v_next;

    IF v_moved > 0 THEN
        PERFORM pg_notify('chargegate_topic_' || v_topic, '');
    END IF;
    moved := v_moved;
    next_due_ms := v_next;
    unsubscribed := false;
    RETURN NEXT;
END;
$function$;

COMMENT ON FUNCTION chargegate.relay_outbox(text, integer) IS
    'Moves up to p_limit due rows of an outbox table to its topic, exactly once; returns the count, '
    'when the next delayed row is due, and whether the topic has no subscription (then nothing moves).';

-- chargegate.discard_dead_letters(p_subscription text, p_batch_ids bigint[] DEFAULT NULL) → integer
--
-- Deletes dead letters of p_subscription: all of them, or only the batches in
-- p_batch_ids.  The messages themselves stay in topic_message until
-- retention; their event ids are recorded as handled by the subscription
-- (the subscription is done with them: a redelivery is acknowledged without
-- handling, and chargegate.stranded_messages does not list them).  Returns
-- the number of messages discarded; an unknown subscription is an error (a
-- typo must not look like "nothing to do").
DROP FUNCTION IF EXISTS chargegate.discard_dead_letters(text, bigint[]);
CREATE OR REPLACE FUNCTION chargegate.discard_dead_letters(p_subscription text, p_batch_ids bigint[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_n integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM chargegate.subscription s WHERE s.name = p_subscription) THEN
        RAISE EXCEPTION 'discard_dead_letters: unknown subscription "%"', p_subscription
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH gone AS (
        DELETE FROM chargegate.subscription_batch b
         WHERE b.subscription = p_subscription AND b.state = 'dead'
           AND (p_batch_ids IS NULL OR b.id = ANY (p_batch_ids))
        RETURNING b.message_ids
    ), done AS (
        INSERT INTO chargegate.handled_event (subscription, event_id)
        SELECT DISTINCT p_subscription, m.event_id
          FROM gone g CROSS JOIN LATERAL unnest(g.message_ids) AS u(id)
          JOIN chargegate.topic_message m ON m.id = u.id
        ON CONFLICT DO NOTHING
    )
    SELECT coalesce(sum(cardinality(g.message_ids)), 0)::integer INTO v_n FROM gone g;
    RETURN v_n;
END;
$function$;

COMMENT ON FUNCTION chargegate.discard_dead_letters(text, bigint[]) IS
    'Deletes dead letters of a subscription (all, or the given batches); returns the count.';

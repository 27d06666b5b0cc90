-- chargegate.replay_dead_letters(p_subscription text, p_batch_ids bigint[] DEFAULT NULL) → integer
--
-- Makes dead letters of p_subscription ready again, with their attempt count
-- reset: all of them, or only the batches in p_batch_ids (see the
-- dead_letters view).  Returns the number of messages replayed and wakes the
-- subscription's consumers.
CREATE OR REPLACE FUNCTION chargegate.replay_dead_letters(p_subscription text, p_batch_ids bigint[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_n     integer;
    v_topic text;
BEGIN
    SELECT s.topic INTO v_topic FROM chargegate.subscription s WHERE s.name = p_subscription;
    IF v_topic IS NULL THEN
        RAISE EXCEPTION 'replay_dead_letters: unknown subscription "%"', p_subscription
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH replayed AS (
        UPDATE chargegate.subscription_batch b
           SET state = 'ready', available_at = now(), attempts = 0,
               last_error = 'replayed after: ' || coalesce(b.last_error, '')
         WHERE b.subscription = p_subscription AND b.state = 'dead'
           AND (p_batch_ids IS NULL OR b.id = ANY (p_batch_ids))
        RETURNING cardinality(b.message_ids) AS n
    )
    SELECT coalesce(sum(n), 0)::integer INTO v_n FROM replayed;
    IF v_n > 0 THEN
        PERFORM pg_notify('chargegate_topic_' || v_topic, '');
    END IF;
    RETURN v_n;
END;
$function$;

COMMENT ON FUNCTION chargegate.replay_dead_letters(text, bigint[]) IS
    'Dead letters of a subscription (all, or the given batches) become ready again; returns the count.';

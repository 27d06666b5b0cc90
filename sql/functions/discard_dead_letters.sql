-- chargegate.discard_dead_letters(p_subscription text, p_batch_ids bigint[] DEFAULT NULL) → integer
--
-- Deletes dead letters of p_subscription: all of them, or only the batches in
-- p_batch_ids.  The messages themselves stay in topic_message until
-- retention.  Returns the number of messages discarded.
CREATE OR REPLACE FUNCTION chargegate.discard_dead_letters(p_subscription text, p_batch_ids bigint[] DEFAULT NULL)
RETURNS integer
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH gone AS (
        DELETE FROM chargegate.subscription_batch b
         WHERE b.subscription = p_subscription AND b.state = 'dead'
           AND (p_batch_ids IS NULL OR b.id = ANY (p_batch_ids))
        RETURNING cardinality(b.message_ids) AS n
    )
    SELECT coalesce(sum(n), 0)::integer FROM gone;
$function$;

COMMENT ON FUNCTION chargegate.discard_dead_letters(text, bigint[]) IS
    'Deletes dead letters of a subscription (all, or the given batches); returns the count.';

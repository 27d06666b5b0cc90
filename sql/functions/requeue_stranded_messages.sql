-- chargegate.requeue_stranded_messages() → TABLE (subscription text, requeued bigint)
--
-- Gives every message of chargegate.stranded_messages to the subscription
-- that never received it: ready batches of at most 100 messages (the
-- default queue.batch_size, so a large backlog drains in steady claims), in
-- publication order.  Idempotent: a message with a batch is no longer
-- stranded.  `chargegatectl migrate` calls it after every migration
-- (sql/after/); a DBA may call it at any time.  Returns one row per
-- subscription that got messages, and says so in a WARNING.
CREATE OR REPLACE FUNCTION chargegate.requeue_stranded_messages()
RETURNS TABLE (subscription text, requeued bigint)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_row record;
BEGIN
    FOR v_row IN
        WITH stranded AS (
            SELECT st.subscription, st.message_id,
                   (row_number() OVER (PARTITION BY st.subscription ORDER BY st.message_id) - 1) / 100 AS chunk
              FROM chargegate.stranded_messages st
        ), batches AS (
            INSERT INTO chargegate.subscription_batch (subscription, message_ids, oldest_message_id)
            SELECT st.subscription, array_agg(st.message_id ORDER BY st.message_id), min(st.message_id)
              FROM stranded st
             GROUP BY st.subscription, st.chunk
            RETURNING subscription_batch.subscription, cardinality(subscription_batch.message_ids) AS n
        )
        SELECT b.subscription, sum(b.n)::bigint AS n FROM batches b GROUP BY b.subscription ORDER BY 1
    LOOP
        RAISE WARNING 're-queued % stranded messages for subscription %', v_row.n, v_row.subscription;
        subscription := v_row.subscription;
        requeued := v_row.n;
        RETURN NEXT;
    END LOOP;
END;
$function$;

COMMENT ON FUNCTION chargegate.requeue_stranded_messages() IS
    'Re-queues the messages of chargegate.stranded_messages for the subscriptions that never received them.';

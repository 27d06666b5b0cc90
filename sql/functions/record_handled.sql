-- chargegate.record_handled(p_subscription text, p_event_ids uuid[]) → integer
--
-- Idempotent consumption: records that p_subscription handled these events.
-- The consumer runner calls it in the same transaction as the handler's own
-- writes.  If another consumer already recorded one of the events (a
-- duplicate delivery handled concurrently), the unique violation aborts the
-- whole transaction, so the handler's writes never happen twice; the runner
-- then acknowledges the duplicate without handling it again.
DROP FUNCTION IF EXISTS chargegate.record_handled(text, uuid[]);
CREATE OR REPLACE FUNCTION chargegate.record_handled(p_subscription text, p_event_ids uuid[])
RETURNS integer
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH ins AS (
        INSERT INTO chargegate.handled_event (subscription, event_id)
        SELECT p_subscription, e FROM unnest(p_event_ids) AS e
        RETURNING 1
    )
    SELECT count(*)::integer FROM ins;
$function$;

COMMENT ON FUNCTION chargegate.record_handled(text, uuid[]) IS
    'Records handled event ids for a subscription; fails (unique violation) if one was handled already.';

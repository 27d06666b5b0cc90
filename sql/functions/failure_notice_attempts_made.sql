-- chargegate.failure_notice_attempts_made(p_request_ids uuid[], p_webhook_ids uuid[])
--     → TABLE (webhook_id uuid, attempts integer)
--
-- How many attempts of each failure notice are recorded: the highest
-- attempt number per webhook-id among the notices about p_request_ids
-- (found through the request index); notices without any are left out.
-- The failure-notice handler numbers its next POST from it, as the callback
-- sender numbers its attempts from its own records, not from the queue's
-- delivery count: a notice given back at shutdown or taken over after a
-- lease expired uses up no step of the retry schedule, and the numbers run
-- 1, 2, … without gaps.
CREATE OR REPLACE FUNCTION chargegate.failure_notice_attempts_made(p_request_ids uuid[], p_webhook_ids uuid[])
RETURNS TABLE (webhook_id uuid, attempts integer)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT a.webhook_id, max(a.attempt)
      FROM chargegate.failure_notice_attempt a
     WHERE a.request_id = ANY (p_request_ids)
       AND a.webhook_id = ANY (p_webhook_ids)
     GROUP BY a.webhook_id;
$function$;

COMMENT ON FUNCTION chargegate.failure_notice_attempts_made(uuid[], uuid[]) IS
    'Failure notices: the attempts recorded so far per webhook-id (the next POST is that number + 1).';

-- chargegate.fail_messages(p_subscription, p_owner, p_message_ids, p_fences,
--                          p_retry_after_ms, p_errors, p_max_attempts)
--
-- Records handler failures for leased messages (same fencing rule as
-- ack_messages).  A message whose attempts reached p_max_attempts, or whose
-- p_retry_after_ms element is NULL (a permanent failure), becomes a dead
-- letter with its last error; the others become ready again after
-- p_retry_after_ms milliseconds.  Returns (message_id, state) for every input
-- row; state is 'stale' when the lease was no longer the caller's.
CREATE OR REPLACE FUNCTION chargegate.fail_messages(
    p_subscription text, p_owner text, p_message_ids bigint[], p_fences bigint[],
    p_retry_after_ms integer[], p_errors text[], p_max_attempts integer)
RETURNS TABLE (message_id bigint, state text)
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH input AS (
        SELECT u.message_id, u.fence, u.retry_after_ms, u.error
          FROM unnest(p_message_ids, p_fences, p_retry_after_ms, p_errors)
               AS u(message_id, fence, retry_after_ms, error)
    ), failed AS (
        UPDATE chargegate.subscription_message sm
           SET state = CASE WHEN i.retry_after_ms IS NULL OR sm.attempts >= p_max_attempts
                            THEN 'dead' ELSE 'ready' END,
               available_at = now() + make_interval(secs => coalesce(i.retry_after_ms, 0) / 1000.0),
               lease_owner = NULL,
               last_error = left(i.error, 2000)
          FROM input i
         WHERE sm.subscription = p_subscription
           AND sm.message_id = i.message_id
           AND sm.state = 'leased'
           AND sm.lease_owner = p_owner
           AND sm.fence = i.fence
        RETURNING sm.message_id, sm.state
    )
    SELECT i.message_id, coalesce(f.state, 'stale')
      FROM input i LEFT JOIN failed f ON f.message_id = i.message_id;
$function$;

COMMENT ON FUNCTION chargegate.fail_messages(text, text, bigint[], bigint[], integer[], text[], integer) IS
    'Records handler failures: retry after a delay, or dead letter after p_max_attempts.';

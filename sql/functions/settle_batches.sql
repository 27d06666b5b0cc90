-- chargegate.settle_batches(p_subscription, p_owner, p_batch_ids, p_fences,
--     p_failed_message_ids, p_failed_batch_ids, p_retry_after_ms, p_errors,
--     p_max_attempts) → TABLE (batch_id bigint, outcome text)
--
-- Settles leased batches after their messages were handled: each batch in
-- p_batch_ids is removed (acknowledged) if it is still leased by p_owner with
-- the fence from p_fences; otherwise its lease expired and another consumer
-- may own it now, so nothing of it is settled (outcome 'stale').  Messages that
-- failed (p_failed_*; element i: message, its batch, retry delay, error) are
-- split off into batches of their own: ready again after the delay, or dead
-- letters when p_retry_after_ms is NULL (a permanent failure) or the batch
-- has been attempted p_max_attempts times.  Called in the transaction that
-- also holds the handler's writes and the handled event ids.
DROP FUNCTION IF EXISTS chargegate.settle_batches(text, text, bigint[], bigint[], bigint[], bigint[],
                                                  integer[], text[], integer);
CREATE OR REPLACE FUNCTION chargegate.settle_batches(
    p_subscription text, p_owner text, p_batch_ids bigint[], p_fences bigint[],
    p_failed_message_ids bigint[], p_failed_batch_ids bigint[], p_retry_after_ms integer[],
    p_errors text[], p_max_attempts integer)
RETURNS TABLE (batch_id bigint, outcome text)
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH input AS (
        SELECT u.batch_id, u.fence FROM unnest(p_batch_ids, p_fences) AS u(batch_id, fence)
    ), gone AS (
        DELETE FROM chargegate.subscription_batch b
         USING input i
         WHERE b.id = i.batch_id
           AND b.subscription = p_subscription
           AND b.state = 'leased'
           AND b.lease_owner = p_owner
           AND b.fence = i.fence
        RETURNING b.id, b.attempts, b.created_at
    ), failed AS (
        SELECT f.message_id, f.batch_id, f.retry_after_ms, f.error
          FROM unnest(p_failed_message_ids, p_failed_batch_ids, p_retry_after_ms, p_errors)
               AS f(message_id, batch_id, retry_after_ms, error)
    ), requeued AS (
        INSERT INTO chargegate.subscription_batch
               (subscription, message_ids, oldest_message_id, state, available_at, attempts, last_error,
                created_at)
        SELECT p_subscription, ARRAY[f.message_id], f.message_id,
               CASE WHEN f.retry_after_ms IS NULL OR g.attempts >= p_max_attempts
                    THEN 'dead' ELSE 'ready' END,
               now() + make_interval(secs => coalesce(f.retry_after_ms, 0) / 1000.0),
               g.attempts, left(f.error, 2000), g.created_at  -- its age keeps counting across retries
          FROM failed f JOIN gone g ON g.id = f.batch_id
        RETURNING 1
    )
    SELECT i.batch_id, CASE WHEN g.id IS NULL THEN 'stale' ELSE 'settled' END
      FROM input i LEFT JOIN gone g ON g.id = i.batch_id;
$function$;

COMMENT ON FUNCTION chargegate.settle_batches(text, text, bigint[], bigint[], bigint[], bigint[], integer[],
                                              text[], integer) IS
    'Acknowledges leased batches (fenced); failed messages become retries or dead letters of their own.';

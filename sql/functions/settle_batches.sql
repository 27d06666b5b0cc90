-- chargegate.settle_batches(p_subscription, p_owner, p_batch_ids, p_fences,
--     p_failed_message_ids, p_failed_batch_ids, p_retry_after_ms, p_errors,
--     p_max_attempts, p_require_leases, p_postponed) → TABLE (batch_id bigint, outcome text)
--
-- Settles leased batches after their messages were handled: each batch in
-- p_batch_ids is removed (acknowledged) if it is still leased by p_owner with
-- the fence from p_fences; otherwise its lease expired and another consumer
-- may own it now, so nothing of it is settled (outcome 'stale').  Messages that
-- failed (p_failed_*; element i: message, its batch, retry delay, error) are
-- split off into batches of their own: ready again after the delay, or dead
-- letters when p_retry_after_ms is NULL (a permanent failure) or the batch
-- has been attempted p_max_attempts times.  A message postponed (element i
-- of p_postponed true: not handled, and not a failure either — its
-- callback destination was saturated or paused) is ready again after its
-- delay with the claim not counted as an attempt, and never dead.
--
-- Called first in the transaction that also holds the handler's writes and
-- the handled event ids.  With p_require_leases a stale batch is an error
-- (SQLSTATE CG001) that rolls the whole transaction back: the consumer that
-- holds the lease now handles the messages, and only its writes may commit
-- — exactly-once database effects whatever queue.retention is.  Without it
-- (a consumer giving messages back after a failed settle) stale batches are
-- only reported.  The batches are locked first, so a concurrent claim skips
-- them (SKIP LOCKED) instead of racing the check.
DROP FUNCTION IF EXISTS chargegate.settle_batches(text, text, bigint[], bigint[], bigint[], bigint[],
                                                  integer[], text[], integer);
DROP FUNCTION IF EXISTS chargegate.settle_batches(text, text, bigint[], bigint[], bigint[], bigint[],
                                                  integer[], text[], integer, boolean);
DROP FUNCTION IF EXISTS chargegate.settle_batches(text, text, bigint[], bigint[], bigint[], bigint[],
                                                  integer[], text[], integer, boolean, boolean[]);
CREATE OR REPLACE FUNCTION chargegate.settle_batches(
    p_subscription text, p_owner text, p_batch_ids bigint[], p_fences bigint[],
    p_failed_message_ids bigint[], p_failed_batch_ids bigint[], p_retry_after_ms integer[],
    p_errors text[], p_max_attempts integer, p_require_leases boolean DEFAULT false,
    p_postponed boolean[] DEFAULT NULL)
RETURNS TABLE (batch_id bigint, outcome text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_row   record;
    v_stale bigint[] := '{}';
BEGIN
    PERFORM 1 FROM chargegate.subscription_batch b WHERE b.id = ANY (p_batch_ids) ORDER BY b.id FOR UPDATE;
    FOR v_row IN
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
            SELECT f.message_id, f.batch_id, f.retry_after_ms, f.error, coalesce(f.postponed, false) AS postponed
              FROM unnest(p_failed_message_ids, p_failed_batch_ids, p_retry_after_ms, p_errors,
                          coalesce(p_postponed, '{}'))
                   AS f(message_id, batch_id, retry_after_ms, error, postponed)
             WHERE f.message_id IS NOT NULL
        ), requeued AS (
            INSERT INTO chargegate.subscription_batch
                   (subscription, message_ids, oldest_message_id, state, available_at, attempts, last_error,
                    created_at)
            SELECT p_subscription, ARRAY[f.message_id], f.message_id,
                   CASE WHEN f.postponed THEN 'ready'
                        WHEN f.retry_after_ms IS NULL OR g.attempts >= p_max_attempts THEN 'dead'
                        ELSE 'ready' END,
                   now() + make_interval(secs => coalesce(f.retry_after_ms, 0) / 1000.0),
                   CASE WHEN f.postponed THEN greatest(g.attempts - 1, 0) ELSE g.attempts END,
                   left(f.error, 2000), g.created_at  -- its age keeps counting across retries
              FROM failed f JOIN gone g ON g.id = f.batch_id
            RETURNING 1
        )
        SELECT i.batch_id AS id, CASE WHEN g.id IS NULL THEN 'stale' ELSE 'settled' END AS result
          FROM input i LEFT JOIN gone g ON g.id = i.batch_id
    LOOP
        IF v_row.result = 'stale' THEN
            v_stale := v_stale || v_row.id;
        END IF;
        batch_id := v_row.id;
        outcome := v_row.result;
        RETURN NEXT;
    END LOOP;
    IF p_require_leases AND cardinality(v_stale) > 0 THEN
        RAISE EXCEPTION 'the lease of batch % of subscription "%" is no longer held by "%"',
                        array_to_string(v_stale, ', '), p_subscription, p_owner
            USING ERRCODE = 'CG001',
                  DETAIL = 'The lease expired and another consumer may have claimed the batch; '
                           'nothing of this transaction is committed.';
    END IF;
END;
$function$;

COMMENT ON FUNCTION chargegate.settle_batches(text, text, bigint[], bigint[], bigint[], bigint[], integer[],
                                              text[], integer, boolean, boolean[]) IS
    'Acknowledges leased batches (fenced; a stale one rolls the transaction back when leases are required); '
    'failed messages become retries or dead letters of their own; postponed ones are ready again, uncounted.';

-- chargegate.extend_leases(p_subscription text, p_owner text, p_batch_ids bigint[],
--     p_fences bigint[], p_lease_ms integer) → integer
--
-- A consumer whose work on leased batches takes longer than a lease renews
-- them while the work is in flight: each batch still leased by p_owner with
-- the fence from p_fences expires p_lease_ms milliseconds from now (also
-- one whose lease has run out but that nobody claimed meanwhile).  Returns
-- how many of the batches are no longer held (claimed by another consumer
-- since, or settled): their settle will be refused, and the consumer says
-- so.  A renewal lost in a crash only makes a lease end sooner, so it does
-- not wait for a WAL flush.
DROP FUNCTION IF EXISTS chargegate.extend_leases(text, text, bigint[], bigint[], integer);
CREATE OR REPLACE FUNCTION chargegate.extend_leases(
    p_subscription text, p_owner text, p_batch_ids bigint[], p_fences bigint[], p_lease_ms integer)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_held integer;
BEGIN
    IF p_lease_ms IS NULL OR p_lease_ms < 1 THEN
        RAISE EXCEPTION 'extend_leases: the lease must be positive, got %', p_lease_ms
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM set_config('synchronous_commit', 'off', true);
    WITH input AS (
        SELECT u.batch_id, u.fence FROM unnest(p_batch_ids, p_fences) AS u(batch_id, fence)
    ), extended AS (
        UPDATE chargegate.subscription_batch b
           SET available_at = now() + make_interval(secs => p_lease_ms / 1000.0)
          FROM input i
         WHERE b.id = i.batch_id
           AND b.subscription = p_subscription
           AND b.state = 'leased'
           AND b.lease_owner = p_owner
           AND b.fence = i.fence
        RETURNING 1
    )
    SELECT count(*)::integer INTO v_held FROM extended;
    RETURN coalesce(cardinality(p_batch_ids), 0) - v_held;
END;
$function$;

COMMENT ON FUNCTION chargegate.extend_leases(text, text, bigint[], bigint[], integer) IS
    'Renews the leases a consumer still holds; returns how many it no longer holds.';

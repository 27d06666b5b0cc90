-- chargegate.outbox_next_due_ms(p_outbox text) → bigint
--
-- Kafka relay: in how many milliseconds the next pending row of the outbox
-- table p_outbox that is not claimable now becomes claimable — a delayed row
-- (available_at in the future) or a row whose lease has not expired yet.
-- NULL when there is none.  The relay arms its timer with it.
DROP FUNCTION IF EXISTS chargegate.outbox_next_due_ms(text);
CREATE OR REPLACE FUNCTION chargegate.outbox_next_due_ms(p_outbox text)
RETURNS bigint
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_delayed timestamptz;
    v_leased  timestamptz;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM chargegate.outbox o WHERE o.name = p_outbox) THEN
        RAISE EXCEPTION 'outbox_next_due_ms: unknown outbox "%"', p_outbox
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format($sql$
        SELECT min(o.available_at) FROM chargegate.%1$I o
         WHERE o.published_at IS NULL AND o.available_at > now()
    $sql$, p_outbox) INTO v_delayed;
    SELECT min(l.expires_at) INTO v_leased
      FROM chargegate.outbox_lease l
     WHERE l.outbox = p_outbox AND l.expires_at > now();
    RETURN ceil(extract(epoch FROM least(v_delayed, v_leased) - now()) * 1000)::bigint;
END;
$function$;

COMMENT ON FUNCTION chargegate.outbox_next_due_ms(text) IS
    'Kafka relay: milliseconds until the next delayed or leased pending row of an outbox becomes claimable.';

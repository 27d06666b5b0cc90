-- chargegate.record_publish_error(p_outbox text, p_owner text, p_ids bigint[], p_errors text[],
--     p_retry_after_ms integer) → integer
--
-- Kafka relay: publishing the rows p_ids of the outbox table p_outbox failed
-- (element i of p_errors is row i's error, e.g. a delivery report's "Local:
-- Message timed out").  The rows stay pending: publish_attempts + 1,
-- last_error set, available_at moved p_retry_after_ms into the future, and
-- the leases of p_owner on them are dropped.  Returns the number of rows
-- updated.
DROP FUNCTION IF EXISTS chargegate.record_publish_error(text, text, bigint[], text[], integer);
CREATE OR REPLACE FUNCTION chargegate.record_publish_error(
    p_outbox text, p_owner text, p_ids bigint[], p_errors text[], p_retry_after_ms integer)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_n integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM chargegate.outbox o WHERE o.name = p_outbox) THEN
        RAISE EXCEPTION 'record_publish_error: unknown outbox "%"', p_outbox
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format($sql$
        WITH failed AS (
            SELECT f.id, f.error FROM unnest($1, $2) AS f(id, error)
        ), updated AS (
            UPDATE chargegate.%1$I o
               SET publish_attempts = o.publish_attempts + 1,
                   last_error = left(coalesce(f.error, 'publish failed'), 2000),
                   available_at = greatest(o.available_at,
                                           now() + make_interval(secs => greatest($3, 0) / 1000.0))
              FROM failed f
             WHERE o.id = f.id AND o.published_at IS NULL
            RETURNING 1
        )
        SELECT count(*)::integer FROM updated
    $sql$, p_outbox) INTO v_n USING p_ids, p_errors, p_retry_after_ms;
    DELETE FROM chargegate.outbox_lease l
     WHERE l.outbox = p_outbox AND l.row_id = ANY (p_ids) AND l.owner = p_owner;
    RETURN v_n;
END;
$function$;

COMMENT ON FUNCTION chargegate.record_publish_error(text, text, bigint[], text[], integer) IS
    'Kafka relay: records failed deliveries; the rows stay pending and are retried after p_retry_after_ms.';

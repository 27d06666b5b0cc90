-- chargegate.mark_published(p_outbox text, p_ids bigint[]) → integer
--
-- Kafka relay: the rows p_ids of the outbox table p_outbox were acknowledged
-- by Kafka (a successful delivery report): sets published_at and drops their
-- leases.  Rows already published (by a relay whose lease had expired) stay
-- as they are.  Returns the number of rows marked.
DROP FUNCTION IF EXISTS chargegate.mark_published(text, bigint[]);
CREATE OR REPLACE FUNCTION chargegate.mark_published(p_outbox text, p_ids bigint[])
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_n integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM chargegate.outbox o WHERE o.name = p_outbox) THEN
        RAISE EXCEPTION 'mark_published: unknown outbox "%"', p_outbox
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format($sql$
        WITH marked AS (
            UPDATE chargegate.%1$I o SET published_at = now()
             WHERE o.id = ANY ($1) AND o.published_at IS NULL
            RETURNING 1
        )
        SELECT count(*)::integer FROM marked
    $sql$, p_outbox) INTO v_n USING p_ids;
    DELETE FROM chargegate.outbox_lease l WHERE l.outbox = p_outbox AND l.row_id = ANY (p_ids);
    RETURN v_n;
END;
$function$;

COMMENT ON FUNCTION chargegate.mark_published(text, bigint[]) IS
    'Kafka relay: marks outbox rows published after their successful delivery report and drops their leases.';

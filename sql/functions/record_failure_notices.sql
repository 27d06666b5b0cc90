-- chargegate.record_failure_notices(p_items jsonb) → integer
--
-- The failure-notice handler's writes for a batch of attempts to
-- callback.failure_url: one failure_notice_attempt row each.  p_items is a
-- JSON array of objects: request_id, webhook_id, attempt, failure_url,
-- http_status, latency_ms, error_class, response_body, final.  Nothing is
-- published: a notice that failed never causes another one.
-- failure_url is stored as scheme://host[:port]/path: its user information
-- and query often carry the operator's credentials (a token), and
-- chargegate_reader reads this table; the log leaves them out too.  A value
-- that is no URL is not stored at all.
CREATE OR REPLACE FUNCTION chargegate.record_failure_notices(p_items jsonb)
RETURNS integer
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH attempts AS (
        INSERT INTO chargegate.failure_notice_attempt
               (request_id, webhook_id, attempt, failure_url, http_status, latency_ms, error_class,
                response_body, final)
        SELECT request_id, webhook_id, attempt,
               CASE WHEN failure_url ~ '^[A-Za-z][A-Za-z0-9+.-]*://'
                    THEN regexp_replace(failure_url, '^([^:]+://)([^/?#]*@)?([^/?#]*)([^?#]*).*$', '\1\3\4')
                    ELSE '(not a URL)' END,
               http_status, latency_ms, error_class, left(response_body, 4096), final
          FROM jsonb_to_recordset(p_items) AS x(
              request_id uuid, webhook_id uuid, attempt integer, failure_url text, http_status integer,
              latency_ms integer, error_class text, response_body text, final boolean)
        RETURNING 1
    )
    SELECT count(*)::integer FROM attempts;
$function$;

COMMENT ON FUNCTION chargegate.record_failure_notices(jsonb) IS
    'Failure notices: one failure_notice_attempt row per POST to callback.failure_url.';

-- chargegate.outbox_pending_rows — the unpublished rows of every outbox
-- table, one UNION ALL branch per row of chargegate.outbox (generated, so a
-- new outbox is read without naming it again).  Each branch filters on
-- published_at IS NULL, which the outboxes' pending index serves: published
-- rows, kept for queue.retention, are never scanned.  Read by outbox_status
-- and by the daemon's queue gauges (src/queue/queuestats.c).
DO $generate$
DECLARE
    v_sql text;
BEGIN
    SELECT string_agg(format('SELECT %L::text AS outbox, o.available_at, o.last_error'
                             ' FROM chargegate.%I o WHERE o.published_at IS NULL', name, name),
                      ' UNION ALL ' ORDER BY name)
      INTO v_sql
      FROM chargegate.outbox;
    EXECUTE 'CREATE OR REPLACE VIEW chargegate.outbox_pending_rows AS ' || v_sql;
END;
$generate$;

COMMENT ON VIEW chargegate.outbox_pending_rows IS
    'Unpublished rows of every outbox table (outbox, available_at, last_error), generated from chargegate.outbox.';

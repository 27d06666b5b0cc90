-- chargegate.status_report() → jsonb
--
-- Everything `chargegatectl status` shows, as one JSON document, so the
-- command line (status and status --json) and the daemon's status page show
-- the same data from the same query:
--   {"schema_version": N,
--    "accepted_last_hour": [{"status", "requests", "oldest"}],
--    "finished_last_hour": [{"status", "requests", "latest"}],
--    "outboxes":      [every column of chargegate.outbox_status],
--    "subscriptions": [every column of chargegate.subscription_status],
--    "stranded":      [{"subscription", "messages", "oldest"}],
--    "leases":        [chargegate.leases, the 20 expiring first],
--    "open_circuits": [chargegate.open_circuits]}
-- Ages are seconds (numbers), timestamps ISO 8601; lists are never null.
--
-- The status page calls this every few seconds, so nothing here reads a
-- whole table: charging_session_request keeps request.retention (30 days)
-- of rows, and no index may be added to it (each costs every request).
-- accepted_last_hour: the requests accepted in the last hour by their status
-- now, found through the primary key (request ids are time-ordered, UUID v7,
-- migration 006); with the default callback.retry_schedule a request
-- finishes within minutes, so its accepted and decided rows are the requests
-- in flight.  One unfinished after an hour has its work stuck somewhere the
-- report shows: a pending or failing outbox row, a retrying or dead
-- subscription batch.  finished_last_hour: the requests that became
-- delivered or delivery_failed in the last hour
-- (charging_session_request_finished_idx).  Exact counts, over those windows.
-- JIT off: it would compile this cheap query for more than it runs.
-- Runs with the owner's rights (the daemon may not read every table it
-- summarises); PL/pgSQL so that the views it reads (created after the functions by
-- chargegatectl migrate) need not exist when it is created.
CREATE OR REPLACE FUNCTION chargegate.status_report()
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $function$
DECLARE
    -- the smallest UUID v7 of an hour ago (its first 48 bits are the Unix
    -- time in milliseconds), five minutes earlier for the clocks' skew
    floor_ms constant bigint := (extract(epoch FROM now() - interval '65 minutes') * 1000)::bigint;
    id_floor constant uuid := encode(overlay(uuid_send('00000000-0000-0000-0000-000000000000')
                                             PLACING substring(int8send(floor_ms) FROM 3) FROM 1 FOR 6),
                                     'hex')::uuid;
    v_stranded jsonb;
BEGIN
    -- a stranded message was published before the newest built-in
    -- subscription: that bound, as a constant the planner sees (EXECUTE),
    -- lets topic_message's BRIN index skip the rest of the table
    EXECUTE format($q$SELECT coalesce(jsonb_agg(jsonb_build_object('subscription', x.subscription,
                                                              'messages', x.n, 'oldest', x.oldest)
                                           ORDER BY x.subscription), '[]')
                        FROM (SELECT subscription, count(*) AS n, min(published_at) AS oldest
                                FROM chargegate.stranded_messages WHERE published_at < %L
                               GROUP BY subscription) x$q$,
                   (SELECT coalesce(max(created_at), '-infinity') FROM chargegate.subscription WHERE builtin))
       INTO v_stranded;
    RETURN jsonb_build_object(
        'schema_version', (SELECT coalesce(max(version), 0) FROM chargegate.schema_version),
        'accepted_last_hour',
            (SELECT coalesce(jsonb_agg(jsonb_build_object('status', r.status, 'requests', r.n, 'oldest', r.oldest)
                                       ORDER BY r.status), '[]')
               FROM (SELECT status, count(*) AS n, min(created_at) AS oldest
                       FROM chargegate.charging_session_request
                      WHERE request_id >= id_floor AND created_at > now() - interval '1 hour'
                      GROUP BY status) r),
        'finished_last_hour',
            (SELECT coalesce(jsonb_agg(jsonb_build_object('status', r.status, 'requests', r.n, 'latest', r.latest)
                                       ORDER BY r.status), '[]')
               FROM (SELECT status, count(*) AS n, max(updated_at) AS latest
                       FROM chargegate.charging_session_request
                      WHERE status IN ('delivered', 'delivery_failed') AND updated_at > now() - interval '1 hour'
                      GROUP BY status) r),
        'outboxes', (SELECT coalesce(jsonb_agg(to_jsonb(o) || jsonb_build_object(
                                         'oldest_pending_age', round(extract(epoch FROM o.oldest_pending_age), 3))
                                     ORDER BY o.outbox), '[]')
                       FROM chargegate.outbox_status o),
        'subscriptions', (SELECT coalesce(jsonb_agg(to_jsonb(s) || jsonb_build_object(
                                              'oldest_age', round(extract(epoch FROM s.oldest_age), 3))
                                          ORDER BY s.subscription), '[]')
                            FROM chargegate.subscription_status s),
        'stranded', v_stranded,
        'leases', (SELECT coalesce(jsonb_agg(to_jsonb(l) ORDER BY l.expires_at, l.batch_id), '[]')
                     FROM (SELECT * FROM chargegate.leases ORDER BY expires_at, batch_id LIMIT 20) l),
        'open_circuits', (SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.destination, c.daemon), '[]')
                            FROM chargegate.open_circuits c));
END;
$function$;

COMMENT ON FUNCTION chargegate.status_report() IS
    'What chargegatectl status shows, as JSON: requests accepted and finished in the last hour by status, '
    'outboxes, subscriptions, stranded messages, leases and open circuits; reads no whole table.';

-- chargegate.status_report() → jsonb
--
-- Everything `chargegatectl status` shows, as one JSON document, so the
-- command line (status --json) and the daemon's status page show the same
-- data from the same query:
--   {"schema_version": N,
--    "requests":      [{"status", "requests", "oldest"}],
--    "outboxes":      [every column of chargegate.outbox_status],
--    "subscriptions": [every column of chargegate.subscription_status],
--    "stranded":      [{"subscription", "messages", "oldest"}],
--    "leases":        [chargegate.leases, the 20 expiring first],
--    "open_circuits": [chargegate.open_circuits]}
-- Ages are seconds (numbers), timestamps ISO 8601; lists are never null.
-- Runs with the owner's rights (the daemon may not read every table it
-- summarises); PL/pgSQL so that the views it reads (created after the functions by
-- chargegatectl migrate) need not exist when it is created.
CREATE OR REPLACE FUNCTION chargegate.status_report()
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    RETURN jsonb_build_object(
        'schema_version', (SELECT coalesce(max(version), 0) FROM chargegate.schema_version),
        'requests', (SELECT coalesce(jsonb_agg(jsonb_build_object('status', r.status, 'requests', r.n,
                                                                  'oldest', r.oldest) ORDER BY r.status), '[]')
                       FROM (SELECT status, count(*) AS n, min(created_at) AS oldest
                               FROM chargegate.charging_session_request GROUP BY status) r),
        'outboxes', (SELECT coalesce(jsonb_agg(to_jsonb(o) || jsonb_build_object(
                                         'oldest_pending_age', round(extract(epoch FROM o.oldest_pending_age), 3))
                                     ORDER BY o.outbox), '[]')
                       FROM chargegate.outbox_status o),
        'subscriptions', (SELECT coalesce(jsonb_agg(to_jsonb(s) || jsonb_build_object(
                                              'oldest_age', round(extract(epoch FROM s.oldest_age), 3))
                                          ORDER BY s.subscription), '[]')
                            FROM chargegate.subscription_status s),
        'stranded', (SELECT coalesce(jsonb_agg(jsonb_build_object('subscription', x.subscription,
                                                                  'messages', x.n, 'oldest', x.oldest)
                                               ORDER BY x.subscription), '[]')
                       FROM (SELECT subscription, count(*) AS n, min(published_at) AS oldest
                               FROM chargegate.stranded_messages GROUP BY subscription) x),
        'leases', (SELECT coalesce(jsonb_agg(to_jsonb(l) ORDER BY l.expires_at, l.batch_id), '[]')
                     FROM (SELECT * FROM chargegate.leases ORDER BY expires_at, batch_id LIMIT 20) l),
        'open_circuits', (SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.destination, c.daemon), '[]')
                            FROM chargegate.open_circuits c));
END;
$function$;

COMMENT ON FUNCTION chargegate.status_report() IS
    'What chargegatectl status shows, as JSON: requests by status, outboxes, subscriptions, stranded messages, '
    'leases and open circuits.';

-- 009_request_retention.sql — request retention (request.retention): finished
-- requests are found by when they last changed, without a scan of the table.
CREATE INDEX charging_session_request_finished_idx ON chargegate.charging_session_request (updated_at)
    WHERE status IN ('delivered', 'delivery_failed');
COMMENT ON INDEX chargegate.charging_session_request_finished_idx IS
    'Finished requests by last change: what chargegate.purge_requests() deletes after request.retention.';

-- Only the first 4 KiB of a peer's answer are stored (the daemon reads up to 64 KiB).
COMMENT ON COLUMN chargegate.authorization_audit.response IS 'The answer''s body, its first 4 KiB.';
COMMENT ON TABLE chargegate.callback_delivery_attempt IS
    'Every POST to a callback_url: status, latency, error class, the response body (its first 4 KiB), '
    'and whether another attempt follows (next_attempt_at) or the delivery is over (final).';
COMMENT ON TABLE chargegate.authorization_audit IS
    'Every authorization decision: what was sent to the authorization service, its answer (first 4 KiB), '
    'HTTP status, latency, and why the decision is what it is (cause: timeout, http_500, bad body, ...). '
    'Deleted with its request after request.retention.';

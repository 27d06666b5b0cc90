-- chargegate.record_circuit(p_destination text, p_daemon text, p_open boolean,
--                           p_cooldown_ms bigint, p_failures integer,
--                           p_last_error text) → void
--
-- The Notification context mirrors one circuit transition of one daemon:
-- p_open true when the circuit opens (or a failed probe re-opens it) for
-- p_cooldown_ms from now — the database's clock, the one the views compare
-- with; false when a probe succeeds or the daemon forgets the destination.
-- Only transitions are written, never a delivery, so this costs nothing on
-- the hot path.  Each call also deletes the rows chargegate.open_circuits no
-- longer shows (their pause ended 15 minutes ago: left by a daemon that was
-- killed), so the table holds only what someone may still read.
CREATE OR REPLACE FUNCTION chargegate.record_circuit(p_destination text, p_daemon text, p_open boolean,
                                                     p_cooldown_ms bigint, p_failures integer,
                                                     p_last_error text)
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    DELETE FROM chargegate.destination_circuit
     WHERE (NOT p_open AND destination = p_destination AND daemon = p_daemon)
        OR open_until < now() - interval '15 minutes';	-- STALE_AFTER of the view open_circuits
    INSERT INTO chargegate.destination_circuit AS c
           (destination, daemon, open_until, consecutive_failures, last_error)
    SELECT p_destination, p_daemon, now() + make_interval(secs => greatest(p_cooldown_ms, 0) / 1000.0),
           greatest(p_failures, 1), nullif(p_last_error, '')
     WHERE p_open
    ON CONFLICT (destination, daemon) DO UPDATE
       SET open_until = excluded.open_until,
           consecutive_failures = excluded.consecutive_failures,
           last_error = excluded.last_error,
           updated_at = now();
$function$;

COMMENT ON FUNCTION chargegate.record_circuit(text, text, boolean, bigint, integer, text) IS
    'Notification context: a destination''s circuit opened (a row until open_until) or closed (no row).';

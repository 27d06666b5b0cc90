-- chargegate.open_circuits — callback destinations paused by a daemon's
-- circuit breaker right now (DESIGN §5): 'open' while the pause lasts,
-- 'probing' once it is over (the next delivery to it decides).  A row whose
-- pause ended more than STALE_AFTER ago belongs to a daemon that stopped
-- without closing it (a daemon forgets idle destinations after 10 minutes),
-- and is not shown.
CREATE OR REPLACE VIEW chargegate.open_circuits AS
SELECT c.destination,
       c.daemon,
       c.opened_at,
       c.open_until AS until,
       c.consecutive_failures,
       c.last_error,
       CASE WHEN c.open_until > now() THEN 'open' ELSE 'probing' END AS state
  FROM chargegate.destination_circuit c
 WHERE c.open_until > now() - interval '15 minutes';	-- STALE_AFTER

COMMENT ON VIEW chargegate.open_circuits IS
    'Callback destinations paused by a daemon''s circuit breaker: since when, until when, after how many failures.';

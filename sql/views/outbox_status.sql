-- chargegate.outbox_status — one row per outbox table, for DBAs and
-- `chargegatectl status`: rows waiting for the relay (due now, or delayed
-- retries), the age of the oldest due row, what was published recently,
-- rows whose publishing failed (Kafka transport), and whether the outbox's
-- topic has no subscription (then the relay leaves every row pending: a
-- subscription receives only what is published after it exists).
-- The status page reads it every few seconds and an outbox keeps
-- queue.retention of published rows: only unpublished rows (the pending
-- index) and the last hour's (the published index) are read.
CREATE OR REPLACE VIEW chargegate.outbox_status AS
WITH unpublished AS (
    SELECT outbox, available_at, last_error FROM chargegate.outbox_pending_rows
), recent AS (
    SELECT 'charging_session_request_outbox'::text AS outbox, published_at
      FROM chargegate.charging_session_request_outbox WHERE published_at > now() - interval '1 hour'
    UNION ALL
    SELECT 'authorization_decision_callback_outbox', published_at
      FROM chargegate.authorization_decision_callback_outbox WHERE published_at > now() - interval '1 hour'
    UNION ALL
    SELECT 'callback_delivery_outbox', published_at
      FROM chargegate.callback_delivery_outbox WHERE published_at > now() - interval '1 hour'
    UNION ALL
    SELECT 'callback_retry_outbox', published_at
      FROM chargegate.callback_retry_outbox WHERE published_at > now() - interval '1 hour'
), u AS (
    SELECT outbox,
           count(*) FILTER (WHERE available_at <= now()) AS pending,
           count(*) FILTER (WHERE available_at > now()) AS delayed,
           now() - min(available_at) FILTER (WHERE available_at <= now()) AS oldest_pending_age,
           min(available_at) FILTER (WHERE available_at > now()) AS next_delayed_at,
           count(*) FILTER (WHERE last_error IS NOT NULL) AS failing
      FROM unpublished GROUP BY outbox
), p AS (
    SELECT outbox,
           count(*) FILTER (WHERE published_at > now() - interval '1 minute') AS published_last_minute,
           count(*) AS published_last_hour
      FROM recent GROUP BY outbox
)
SELECT o.name AS outbox,
       o.topic,
       coalesce(u.pending, 0) AS pending,
       coalesce(u.delayed, 0) AS delayed,
       coalesce(u.oldest_pending_age, interval '0') AS oldest_pending_age,
       u.next_delayed_at,
       coalesce(p.published_last_minute, 0) AS published_last_minute,
       coalesce(p.published_last_hour, 0) AS published_last_hour,
       coalesce(u.failing, 0) AS failing,
       NOT EXISTS (SELECT 1 FROM chargegate.subscription s WHERE s.topic = o.topic) AS unsubscribed
  FROM chargegate.outbox o
  LEFT JOIN u ON u.outbox = o.name
  LEFT JOIN p ON p.outbox = o.name;

COMMENT ON VIEW chargegate.outbox_status IS
    'Per outbox: pending (due) and delayed rows, oldest pending age, recently published, failing rows, '
    'and unsubscribed: its topic has no subscription, so nothing is relayed.';

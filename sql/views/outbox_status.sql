-- chargegate.outbox_status — one row per outbox table, for DBAs and
-- `chargegatectl status`: rows waiting for the relay (due now, or delayed
-- retries), the age of the oldest due row, what was published recently,
-- rows whose publishing failed (Kafka transport), and whether the outbox's
-- topic has no subscription (then the relay leaves every row pending: a
-- subscription receives only what is published after it exists).
CREATE OR REPLACE VIEW chargegate.outbox_status AS
WITH rows AS (
    SELECT 'charging_session_request_outbox'::text AS outbox, created_at, available_at, published_at, last_error
      FROM chargegate.charging_session_request_outbox
    UNION ALL
    SELECT 'authorization_decision_callback_outbox', created_at, available_at, published_at, last_error
      FROM chargegate.authorization_decision_callback_outbox
    UNION ALL
    SELECT 'callback_delivery_outbox', created_at, available_at, published_at, last_error
      FROM chargegate.callback_delivery_outbox
    UNION ALL
    SELECT 'callback_retry_outbox', created_at, available_at, published_at, last_error
      FROM chargegate.callback_retry_outbox
)
SELECT o.name AS outbox,
       o.topic,
       count(r.*) FILTER (WHERE r.published_at IS NULL AND r.available_at <= now()) AS pending,
       count(r.*) FILTER (WHERE r.published_at IS NULL AND r.available_at > now()) AS delayed,
       coalesce(now() - min(r.available_at) FILTER (WHERE r.published_at IS NULL AND r.available_at <= now()),
                interval '0') AS oldest_pending_age,
       min(r.available_at) FILTER (WHERE r.published_at IS NULL AND r.available_at > now()) AS next_delayed_at,
       count(r.*) FILTER (WHERE r.published_at > now() - interval '1 minute') AS published_last_minute,
       count(r.*) FILTER (WHERE r.published_at > now() - interval '1 hour') AS published_last_hour,
       count(r.*) FILTER (WHERE r.published_at IS NULL AND r.last_error IS NOT NULL) AS failing,
       NOT EXISTS (SELECT 1 FROM chargegate.subscription s WHERE s.topic = o.topic) AS unsubscribed
  FROM chargegate.outbox o
  LEFT JOIN rows r ON r.outbox = o.name
 GROUP BY o.name, o.topic;

COMMENT ON VIEW chargegate.outbox_status IS
    'Per outbox: pending (due) and delayed rows, oldest pending age, recently published, failing rows, '
    'and unsubscribed: its topic has no subscription, so nothing is relayed.';

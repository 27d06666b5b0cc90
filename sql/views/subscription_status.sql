-- chargegate.subscription_status — one row per subscription: messages ready
-- to be handled, waiting for a retry, leased (and how many of those leases
-- have expired), dead letters, the age of the oldest undelivered message and
-- how many events were handled in the last minute and hour.
-- The handled counts come from one pass over the last hour of handled_event
-- (its BRIN index), not one per subscription and window.
CREATE OR REPLACE VIEW chargegate.subscription_status AS
WITH handled AS (
    SELECT subscription,
           count(*) FILTER (WHERE handled_at > now() - interval '1 minute') AS last_minute,
           count(*) AS last_hour
      FROM chargegate.handled_event
     WHERE handled_at > now() - interval '1 hour'
     GROUP BY subscription
), batches AS (
    SELECT b.subscription,
           sum(cardinality(b.message_ids)) FILTER (WHERE b.state = 'ready' AND b.available_at <= now()) AS ready,
           sum(cardinality(b.message_ids)) FILTER (WHERE b.state = 'ready' AND b.available_at > now()) AS retrying,
           sum(cardinality(b.message_ids)) FILTER (WHERE b.state = 'leased') AS leased,
           sum(cardinality(b.message_ids)) FILTER (WHERE b.state = 'leased' AND b.available_at <= now())
               AS expired_leases,
           sum(cardinality(b.message_ids)) FILTER (WHERE b.state = 'dead') AS dead,
           now() - min(b.created_at) FILTER (WHERE b.state <> 'dead') AS oldest_age
      FROM chargegate.subscription_batch b
     GROUP BY b.subscription
)
SELECT s.name AS subscription,
       s.topic,
       coalesce(b.ready, 0) AS ready,
       coalesce(b.retrying, 0) AS retrying,
       coalesce(b.leased, 0) AS leased,
       coalesce(b.expired_leases, 0) AS expired_leases,
       coalesce(b.dead, 0) AS dead,
       coalesce(b.oldest_age, interval '0') AS oldest_age,
       coalesce(h.last_minute, 0) AS handled_last_minute,
       coalesce(h.last_hour, 0) AS handled_last_hour
  FROM chargegate.subscription s
  LEFT JOIN batches b ON b.subscription = s.name
  LEFT JOIN handled h ON h.subscription = s.name;

COMMENT ON VIEW chargegate.subscription_status IS
    'Per subscription: ready, retrying, leased, expired leases, dead letters, oldest age, handled recently.';

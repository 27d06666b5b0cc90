-- chargegate.subscription_status — one row per subscription: messages ready
-- to be handled, waiting for a retry, leased (and how many of those leases
-- have expired), dead letters, the age of the oldest undelivered message and
-- how many events were handled in the last minute and hour.
CREATE OR REPLACE VIEW chargegate.subscription_status AS
SELECT s.name AS subscription,
       s.topic,
       coalesce(sum(cardinality(b.message_ids)) FILTER (WHERE b.state = 'ready' AND b.available_at <= now()), 0)
           AS ready,
       coalesce(sum(cardinality(b.message_ids)) FILTER (WHERE b.state = 'ready' AND b.available_at > now()), 0)
           AS retrying,
       coalesce(sum(cardinality(b.message_ids)) FILTER (WHERE b.state = 'leased'), 0) AS leased,
       coalesce(sum(cardinality(b.message_ids)) FILTER (WHERE b.state = 'leased' AND b.available_at <= now()), 0)
           AS expired_leases,
       coalesce(sum(cardinality(b.message_ids)) FILTER (WHERE b.state = 'dead'), 0) AS dead,
       coalesce(now() - min(b.created_at) FILTER (WHERE b.state <> 'dead'), interval '0') AS oldest_age,
       (SELECT count(*) FROM chargegate.handled_event h
         WHERE h.subscription = s.name AND h.handled_at > now() - interval '1 minute') AS handled_last_minute,
       (SELECT count(*) FROM chargegate.handled_event h
         WHERE h.subscription = s.name AND h.handled_at > now() - interval '1 hour') AS handled_last_hour
  FROM chargegate.subscription s
  LEFT JOIN chargegate.subscription_batch b ON b.subscription = s.name
 GROUP BY s.name, s.topic;

COMMENT ON VIEW chargegate.subscription_status IS
    'Per subscription: ready, retrying, leased, expired leases, dead letters, oldest age, handled recently.';

-- chargegate.dead_letters — messages a subscription gave up on after
-- queue.max_attempts (or a permanent failure), with the last error and the
-- event itself.  Replay them with chargegate.replay_dead_letters() or drop
-- them with chargegate.discard_dead_letters() (or chargegate ctl's replay and
-- discard commands).
CREATE OR REPLACE VIEW chargegate.dead_letters AS
SELECT b.id AS batch_id,
       b.subscription,
       m.id AS message_id,
       m.event_id,
       m.event_type,
       m.aggregate_id,
       b.attempts,
       b.last_error,
       m.payload,
       m.published_at,
       b.created_at AS dead_since
  FROM chargegate.subscription_batch b
 CROSS JOIN LATERAL unnest(b.message_ids) AS u(message_id)
  JOIN chargegate.topic_message m ON m.id = u.message_id
 WHERE b.state = 'dead';

COMMENT ON VIEW chargegate.dead_letters IS 'Dead letters per subscription, with their last error and payload.';

-- chargegate.stranded_messages — messages of a built-in topic that one of
-- its built-in subscriptions never received: published before the
-- subscription existed (an earlier version created subscriptions only when
-- their consumer first started), with no delivery pending for it and not
-- handled by it.  Empty on a healthy database: every `chargegatectl migrate`
-- re-queues what it finds here (chargegate.requeue_stranded_messages()), and
-- since migration 007 no built-in subscription is younger than a message.
-- A subscription created later on purpose receives only what is published
-- after it; it is never listed here.
CREATE OR REPLACE VIEW chargegate.stranded_messages AS
SELECT s.name AS subscription,
       m.topic,
       m.id AS message_id,
       m.event_id,
       m.event_type,
       m.aggregate_id,
       m.published_at,
       s.created_at AS subscribed_at
  FROM chargegate.subscription s
  JOIN chargegate.topic_message m ON m.topic = s.topic AND m.published_at < s.created_at
 WHERE s.builtin
   AND (s.event_types IS NULL OR m.event_type = ANY (s.event_types))
   AND NOT EXISTS (SELECT 1 FROM chargegate.subscription_batch b
                    WHERE b.subscription = s.name AND b.oldest_message_id <= m.id AND m.id = ANY (b.message_ids))
   AND NOT EXISTS (SELECT 1 FROM chargegate.handled_event h
                    WHERE h.subscription = s.name AND h.event_id = m.event_id);

COMMENT ON VIEW chargegate.stranded_messages IS
    'Messages a built-in subscription never received (published before it existed); re-queued by chargegatectl migrate.';

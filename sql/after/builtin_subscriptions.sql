-- Run by chargegatectl migrate after every migration: the product's own
-- subscriptions (first created by 007_builtin_subscriptions.sql, failure_notice
-- by 013_failure_notices.sql) exist, so one deleted by hand comes back; what was published meanwhile is re-queued
-- by requeue_stranded_messages.sql, which runs after this file.  The daemon
-- checks at start that they match its declaration (src/queue/topology.c).
INSERT INTO chargegate.subscription (name, topic, builtin, event_types)
VALUES ('authorization', 'charging_session_request', true, NULL),
       ('notification', 'authorization_decision_callback', true, NULL),
       ('request_status_decisions', 'authorization_decision_callback', true, NULL),
       ('retry_scheduler', 'callback_delivery', true, NULL),
       ('request_status_deliveries', 'callback_delivery', true, NULL),
       ('notification_retry', 'callback_retry', true, NULL),
       -- only failures can be final failures (the Kafka transport, which
       -- has no relay, hands it everything; it acknowledges the rest)
       ('failure_notice', 'callback_delivery', true, ARRAY['CallbackFailed'])
ON CONFLICT (name) DO UPDATE SET builtin = true, event_types = EXCLUDED.event_types;

-- Run by chargegatectl migrate after every migration: the product's own
-- subscriptions (first created by 007_builtin_subscriptions.sql, failure_notice
-- by 013_failure_notices.sql) exist, so one deleted by hand comes back; what was published meanwhile is re-queued
-- by requeue_stranded_messages.sql, which runs after this file.  The daemon
-- checks at start that they match its declaration (src/queue/topology.c).
INSERT INTO chargegate.subscription (name, topic, builtin)
VALUES ('authorization', 'charging_session_request', true),
       ('notification', 'authorization_decision_callback', true),
       ('request_status_decisions', 'authorization_decision_callback', true),
       ('retry_scheduler', 'callback_delivery', true),
       ('request_status_deliveries', 'callback_delivery', true),
       ('notification_retry', 'callback_retry', true),
       ('failure_notice', 'callback_delivery', true)
ON CONFLICT (name) DO UPDATE SET builtin = true;

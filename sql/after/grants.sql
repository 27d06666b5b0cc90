-- Run by chargegatectl migrate after every migration: the privileges of
-- chargegate_app and chargegate_reader (sql/010_roles.sql), granted again so
-- that objects added since are covered.  Nothing is granted to PUBLIC.
--
-- chargegate_app is exactly what the daemon does: it reads and writes the
-- queue through the schema's functions (SECURITY INVOKER: its own rights
-- apply), inserts audit rows and delivery attempts but never changes or
-- deletes them, never deletes a request or an idempotency key (retention
-- does that through purge_requests() and purge_expired(), which run with
-- the owner's rights), reads API key hashes and records their last use.
-- chargegate_reader reads every table and view but API key hashes.

REVOKE ALL ON SCHEMA chargegate FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA chargegate FROM PUBLIC, chargegate_app, chargegate_reader;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA chargegate FROM PUBLIC, chargegate_app, chargegate_reader;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA chargegate FROM PUBLIC, chargegate_app, chargegate_reader;

GRANT USAGE ON SCHEMA chargegate TO chargegate_app, chargegate_reader;

-- --- chargegate_app ----------------------------------------------------------------------
GRANT SELECT ON chargegate.schema_version, chargegate.topic, chargegate.outbox TO chargegate_app;
GRANT SELECT, INSERT ON chargegate.subscription TO chargegate_app;
GRANT SELECT, INSERT, UPDATE ON chargegate.charging_session_request TO chargegate_app;
GRANT SELECT, INSERT ON chargegate.idempotency_key TO chargegate_app;
GRANT SELECT, INSERT, UPDATE ON chargegate.charging_session_request_outbox,
    chargegate.authorization_decision_callback_outbox, chargegate.callback_delivery_outbox,
    chargegate.callback_retry_outbox TO chargegate_app;
GRANT SELECT, INSERT ON chargegate.topic_message, chargegate.handled_event TO chargegate_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON chargegate.subscription_batch, chargegate.outbox_lease TO chargegate_app;
GRANT INSERT ON chargegate.authorization_audit, chargegate.callback_delivery_attempt TO chargegate_app;
GRANT SELECT (id, key_hash, revoked_at, last_used_at), UPDATE (last_used_at) ON chargegate.api_key TO chargegate_app;

-- the daemon's functions by name (whatever their signature); the operator's
-- (replay_dead_letters, discard_dead_letters, requeue_stranded_messages) stay the owner's
DO $grants$
DECLARE
    v_fn regprocedure;
BEGIN
    FOR v_fn IN
        SELECT p.oid::regprocedure FROM pg_proc p
         WHERE p.pronamespace = 'chargegate'::regnamespace
           AND p.proname IN ('uuid_v7', 'accept_requests', 'api_key_snapshot', 'apply_request_events',
                             'claim_messages', 'claim_outbox', 'defer_messages', 'ensure_subscription',
                             'extend_leases', 'mark_published', 'outbox_next_due_ms', 'purge_expired',
                             'purge_requests', 'record_authorizations', 'record_callback_attempts',
                             'record_handled', 'record_publish_error', 'relay_outbox',
                             'schedule_callback_retries', 'settle_batches')
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO chargegate_app', v_fn);
    END LOOP;
END;
$grants$;

-- --- chargegate_reader ------------------------------------------------------------------
GRANT SELECT ON ALL TABLES IN SCHEMA chargegate TO chargegate_reader;
REVOKE SELECT ON chargegate.api_key FROM chargegate_reader;
GRANT SELECT (id, name, created_at, revoked_at, last_used_at) ON chargegate.api_key TO chargegate_reader;

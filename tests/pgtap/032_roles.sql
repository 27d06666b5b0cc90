-- Least privilege (DESIGN §7, sql/010_roles.sql, sql/after/grants.sql):
-- every grant of chargegate_app and chargegate_reader, nothing for PUBLIC,
-- and what each role can and cannot do.
BEGIN;
SELECT plan(69);

SELECT has_role('chargegate_app', 'role chargegate_app exists');
SELECT has_role('chargegate_reader', 'role chargegate_reader exists');
SELECT isnt_superuser('chargegate_app', 'chargegate_app is no superuser');
SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = 'chargegate_app'), false, 'chargegate_app is NOLOGIN');
SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = 'chargegate_reader'), false, 'chargegate_reader is NOLOGIN');
SELECT schema_privs_are('chargegate', 'chargegate_app', ARRAY['USAGE'], 'chargegate_app may use the schema, not create in it');
SELECT schema_privs_are('chargegate', 'chargegate_reader', ARRAY['USAGE'], 'chargegate_reader may use the schema');
SELECT schema_privs_are('chargegate', 'public', ARRAY[]::text[], 'PUBLIC has nothing on the schema');

-- --- chargegate_app: one line per table, exactly these privileges -------------------------
SELECT table_privs_are('chargegate', t, 'chargegate_app', p, format('chargegate_app on %s: %s', t, p))
  FROM (VALUES
    ('schema_version', ARRAY['SELECT']),
    ('topic', ARRAY['SELECT']),
    ('outbox', ARRAY['SELECT']),
    ('subscription', ARRAY['INSERT', 'SELECT']),
    ('charging_session_request', ARRAY['INSERT', 'SELECT', 'UPDATE']),
    ('idempotency_key', ARRAY['INSERT', 'SELECT']),
    ('charging_session_request_outbox', ARRAY['INSERT', 'SELECT', 'UPDATE']),
    ('authorization_decision_callback_outbox', ARRAY['INSERT', 'SELECT', 'UPDATE']),
    ('callback_delivery_outbox', ARRAY['INSERT', 'SELECT', 'UPDATE']),
    ('callback_retry_outbox', ARRAY['INSERT', 'SELECT', 'UPDATE']),
    ('topic_message', ARRAY['INSERT', 'SELECT']),
    ('handled_event', ARRAY['INSERT', 'SELECT']),
    ('subscription_batch', ARRAY['DELETE', 'INSERT', 'SELECT', 'UPDATE']),
    ('outbox_lease', ARRAY['DELETE', 'INSERT', 'SELECT', 'UPDATE']),
    ('authorization_audit', ARRAY['INSERT']),
    ('callback_delivery_attempt', ARRAY['INSERT']),
    ('failure_notice_attempt', ARRAY['INSERT']),
    ('api_key', ARRAY[]::text[]),
    ('destination_circuit', ARRAY['DELETE', 'INSERT', 'SELECT', 'UPDATE']),
    ('open_circuits', ARRAY[]::text[]),
    ('outbox_pending_rows', ARRAY['SELECT']),
    ('outbox_status', ARRAY[]::text[]),
    ('subscription_status', ARRAY[]::text[]),
    ('dead_letters', ARRAY[]::text[])
  ) AS x(t, p);
SELECT column_privs_are('chargegate', 'api_key', c, 'chargegate_app', p, format('chargegate_app on api_key.%s: %s', c, p))
  FROM (VALUES ('id', ARRAY['SELECT']), ('key_hash', ARRAY['SELECT']), ('revoked_at', ARRAY['SELECT']),
               ('last_used_at', ARRAY['SELECT', 'UPDATE']), ('name', ARRAY[]::text[])) AS x(c, p);

-- --- chargegate_reader: SELECT everywhere, API key hashes excepted ----------------------
SELECT is(array_agg(c.relname::text ORDER BY c.relname), NULL,
          'chargegate_reader may SELECT every table and view but api_key')
  FROM pg_class c
 WHERE c.relnamespace = 'chargegate'::regnamespace AND c.relkind IN ('r', 'v') AND c.relname <> 'api_key'
   AND NOT has_table_privilege('chargegate_reader', c.oid, 'SELECT');
SELECT is(array_agg(c.relname::text ORDER BY c.relname), NULL, 'and nothing else on any of them')
  FROM pg_class c
 WHERE c.relnamespace = 'chargegate'::regnamespace AND c.relkind IN ('r', 'v')
   AND (has_table_privilege('chargegate_reader', c.oid, 'INSERT')
        OR has_table_privilege('chargegate_reader', c.oid, 'UPDATE')
        OR has_table_privilege('chargegate_reader', c.oid, 'DELETE')
        OR has_table_privilege('chargegate_reader', c.oid, 'TRUNCATE'));
SELECT column_privs_are('chargegate', 'api_key', c, 'chargegate_reader', p,
                        format('chargegate_reader on api_key.%s: %s', c, p))
  FROM (VALUES ('id', ARRAY['SELECT']), ('name', ARRAY['SELECT']), ('created_at', ARRAY['SELECT']),
               ('revoked_at', ARRAY['SELECT']), ('last_used_at', ARRAY['SELECT']), ('key_hash', ARRAY[]::text[])) AS x(c, p);

-- --- functions: the daemon's for chargegate_app, none for PUBLIC -------------------------
SELECT is(array_agg(p.proname::text ORDER BY p.proname), NULL, 'PUBLIC may execute none of the schema''s functions')
  FROM pg_proc p
 WHERE p.pronamespace = 'chargegate'::regnamespace
   AND EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE');
SELECT is(array_agg(p.proname::text ORDER BY p.proname),
          ARRAY['accept_requests', 'api_key_snapshot', 'apply_request_events', 'claim_messages', 'claim_outbox',
                'defer_messages', 'ensure_subscription', 'extend_leases', 'failure_notice_attempts_made',
                'mark_published', 'outbox_next_due_ms',
                'purge_expired', 'purge_requests', 'recent_requests', 'record_authorizations',
                'record_callback_attempts', 'record_circuit', 'record_failure_notices', 'record_handled',
                'record_publish_error', 'relay_outbox',
                'relay_outbox__authorization_decision_callback_outbox', 'relay_outbox__callback_delivery_outbox',
                'relay_outbox__callback_retry_outbox', 'relay_outbox__charging_session_request_outbox',
                'request_story', 'schedule_callback_retries', 'settle_batches', 'status_report', 'uuid_v7'],
          'chargegate_app may execute exactly the daemon''s functions (and one generated relay per outbox)')
  FROM pg_proc p
 WHERE p.pronamespace = 'chargegate'::regnamespace AND has_function_privilege('chargegate_app', p.oid, 'EXECUTE');
SELECT is(array_agg(p.proname::text ORDER BY p.proname), ARRAY['recent_requests', 'request_story', 'status_report'],
          'chargegate_reader may execute the reports only')
  FROM pg_proc p
 WHERE p.pronamespace = 'chargegate'::regnamespace AND has_function_privilege('chargegate_reader', p.oid, 'EXECUTE')
   AND NOT has_function_privilege('public', p.oid, 'EXECUTE');
SELECT is(array_agg(p.proname::text ORDER BY p.proname),
          ARRAY['purge_expired', 'purge_requests', 'recent_requests', 'request_story', 'status_report'],
          'only the retention functions and the read-only reports run with the owner''s rights')
  FROM pg_proc p WHERE p.pronamespace = 'chargegate'::regnamespace AND p.prosecdef;
SELECT is(array_agg(p.proname::text ORDER BY p.proname), NULL,
          'and they pin their search_path')
  FROM pg_proc p WHERE p.pronamespace = 'chargegate'::regnamespace AND p.prosecdef
   AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false);

-- --- what the roles can do --------------------------------------------------------------
INSERT INTO chargegate.authorization_audit (request_id, event_id, decision)
VALUES (gen_random_uuid(), gen_random_uuid(), 'allowed');
SET LOCAL ROLE chargegate_app;
SELECT lives_ok($$SELECT * FROM chargegate.accept_requests(ARRAY['123e4567-e89b-12d3-a456-426614174000']::uuid[],
                  ARRAY['tok'], ARRAY['https://x.example/cb'], ARRAY['k1'])$$,
                'as chargegate_app, accept_requests works');
SELECT lives_ok($$SELECT * FROM chargegate.relay_outbox('charging_session_request_outbox', 10)$$,
                '  the relay works');
SELECT lives_ok($$SELECT * FROM chargegate.claim_messages('authorization', 'me', 10, 30000)$$, '  claims work');
SELECT lives_ok($$SELECT * FROM chargegate.purge_requests(0, 10)$$, '  retention works');
SELECT lives_ok($$INSERT INTO chargegate.authorization_audit (request_id, event_id, decision)
                  VALUES (gen_random_uuid(), gen_random_uuid(), 'unknown')$$, '  audit rows can be inserted');
SELECT throws_ok($$DELETE FROM chargegate.authorization_audit$$, '42501', NULL, '  but not deleted');
SELECT throws_ok($$TRUNCATE chargegate.authorization_audit$$, '42501', NULL, '  nor truncated');
SELECT throws_ok($$UPDATE chargegate.authorization_audit SET reason = 'x'$$, '42501', NULL, '  nor changed');
SELECT throws_ok($$DELETE FROM chargegate.callback_delivery_attempt$$, '42501', NULL, '  attempts cannot be deleted');
SELECT throws_ok($$DELETE FROM chargegate.charging_session_request$$, '42501', NULL, '  nor requests');
SELECT throws_ok($$SELECT * FROM chargegate.discard_dead_letters('authorization')$$, '42501', NULL,
                 '  dead letters are the operator''s');
SELECT lives_ok($$SELECT chargegate.record_circuit('http://x:80', 'd', true, 1000, 5, 'timeout')$$,
                '  circuits can be recorded');
SELECT lives_ok($$SELECT chargegate.status_report(), chargegate.recent_requests(5),
                         chargegate.request_story(gen_random_uuid())$$,
                '  and the reports read what the status page shows');
RESET ROLE;
SET LOCAL ROLE chargegate_reader;
SELECT lives_ok($$SELECT * FROM chargegate.outbox_status$$, 'as chargegate_reader, the views read');
SELECT lives_ok($$SELECT count(*) FROM chargegate.authorization_audit$$, '  and the audit');
SELECT throws_ok($$SELECT key_hash FROM chargegate.api_key$$, '42501', NULL, '  but not API key hashes');
SELECT throws_ok($$INSERT INTO chargegate.topic (name) VALUES ('x')$$, '42501', NULL, '  and writes nothing');
SELECT lives_ok($$SELECT chargegate.status_report()$$, '  the status report runs');
SELECT throws_ok($$SELECT chargegate.record_circuit('http://x:80', 'd', true, 1000, 5, 'timeout')$$, '42501', NULL,
                 '  but circuits are the daemon''s to record');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

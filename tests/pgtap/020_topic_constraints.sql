-- Constraints of migrations 002 (topics, subscriptions, messages, batches,
-- handled events) and 004 (the contexts' tables): every key, foreign key and
-- check, with a value it accepts and the values it refuses; the seeded
-- topic/outbox wiring; and chargegate.ensure_subscription.
BEGIN;
SELECT plan(109);

-- The exact messages PostgreSQL gives for each kind of violation
CREATE FUNCTION pg_temp.chk(p_tab text, p_con text) RETURNS text LANGUAGE sql AS $$
    SELECT format('new row for relation "%s" violates check constraint "%s"', p_tab, p_con)
$$;
CREATE FUNCTION pg_temp.fk(p_tab text, p_con text) RETURNS text LANGUAGE sql AS $$
    SELECT format('insert or update on table "%s" violates foreign key constraint "%s"', p_tab, p_con)
$$;
CREATE FUNCTION pg_temp.uniq(p_con text) RETURNS text LANGUAGE sql AS $$
    SELECT format('duplicate key value violates unique constraint "%s"', p_con)
$$;

-- A clean slate for what this file inserts (rolled back at the end)
DELETE FROM chargegate.subscription_batch;
DELETE FROM chargegate.handled_event;
DELETE FROM chargegate.topic_message;
DELETE FROM chargegate.subscription;

-- ---------------------------------------------------------------------------
-- The wiring seeded by 002 and 004
-- ---------------------------------------------------------------------------
SELECT set_eq($$SELECT name FROM chargegate.topic$$,
              ARRAY['charging_session_request', 'authorization_decision_callback', 'callback_delivery',
                    'callback_retry'],
              'the four topics of the flow are seeded');
SELECT set_eq($$SELECT name, topic FROM chargegate.outbox
                 WHERE name IN ('charging_session_request_outbox', 'authorization_decision_callback_outbox',
                                'callback_delivery_outbox', 'callback_retry_outbox')$$,
              $$VALUES ('charging_session_request_outbox', 'charging_session_request'),
                       ('authorization_decision_callback_outbox', 'authorization_decision_callback'),
                       ('callback_delivery_outbox', 'callback_delivery'),
                       ('callback_retry_outbox', 'callback_retry')$$,
              'each outbox table is relayed to its own topic');
SELECT is_empty($$SELECT o.name FROM chargegate.outbox o
                   WHERE to_regclass(format('chargegate.%I', o.name)) IS NULL$$,
                'every registered outbox is a table in schema chargegate');

-- ---------------------------------------------------------------------------
-- topic
-- ---------------------------------------------------------------------------
SELECT col_is_pk('chargegate', 'topic', 'name', 'topic is keyed by name');
SELECT throws_ok($$INSERT INTO chargegate.topic (name) VALUES ('callback_retry')$$,
                 '23505', pg_temp.uniq('topic_pkey'), 'topic names are unique');
SELECT lives_ok(format('INSERT INTO chargegate.topic (name) VALUES (%L)', n),
                format('topic accepts the name "%s"', n))
  FROM unnest(ARRAY['t', 't_1', 'tq' || repeat('x', 39)]) AS n;
SELECT throws_ok(format('INSERT INTO chargegate.topic (name) VALUES (%L)', n), '23514',
                 pg_temp.chk('topic', 'topic_name_check'), format('topic refuses the name %s', d))
  FROM (VALUES ('', 'that is empty'), ('Topic', 'with a capital letter'), ('1topic', 'starting with a digit'),
               ('_topic', 'starting with an underscore'), ('my-topic', 'with a dash'),
               ('my topic', 'with a space'), ('t' || repeat('x', 41), 'of 42 characters')) AS v(n, d);
SELECT throws_ok($$INSERT INTO chargegate.topic (name) VALUES (NULL)$$, '23502', NULL, 'a topic needs a name');

-- ---------------------------------------------------------------------------
-- outbox
-- ---------------------------------------------------------------------------
SELECT col_is_pk('chargegate', 'outbox', 'name', 'outbox is keyed by name');
SELECT throws_ok($$INSERT INTO chargegate.outbox (name, topic) VALUES ('callback_retry_outbox', 'callback_retry')$$,
                 '23505', pg_temp.uniq('outbox_pkey'), 'an outbox is relayed to one topic only');
SELECT throws_ok($$INSERT INTO chargegate.outbox (name, topic) VALUES ('x_outbox', 'no_such_topic')$$,
                 '23503', pg_temp.fk('outbox', 'outbox_topic_fkey'), 'an outbox''s topic must exist');
SELECT throws_ok($$INSERT INTO chargegate.outbox (name, topic) VALUES ('x_outbox', NULL)$$,
                 '23502', NULL, 'an outbox needs a topic');
SELECT throws_ok($$DELETE FROM chargegate.topic WHERE name = 'callback_retry'$$, '23503', NULL,
                 'a topic an outbox is relayed to cannot be deleted');

-- ---------------------------------------------------------------------------
-- subscription
-- ---------------------------------------------------------------------------
SELECT col_is_pk('chargegate', 'subscription', 'name', 'subscription is keyed by name');
SELECT lives_ok($$INSERT INTO chargegate.subscription (name, topic) VALUES ('s1', 'charging_session_request')$$,
                'a subscription on an existing topic is accepted');
SELECT throws_ok($$INSERT INTO chargegate.subscription (name, topic) VALUES ('s1', 'callback_delivery')$$,
                 '23505', pg_temp.uniq('subscription_pkey'), 'subscription names are unique across topics');
SELECT throws_ok($$INSERT INTO chargegate.subscription (name, topic) VALUES ('s2', 'no_such_topic')$$,
                 '23503', pg_temp.fk('subscription', 'subscription_topic_fkey'), 'a subscription''s topic must exist');
SELECT throws_ok($$INSERT INTO chargegate.subscription (name, topic) VALUES ('s2', NULL)$$,
                 '23502', NULL, 'a subscription needs a topic');
SELECT lives_ok(format('INSERT INTO chargegate.subscription (name, topic) VALUES (%L, %L)', n, 'callback_delivery'),
                format('subscription accepts the name "%s"', n))
  FROM unnest(ARRAY['s', 's_2', 'sq' || repeat('x', 39)]) AS n;
SELECT throws_ok(format('INSERT INTO chargegate.subscription (name, topic) VALUES (%L, %L)', n, 'callback_delivery'),
                 '23514', pg_temp.chk('subscription', 'subscription_name_check'),
                 format('subscription refuses the name %s', d))
  FROM (VALUES ('', 'that is empty'), ('Sub', 'with a capital letter'), ('9sub', 'starting with a digit'),
               ('sub.x', 'with a dot'), ('s' || repeat('x', 41), 'of 42 characters')) AS v(n, d);

-- ---------------------------------------------------------------------------
-- topic_message
-- ---------------------------------------------------------------------------
SELECT col_is_pk('chargegate', 'topic_message', 'id', 'topic_message is keyed by id');
SELECT lives_ok($$INSERT INTO chargegate.topic_message (topic, event_id, event_type, aggregate_id, payload, created_at)
                  VALUES ('charging_session_request', '00000000-0000-4000-8000-000000000201', 'E',
                          gen_random_uuid(), '{}', now())$$,
                'a message on an existing topic is accepted');
SELECT throws_ok($$INSERT INTO chargegate.topic_message (topic, event_id, event_type, aggregate_id, payload, created_at)
                   VALUES ('charging_session_request', '00000000-0000-4000-8000-000000000201', 'E',
                           gen_random_uuid(), '{}', now())$$,
                 '23505', pg_temp.uniq('topic_message_event_key'), 'an event is on a topic at most once');
SELECT lives_ok($$INSERT INTO chargegate.topic_message (topic, event_id, event_type, aggregate_id, payload, created_at)
                  VALUES ('callback_delivery', '00000000-0000-4000-8000-000000000201', 'E',
                          gen_random_uuid(), '{}', now())$$,
                'the same event id may be on another topic');
SELECT throws_ok($$INSERT INTO chargegate.topic_message (topic, event_id, event_type, aggregate_id, payload, created_at)
                   VALUES ('no_such_topic', gen_random_uuid(), 'E', gen_random_uuid(), '{}', now())$$,
                 '23503', pg_temp.fk('topic_message', 'topic_message_topic_fkey'), 'a message''s topic must exist');
SELECT throws_ok(format($$INSERT INTO chargegate.topic_message (topic, event_id, event_type, aggregate_id, payload, created_at)
                          VALUES ('callback_delivery', %s, %s, %s, %s, %s)$$,
                        CASE c WHEN 'event_id' THEN 'NULL' ELSE 'gen_random_uuid()' END,
                        CASE c WHEN 'event_type' THEN 'NULL' ELSE $$'E'$$ END,
                        CASE c WHEN 'aggregate_id' THEN 'NULL' ELSE 'gen_random_uuid()' END,
                        CASE c WHEN 'payload' THEN 'NULL' ELSE $$'{}'$$ END,
                        CASE c WHEN 'created_at' THEN 'NULL' ELSE 'now()' END),
                 '23502', NULL, format('a message needs a %s', c))
  FROM unnest(ARRAY['event_id', 'event_type', 'aggregate_id', 'payload', 'created_at']) AS c;
SELECT is((SELECT published_at FROM chargegate.topic_message
            WHERE topic = 'charging_session_request' AND event_id = '00000000-0000-4000-8000-000000000201'),
          now(), 'published_at defaults to now()');

-- ---------------------------------------------------------------------------
-- subscription_batch
-- ---------------------------------------------------------------------------
CREATE FUNCTION pg_temp.batch_sql(p_sub text, p_ids text, p_state text, p_owner text, p_attempts text)
RETURNS text LANGUAGE sql AS $$
    SELECT format('INSERT INTO chargegate.subscription_batch (subscription, message_ids, oldest_message_id, state, '
                  'lease_owner, attempts) VALUES (%L, %s, 1, %L, %L, %s)', p_sub, p_ids, p_state, p_owner, p_attempts)
$$;

SELECT col_is_pk('chargegate', 'subscription_batch', 'id', 'subscription_batch is keyed by id');
SELECT lives_ok(pg_temp.batch_sql('s1', $$'{1,2}'$$, s, o, '0'), format('a %s batch %s is accepted', s, d))
  FROM (VALUES ('ready', NULL, 'without an owner'), ('leased', 'host:1:s1', 'with an owner'),
               ('dead', NULL, 'without an owner')) AS v(s, o, d);
SELECT throws_ok(pg_temp.batch_sql('no_such_sub', $$'{1}'$$, 'ready', NULL, '0'), '23503',
                 pg_temp.fk('subscription_batch', 'subscription_batch_subscription_fkey'),
                 'a batch''s subscription must exist');
SELECT throws_ok(pg_temp.batch_sql('s1', $$'{1}'$$, s, NULL, '0'), '23514',
                 pg_temp.chk('subscription_batch', 'subscription_batch_state_check'),
                 format('a batch cannot be in state "%s"', s))
  FROM unnest(ARRAY['done', 'READY', '']) AS s;
SELECT throws_ok(pg_temp.batch_sql('s1', $$'{1}'$$, s, o, '0'), '23514',
                 pg_temp.chk('subscription_batch', 'subscription_batch_lease_check'),
                 format('a %s batch %s is refused', s, d))
  FROM (VALUES ('leased', NULL, 'without an owner'), ('ready', 'host:1:s1', 'with an owner'),
               ('dead', 'host:1:s1', 'with an owner')) AS v(s, o, d);
SELECT throws_ok(pg_temp.batch_sql('s1', $$'{1}'$$, 'ready', NULL, '-1'), '23514',
                 pg_temp.chk('subscription_batch', 'subscription_batch_attempts_check'),
                 'a batch cannot have negative attempts');
SELECT throws_ok(pg_temp.batch_sql('s1', $$'{}'$$, 'ready', NULL, '0'), '23514',
                 pg_temp.chk('subscription_batch', 'subscription_batch_messages_check'),
                 'a batch holds at least one message');
SELECT throws_ok(pg_temp.batch_sql('s1', 'NULL', 'ready', NULL, '0'), '23502', NULL,
                 'a batch needs message_ids');
SELECT results_eq(
    $$SELECT state, attempts, fence, lease_owner, last_error, available_at = now(), created_at = now()
        FROM chargegate.subscription_batch
       WHERE id = (SELECT max(id) FROM chargegate.subscription_batch WHERE state = 'dead')$$,
    $$VALUES ('dead'::text, 0, 0::bigint, NULL::text, NULL::text, true, true)$$,
    'fence starts at 0, available_at and created_at default to now()');
INSERT INTO chargegate.subscription_batch (subscription, message_ids, oldest_message_id)
VALUES ('s1', '{7}', 7);
SELECT is((SELECT state FROM chargegate.subscription_batch WHERE message_ids = '{7}'), 'ready',
          'a batch is ready by default');
SELECT throws_ok($$DELETE FROM chargegate.subscription WHERE name = 's1'$$, '23503', NULL,
                 'a subscription with batches cannot be deleted');
SELECT has_index('chargegate', 'subscription_batch', 'subscription_batch_claim_idx',
                 ARRAY['subscription', 'available_at']::name[], 'the claim path has its index');
SELECT ok(pg_get_indexdef('chargegate.subscription_batch_claim_idx'::regclass) LIKE
          '%WHERE (state = ANY (ARRAY[''ready''::text, ''leased''::text]))',
          'the claim index holds only ready and leased batches');

-- ---------------------------------------------------------------------------
-- handled_event
-- ---------------------------------------------------------------------------
SELECT col_is_pk('chargegate', 'handled_event', ARRAY['subscription', 'event_id'],
                 'handled_event is keyed by (subscription, event_id)');
INSERT INTO chargegate.handled_event (subscription, event_id) VALUES ('s1', '00000000-0000-4000-8000-000000000202');
SELECT throws_ok($$INSERT INTO chargegate.handled_event (subscription, event_id)
                   VALUES ('s1', '00000000-0000-4000-8000-000000000202')$$,
                 '23505', pg_temp.uniq('handled_event_pkey'), 'a subscription handles an event once');
SELECT lives_ok($$INSERT INTO chargegate.handled_event (subscription, event_id)
                  VALUES ('s', '00000000-0000-4000-8000-000000000202')$$,
                'another subscription may handle the same event');

-- Hot queue tables are vacuumed aggressively
SELECT ok((SELECT reloptions @> ARRAY['autovacuum_vacuum_scale_factor=0.01', 'autovacuum_vacuum_cost_delay=0']
             FROM pg_class WHERE oid = format('chargegate.%I', t)::regclass),
          format('%s has per-table autovacuum settings', t))
  FROM unnest(ARRAY['topic_message', 'subscription_batch', 'handled_event', 'callback_retry_outbox']) AS t;

-- ---------------------------------------------------------------------------
-- 004: authorization_audit
-- ---------------------------------------------------------------------------
SELECT col_is_pk('chargegate', 'authorization_audit', 'id', 'authorization_audit is keyed by id');
SELECT lives_ok(format($$INSERT INTO chargegate.authorization_audit (request_id, event_id, decision)
                         VALUES (gen_random_uuid(), gen_random_uuid(), %L)$$, d),
                format('authorization_audit accepts decision %s', d))
  FROM unnest(ARRAY['allowed', 'not_allowed', 'unknown', 'invalid']) AS d;
SELECT throws_ok($$INSERT INTO chargegate.authorization_audit (request_id, event_id, decision)
                   VALUES (gen_random_uuid(), gen_random_uuid(), 'maybe')$$,
                 '23514', pg_temp.chk('authorization_audit', 'authorization_audit_decision_check'),
                 'authorization_audit refuses an unknown decision');
SELECT throws_ok($$INSERT INTO chargegate.authorization_audit (request_id, event_id, decision)
                   VALUES (gen_random_uuid(), gen_random_uuid(), NULL)$$,
                 '23502', NULL, 'authorization_audit needs a decision');

-- ---------------------------------------------------------------------------
-- 004: callback_delivery_attempt
-- ---------------------------------------------------------------------------
CREATE FUNCTION pg_temp.attempt_sql(p_attempt int, p_class text) RETURNS text LANGUAGE sql AS $$
    SELECT format($f$INSERT INTO chargegate.callback_delivery_attempt
                     (request_id, webhook_id, attempt, callback_url, error_class, final)
                     VALUES (gen_random_uuid(), gen_random_uuid(), %s, 'https://x.example/cb', %L, false)$f$,
                  p_attempt, p_class)
$$;
SELECT col_is_pk('chargegate', 'callback_delivery_attempt', 'id', 'callback_delivery_attempt is keyed by id');
SELECT lives_ok(pg_temp.attempt_sql(1, c), format('callback_delivery_attempt accepts error_class %s', coalesce(c, 'NULL')))
  FROM unnest(ARRAY[NULL, 'dns', 'connect', 'tls', 'timeout', 'blocked_address', 'http_500', 'http_410']) AS c;
SELECT throws_ok(pg_temp.attempt_sql(1, c), '23514',
                 pg_temp.chk('callback_delivery_attempt', 'callback_delivery_attempt_error_class_check'),
                 format('callback_delivery_attempt refuses error_class "%s"', c))
  FROM unnest(ARRAY['', 'DNS', 'http_5000', 'http_50', 'http_abc', 'other', 'dns ']) AS c;
SELECT throws_ok(pg_temp.attempt_sql(0, NULL), '23514',
                 pg_temp.chk('callback_delivery_attempt', 'callback_delivery_attempt_attempt_check'),
                 'callback_delivery_attempt counts attempts from 1');

-- ---------------------------------------------------------------------------
-- 004: callback_retry_outbox
-- ---------------------------------------------------------------------------
SELECT col_is_pk('chargegate', 'callback_retry_outbox', 'id', 'callback_retry_outbox is keyed by id');
SELECT lives_ok($$INSERT INTO chargegate.callback_retry_outbox (event_id, event_type, aggregate_id, payload)
                  VALUES ('00000000-0000-4000-8000-000000000203', 'CallbackRetryRequested', gen_random_uuid(), '{}')$$,
                'callback_retry_outbox accepts a CallbackRetryRequested');
SELECT throws_ok($$INSERT INTO chargegate.callback_retry_outbox (event_id, event_type, aggregate_id, payload)
                   VALUES ('00000000-0000-4000-8000-000000000203', 'CallbackRetryRequested', gen_random_uuid(), '{}')$$,
                 '23505', pg_temp.uniq('callback_retry_outbox_event_id_key'), 'callback_retry_outbox event ids are unique');
SELECT throws_ok(format($$INSERT INTO chargegate.callback_retry_outbox (event_type, aggregate_id, payload)
                          VALUES (%L, gen_random_uuid(), '{}')$$, t),
                 '23514', pg_temp.chk('callback_retry_outbox', 'callback_retry_outbox_event_type_check'),
                 format('callback_retry_outbox refuses event_type %s', t))
  FROM unnest(ARRAY['CallbackFailed', 'callbackretryrequested']) AS t;
SELECT throws_ok($$INSERT INTO chargegate.callback_retry_outbox (event_type, aggregate_id, payload)
                   VALUES ('CallbackRetryRequested', gen_random_uuid(), '[]')$$,
                 '23514', pg_temp.chk('callback_retry_outbox', 'callback_retry_outbox_payload_check'),
                 'callback_retry_outbox refuses a payload that is not an object');
SELECT throws_ok($$INSERT INTO chargegate.callback_retry_outbox (event_type, aggregate_id, payload, publish_attempts)
                   VALUES ('CallbackRetryRequested', gen_random_uuid(), '{}', -1)$$,
                 '23514', pg_temp.chk('callback_retry_outbox', 'callback_retry_outbox_publish_attempts_check'),
                 'callback_retry_outbox refuses negative publish_attempts');
SELECT has_index('chargegate', 'callback_retry_outbox', 'callback_retry_outbox_pending_idx',
                 ARRAY['available_at', 'id']::name[], 'callback_retry_outbox has the relay''s pending index');

-- ---------------------------------------------------------------------------
-- ensure_subscription
-- ---------------------------------------------------------------------------
SELECT lives_ok($$SELECT chargegate.ensure_subscription('es_one', 'callback_delivery')$$,
                'ensure_subscription creates a subscription');
SELECT lives_ok($$SELECT chargegate.ensure_subscription('es_one', 'callback_delivery')$$,
                'ensure_subscription is idempotent');
SELECT results_eq($$SELECT name, topic FROM chargegate.subscription WHERE name = 'es_one'$$,
                  $$VALUES ('es_one'::text, 'callback_delivery'::text)$$, 'one subscription es_one on callback_delivery');
SELECT throws_ok($$SELECT chargegate.ensure_subscription('es_one', 'callback_retry')$$, '22023',
                 'subscription "es_one" already exists on topic "callback_delivery", not "callback_retry"',
                 'ensure_subscription refuses to move a subscription to another topic');
SELECT throws_ok($$SELECT chargegate.ensure_subscription('es_two', 'no_such_topic')$$, '23503', NULL,
                 'ensure_subscription refuses an unknown topic');
SELECT throws_ok($$SELECT chargegate.ensure_subscription('Bad-Name', 'callback_delivery')$$, '23514', NULL,
                 'ensure_subscription refuses an invalid name');

SELECT * FROM finish();
ROLLBACK;

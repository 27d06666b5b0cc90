-- 006_time_ordered_ids.sql — event and request ids in time order (UUID
-- version 7: 48 bits of milliseconds, then random bits).
--
-- Every hop of a message inserts its event_id into a unique B-tree (the
-- outbox, topic_message, handled_event).  Random (version 4) ids land on a
-- random leaf page each time, so under load every insert touches a cold
-- page; time-ordered ids go to the right-most leaves, which stay in cache.
-- The function lives in this migration, not in functions/, because the
-- column defaults below need it before functions/ is applied.

CREATE OR REPLACE FUNCTION chargegate.uuid_v7()
RETURNS uuid
LANGUAGE sql
VOLATILE
PARALLEL SAFE
AS $function$
    -- the random v4 id supplies the random bits; its first 48 bits become
    -- the Unix time in milliseconds and its version nibble becomes 7
    SELECT encode(
               set_bit(set_bit(
                   overlay(uuid_send(gen_random_uuid())
                           PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                                             FROM 3)
                           FROM 1 FOR 6),
                   52, 1), 53, 1),
               'hex')::uuid;
$function$;

COMMENT ON FUNCTION chargegate.uuid_v7() IS
    'A UUID version 7 (RFC 9562): time-ordered, so unique indexes on ids grow at their right edge.';

ALTER TABLE chargegate.charging_session_request_outbox ALTER COLUMN event_id SET DEFAULT chargegate.uuid_v7();
ALTER TABLE chargegate.authorization_decision_callback_outbox ALTER COLUMN event_id SET DEFAULT chargegate.uuid_v7();
ALTER TABLE chargegate.callback_delivery_outbox ALTER COLUMN event_id SET DEFAULT chargegate.uuid_v7();
ALTER TABLE chargegate.callback_retry_outbox ALTER COLUMN event_id SET DEFAULT chargegate.uuid_v7();

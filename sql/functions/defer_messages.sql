-- chargegate.defer_messages(p_subscription text, p_messages jsonb, p_max_attempts integer) → integer
--
-- Kafka transport: messages of p_subscription whose handler failed are
-- copied into the PostgreSQL retry storage, in the transaction that settles
-- their batch, so the Kafka offset may be committed past them without losing
-- them.  p_messages is a JSON array of objects {event_id, event_type,
-- aggregate_id, payload, attempts, retry_after_ms, error, postponed};
-- retry_after_ms null means a permanent failure; postponed true means the
-- message was not handled and did not fail (its destination was saturated
-- or paused): ready again after the delay, never dead, its attempts as
-- given (the delivery that postponed it is not counted).  Each message is stored once per topic in
-- topic_message (an existing row for the event is reused and kept from
-- retention) and gets a subscription_batch of its own: ready after
-- retry_after_ms, or dead when the failure is permanent or attempts reached
-- p_max_attempts.  claim_messages hands the ready ones out again and
-- settle_batches settles them, as in PostgreSQL mode.  Returns the number of
-- messages stored.
DROP FUNCTION IF EXISTS chargegate.defer_messages(text, jsonb, integer);
CREATE OR REPLACE FUNCTION chargegate.defer_messages(p_subscription text, p_messages jsonb, p_max_attempts integer)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_topic text;
    v_n     integer;
BEGIN
    SELECT s.topic INTO v_topic FROM chargegate.subscription s WHERE s.name = p_subscription;
    IF v_topic IS NULL THEN
        RAISE EXCEPTION 'defer_messages: unknown subscription "%"', p_subscription
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH input AS (
        SELECT (x ->> 'event_id')::uuid AS event_id, x ->> 'event_type' AS event_type,
               (x ->> 'aggregate_id')::uuid AS aggregate_id, x -> 'payload' AS payload,
               coalesce((x ->> 'postponed')::boolean, false) AS postponed,
               CASE WHEN coalesce((x ->> 'postponed')::boolean, false)
                    THEN greatest(coalesce((x ->> 'attempts')::integer, 0), 0)
                    ELSE greatest(coalesce((x ->> 'attempts')::integer, 1), 1) END AS attempts,
               (x ->> 'retry_after_ms')::bigint AS retry_after_ms,
               coalesce(x ->> 'error', 'failed') AS error,
               n
          FROM jsonb_array_elements(p_messages) WITH ORDINALITY AS a(x, n)
    ), messages AS (
        -- DO UPDATE (not NOTHING) returns the existing row, and its fresh
        -- published_at keeps retention away from it
        INSERT INTO chargegate.topic_message AS m
               (topic, event_id, event_type, aggregate_id, payload, created_at)
        SELECT DISTINCT ON (i.event_id) v_topic, i.event_id, i.event_type, i.aggregate_id, i.payload, now()
          FROM input i ORDER BY i.event_id, i.n
        ON CONFLICT (topic, event_id) DO UPDATE SET published_at = now()
        RETURNING m.id, m.event_id
    ), batches AS (
        INSERT INTO chargegate.subscription_batch
               (subscription, message_ids, oldest_message_id, state, available_at, attempts, last_error)
        SELECT p_subscription, ARRAY[m.id], m.id,
               CASE WHEN i.postponed THEN 'ready'
                    WHEN i.retry_after_ms IS NULL OR i.attempts >= p_max_attempts THEN 'dead' ELSE 'ready' END,
               now() + make_interval(secs => coalesce(i.retry_after_ms, 0) / 1000.0),
               i.attempts, left(i.error, 2000)
          FROM input i JOIN messages m ON m.event_id = i.event_id
        RETURNING 1
    )
    SELECT count(*)::integer INTO v_n FROM batches;
    RETURN v_n;
END;
$function$;

COMMENT ON FUNCTION chargegate.defer_messages(text, jsonb, integer) IS
    'Kafka transport: stores messages whose handler failed as retries (or dead letters) of a subscription.';

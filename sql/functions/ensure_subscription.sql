-- chargegate.ensure_subscription(p_name text, p_topic text) → void
--
-- Creates the subscription p_name on p_topic if it does not exist; a consumer
-- calls it at start.  Fails if the name is already subscribed to another topic.
CREATE OR REPLACE FUNCTION chargegate.ensure_subscription(p_name text, p_topic text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_topic text;
BEGIN
    INSERT INTO chargegate.subscription (name, topic) VALUES (p_name, p_topic)
    ON CONFLICT (name) DO NOTHING;
    SELECT s.topic INTO v_topic FROM chargegate.subscription s WHERE s.name = p_name;
    IF v_topic <> p_topic THEN
        RAISE EXCEPTION 'subscription "%" already exists on topic "%", not "%"', p_name, v_topic, p_topic
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END;
$function$;

COMMENT ON FUNCTION chargegate.ensure_subscription(text, text) IS
    'Creates a subscription on a topic unless it exists (idempotent).';

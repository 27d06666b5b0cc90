-- chargegate.ack_messages(p_subscription, p_owner, p_message_ids, p_fences)
--
-- Marks leased messages done.  A message is acknowledged only while it is
-- still leased by p_owner with the same fence it was claimed with; otherwise
-- its lease expired and another consumer may own it now, so the
-- acknowledgement is refused.  Returns the ids of the refused (stale)
-- acknowledgements; the caller logs them.  Handled event ids are recorded
-- separately (record_handled), so refusing a stale acknowledgement never
-- doubles a side effect.
CREATE OR REPLACE FUNCTION chargegate.ack_messages(
    p_subscription text, p_owner text, p_message_ids bigint[], p_fences bigint[])
RETURNS SETOF bigint
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH input AS (
        SELECT u.message_id, u.fence
          FROM unnest(p_message_ids, p_fences) AS u(message_id, fence)
    ), acked AS (
        UPDATE chargegate.subscription_message sm
           SET state = 'done', done_at = now(), lease_owner = NULL
          FROM input i
         WHERE sm.subscription = p_subscription
           AND sm.message_id = i.message_id
           AND sm.state = 'leased'
           AND sm.lease_owner = p_owner
           AND sm.fence = i.fence
        RETURNING sm.message_id
    )
    SELECT i.message_id FROM input i
     WHERE i.message_id NOT IN (SELECT a.message_id FROM acked a);
$function$;

COMMENT ON FUNCTION chargegate.ack_messages(text, text, bigint[], bigint[]) IS
    'Acknowledges leased messages; returns the ids whose acknowledgement was refused as stale.';

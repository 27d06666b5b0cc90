-- chargegate.leases — every batch a consumer holds right now: who, how many
-- messages, until when, and whether the lease has already expired (its
-- consumer died or stalled; another consumer will take it over).
CREATE OR REPLACE VIEW chargegate.leases AS
SELECT b.id AS batch_id,
       b.subscription,
       b.lease_owner,
       cardinality(b.message_ids) AS messages,
       b.available_at AS expires_at,
       b.available_at <= now() AS expired,
       b.attempts,
       b.fence
  FROM chargegate.subscription_batch b
 WHERE b.state = 'leased';

COMMENT ON VIEW chargegate.leases IS 'Leased batches with owner, size, expiry and fencing counter.';

-- chargegate.api_key_snapshot(p_used bigint[]) — every key's hash and whether
-- it is revoked, for a daemon to check Authorization headers from memory
-- (DESIGN §3: no database round trip per request).  Each daemon calls it
-- about once a second, so a revocation reaches every daemon within seconds.
--
--   p_used  ids of the keys this daemon accepted since its previous call:
--           their last_used_at becomes now() (at most one write per key
--           every 5 seconds, however many daemons report it)
--
-- Returns one row per key: id, key_hash as 64 hex digits, revoked.
CREATE OR REPLACE FUNCTION chargegate.api_key_snapshot(p_used bigint[] DEFAULT '{}')
RETURNS TABLE (id bigint, key_hash text, revoked boolean)
LANGUAGE plpgsql
VOLATILE
AS $function$
BEGIN
    IF cardinality(p_used) > 0 THEN
        UPDATE chargegate.api_key AS k
           SET last_used_at = now()
         WHERE k.id = ANY (p_used)
           AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '5 seconds');
    END IF;
    RETURN QUERY
        SELECT k.id, encode(k.key_hash, 'hex'), k.revoked_at IS NOT NULL
          FROM chargegate.api_key AS k
         ORDER BY k.id;
END;
$function$;

COMMENT ON FUNCTION chargegate.api_key_snapshot(bigint[]) IS
    'Every API key''s id, SHA-256 (hex) and revoked flag, read by each daemon about once a second; '
    'records last_used_at for the ids passed. See sql/functions/api_key_snapshot.sql.';

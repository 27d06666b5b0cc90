-- 008_api_keys.sql — API keys (DESIGN §3): clients authenticate with
-- "Authorization: Bearer <key>"; a request belongs to the key that created
-- it, and Idempotency-Key values are scoped per key.
--
-- Only a key's SHA-256 is stored: keys are 256 random bits, so a fast hash
-- is as good as a slow one, and the daemon checks a key without a database
-- round trip (it keeps the active hashes in memory, refreshed every few
-- seconds).  `chargegatectl api-key create|list|revoke` manages them.

CREATE TABLE chargegate.api_key (
    id           bigint      GENERATED ALWAYS AS IDENTITY,
    name         text        NOT NULL,
    key_hash     bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz,
    CONSTRAINT api_key_pkey PRIMARY KEY (id),
    CONSTRAINT api_key_key_hash_key UNIQUE (key_hash),
    CONSTRAINT api_key_name_check CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
    CONSTRAINT api_key_key_hash_check CHECK (octet_length(key_hash) = 32),
    CONSTRAINT api_key_revoked_check CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);
-- a name is used by one active key at a time; revoked keys keep theirs
CREATE UNIQUE INDEX api_key_active_name_idx ON chargegate.api_key (name) WHERE revoked_at IS NULL;

COMMENT ON TABLE chargegate.api_key IS
    'API keys of the HTTP API: only their SHA-256 is stored. A revoked key stays (its requests name it); '
    'daemons refuse it within seconds.';
COMMENT ON COLUMN chargegate.api_key.name IS 'The name it was created with (chargegatectl api-key create NAME).';
COMMENT ON COLUMN chargegate.api_key.key_hash IS 'SHA-256 of the key; the key itself is shown once, at creation.';
COMMENT ON COLUMN chargegate.api_key.last_used_at IS 'Last time a daemon accepted it (recorded every few seconds).';

-- Requests belong to the key that created them (NULL: created with keys off).
ALTER TABLE chargegate.charging_session_request ADD COLUMN api_key_id bigint;
ALTER TABLE chargegate.charging_session_request ADD CONSTRAINT charging_session_request_api_key_id_fkey
    FOREIGN KEY (api_key_id) REFERENCES chargegate.api_key (id);
COMMENT ON COLUMN chargegate.charging_session_request.api_key_id IS
    'The API key that created the request (NULL when keys were off); only it can read the request.';

-- Idempotency keys are scoped per API key (0: requests made without one).
ALTER TABLE chargegate.idempotency_key ADD COLUMN api_key_id bigint NOT NULL DEFAULT 0;
ALTER TABLE chargegate.idempotency_key DROP CONSTRAINT idempotency_key_pkey;
ALTER TABLE chargegate.idempotency_key ADD CONSTRAINT idempotency_key_pkey PRIMARY KEY (api_key_id, key);
COMMENT ON COLUMN chargegate.idempotency_key.api_key_id IS
    'The API key the Idempotency-Key was sent with (0: none); the same key value of two API keys is two keys.';

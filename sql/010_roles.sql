-- 010_roles.sql — least privilege (DESIGN §7): two NOLOGIN roles, granted to
-- the login roles that use chargegate; the owner that migrates keeps the
-- rest.  Their privileges are (re)granted by sql/after/grants.sql on every
-- migrate, so objects added later are covered.
--   chargegate_app     exactly what the daemon needs
--   chargegate_reader  read access to the documented views and tables, for DBAs
--
-- Roles belong to the cluster, not to the database: when the migrating role
-- may not create them, this fails and says what a superuser has to run.
DO $roles$
DECLARE
    v_missing text[];
    v_role    text;
BEGIN
    SELECT array_agg(r ORDER BY r) INTO v_missing
      FROM unnest(ARRAY['chargegate_app', 'chargegate_reader']) AS r
     WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r);
    IF v_missing IS NULL THEN
        RETURN;
    END IF;
    IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'the roles % do not exist, and % may not create them', array_to_string(v_missing, ', '),
                        current_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'as a superuser, run: '
                         || (SELECT string_agg(format('CREATE ROLE %I NOLOGIN;', r), ' ') FROM unnest(v_missing) r)
                         || ' then chargegatectl migrate again';
    END IF;
    FOREACH v_role IN ARRAY v_missing LOOP
        EXECUTE format('CREATE ROLE %I NOLOGIN', v_role);
    END LOOP;
END;
$roles$;

#!/bin/sh
# DESIGN §7: least privilege.  The daemon logs in as a role granted only
# chargegate_app and everything works -- API keys, requests, authorization,
# callbacks, retries, retention, /readyz -- while that role cannot delete
# or change the audit, delete requests, or read what it was not given.  A
# DBA's role granted chargegate_reader reads every view and table (not API
# key hashes) and writes nothing; chargegatectl status works with it.  A
# migrating role that may not create roles is told what a superuser must run.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

demo_setup
demo_authz_start --default allowed
demo_receiver_start --fail-first 1
tl_sql "create role cg_daemon login in role chargegate_app; create role cg_dba login in role chargegate_reader;" \
	>/dev/null || tl_bail "could not create the login roles"
tl_is "$(tl_sql "select string_agg(rolname || ':' || rolcanlogin, ',' order by rolname) from pg_roles where rolname like 'chargegate\_%'")" \
	"chargegate_app:false,chargegate_reader:false" "migrate created the two NOLOGIN roles"

APP_URL="host=127.0.0.1 port=$TL_PGPORT user=cg_daemon dbname=postgres"
DBA_URL="host=127.0.0.1 port=$TL_PGPORT user=cg_dba dbname=postgres"
tl_run 10 "$TL_CTL" -c "$TL_CONF" api-key create acme
KEY=$(cat "$TL_DIR/run.out")

demo_e2e_daemon CHARGEGATE_DATABASE_URL="$APP_URL" CHARGEGATE_HTTP_API_KEYS=required \
	CHARGEGATE_REQUEST_RETENTION=1s CHARGEGATE_QUEUE_RETENTION=1s ||
	tl_bail "chargegated did not start as cg_daemon"
tl_http GET /readyz
tl_status 200 "as chargegate_app: /readyz is 200 (it may lock the request tables for writing)"
ids=
for i in 1 2 3; do
	tl_post /v1/charging-sessions "{\"station_id\":\"$DEMO_STATION\",\"driver_token\":\"tok$i\",\"callback_url\":\"$DEMO_RECEIVER/cb\"}" \
		-H "Authorization: Bearer $KEY" -H "Idempotency-Key: k$i"
	tl_status 202 "as chargegate_app: POST $i with an API key is accepted"
	ids="$ids $(tl_json request_id)"
done
set -- $ids
tl_http GET "/v1/charging-sessions/$1" -H "Authorization: Bearer $KEY"
tl_status 200 "  and read back"
delivered() { [ "$(tl_count callback_delivery_attempt "http_status = 200")" -ge 3 ]; }
tl_check "authorization, a failed first attempt, a retry and the callbacks all work" tl_poll 30 delivered
gone() { [ "$(tl_count charging_session_request)" = 0 ] && [ "$(tl_count callback_delivery_attempt)" = 0 ]; }
tl_check "retention deletes the finished requests (through purge_requests, the owner's rights)" tl_poll 30 gone
tl_is "$(tl_sql "select last_used_at is not null from chargegate.api_key where name = 'acme'")" t \
	"the key's last use is recorded"
if grep -qi 'permission denied' "$TL_DAEMON_LOG"; then
	tl_not_ok "the daemon's log has no permission error" "$(grep -i 'permission denied' "$TL_DAEMON_LOG" | head -n 3)"
else
	tl_ok "the daemon's log has no permission error"
fi

# as_role URL SQL: psql as that role; prints "ok" or the error's first line
as_role() {
	psql -qtAX -v ON_ERROR_STOP=1 -d "$1" -c "$2" >/dev/null 2>"$TL_DIR/psql.err" && echo ok ||
		head -n 1 "$TL_DIR/psql.err"
}
denied() {
	case $(as_role "$1" "$2") in
	*"permission denied"* | *"must be owner"*) tl_ok "$3" ;;
	*) tl_not_ok "$3" "$(cat "$TL_DIR/psql.err")" ;;
	esac
}
tl_sql "insert into chargegate.authorization_audit (request_id, event_id, decision) values (gen_random_uuid(), gen_random_uuid(), 'allowed')" >/dev/null
denied "$APP_URL" "delete from chargegate.authorization_audit" "chargegate_app cannot delete audit rows"
denied "$APP_URL" "truncate chargegate.authorization_audit" "  nor truncate the audit"
denied "$APP_URL" "update chargegate.authorization_audit set decision = 'allowed'" "  nor change it"
denied "$APP_URL" "select * from chargegate.authorization_audit" "  nor read it"
denied "$APP_URL" "delete from chargegate.callback_delivery_attempt" "  nor delete delivery attempts"
denied "$APP_URL" "delete from chargegate.charging_session_request" "  nor delete requests"
denied "$APP_URL" "delete from chargegate.idempotency_key" "  nor idempotency keys"
denied "$APP_URL" "select name from chargegate.api_key" "  nor read API key names"
denied "$APP_URL" "insert into chargegate.api_key (name, key_hash) values ('x', sha256('x'))" "  nor create API keys"
denied "$APP_URL" "select * from chargegate.replay_dead_letters('authorization')" "  nor replay dead letters (the operator's)"
denied "$APP_URL" "drop table chargegate.topic_message" "  nor drop a table"
denied "$APP_URL" "create table chargegate.x (i int)" "  nor create one in the schema"

for v in outbox_status subscription_status leases dead_letters table_health stranded_messages; do
	tl_is "$(as_role "$DBA_URL" "select * from chargegate.$v")" ok "chargegate_reader reads chargegate.$v"
done
tl_is "$(as_role "$DBA_URL" "select * from chargegate.authorization_audit")" ok "  and the audit"
tl_is "$(as_role "$DBA_URL" "select name, last_used_at from chargegate.api_key")" ok "  and API key names"
denied "$DBA_URL" "select key_hash from chargegate.api_key" "  but not their hashes"
denied "$DBA_URL" "insert into chargegate.charging_session_request (request_id, station_id, driver_token, callback_url) values (gen_random_uuid(), gen_random_uuid(), 't', 'https://x/')" \
	"chargegate_reader writes nothing"
denied "$DBA_URL" "select * from chargegate.purge_requests(0, 10)" "  nor purges"
CHARGEGATE_DATABASE_URL=$DBA_URL tl_run 10 "$TL_CTL" -c "$TL_CONF" status
tl_is "$TL_RC" 0 "chargegatectl status works as chargegate_reader"
CHARGEGATE_DATABASE_URL=$DBA_URL tl_run 10 "$TL_CTL" -c "$TL_CONF" status --json
tl_is "$TL_RC|$(grep -c '"open_circuits"' "$TL_DIR/run.out")" "0|1" "  and status --json"
CHARGEGATE_DATABASE_URL=$DBA_URL tl_run 10 "$TL_CTL" -c "$TL_CONF" requests show 123e4567-e89b-12d3-a456-426614174000
tl_is "$TL_RC" 3 "  and requests show (of an unknown request: exit status 3)"
CHARGEGATE_DATABASE_URL=$APP_URL tl_run 10 "$TL_CTL" -c "$TL_CONF" api-key create intruder
tl_is "$TL_RC" 1 "chargegatectl api-key create as chargegate_app fails"
tl_like "$(cat "$TL_DIR/run.err")" 'run it as the schema.s owner' "  and says whose rights it needs"
tl_stop_daemon

# a migrating role that may not create roles, on a fresh cluster-less database: told what to run
tl_sql "create role cg_owner login; create database owned_db owner cg_owner; drop role cg_daemon; drop role cg_dba;
	drop owned by chargegate_app; drop owned by chargegate_reader; drop role chargegate_app; drop role chargegate_reader;" \
	>/dev/null 2>&1 || tl_bail "could not prepare a database owned by a plain role"
CHARGEGATE_DATABASE_URL="host=127.0.0.1 port=$TL_PGPORT user=cg_owner dbname=owned_db" \
	tl_run 30 "$TL_CTL" -c "$TL_CONF" migrate
tl_is "$TL_RC" 1 "migrate as a role that may not create roles fails (exit 1, nothing changed)"
tl_like "$(tr '\n' ' ' <"$TL_DIR/run.err")" 'as a superuser, run: CREATE ROLE chargegate_app NOLOGIN; CREATE ROLE chargegate_reader NOLOGIN;' \
	"  and prints the statements for a superuser"
tl_sql "create role chargegate_app nologin; create role chargegate_reader nologin;" >/dev/null
CHARGEGATE_DATABASE_URL="host=127.0.0.1 port=$TL_PGPORT user=cg_owner dbname=owned_db" \
	tl_run 30 "$TL_CTL" -c "$TL_CONF" migrate
tl_is "$TL_RC" 0 "once they exist, migrate as that role succeeds"

tl_done

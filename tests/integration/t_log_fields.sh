#!/bin/sh
# Structured logs (doc/operations.md, "Logs"): with log.format = json every
# line is one JSON object, and a request's lines carry request_id (and
# event_id, subscription, destination, attempt, error_class where they
# apply) as members, so that jq 'select(.request_id == "...")' follows it
# from the API daemon that accepted it to the worker daemon that decided and
# delivered it: accepted, the authorization answer with its status and
# latency, each delivery attempt.  At log.level = debug no output holds the
# signing secret, the API key, database.url's password or the password in
# authorization.url (shown as *** where the worker names its service), and
# neither does the status page's JSON (status, recent requests, a request's
# story), nor the driver token.  Text lines carry the same fields as
# key=value.  An authorization call cut short by a stop is logged without an
# error_class (DESIGN §5 has no class for it) and says why.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

command -v jq >/dev/null 2>&1 || tl_bail "jq is not installed (run scripts/install-deps)"

SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
DB_PASSWORD=Db-Pa55word-7f3c9a
AUTHZ_PASSWORD=Authz-Pa55word-2d8e41
TOKEN=validDriverToken123
UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'

demo_setup
demo_authz_start --default allowed --latency 20
demo_receiver_start --secret "$SECRET"
GOOD=$DEMO_RECEIVER
demo_receiver_start --secret "$SECRET" --fail-first 1
FLAKY=$DEMO_RECEIVER

# --- a role whose password the server checks ------------------------------------------------
tl_sql "create role cglog login superuser password '$DB_PASSWORD'" >/dev/null
HBA=$TL_PGDIR/data/pg_hba.conf
{ echo "host all cglog 127.0.0.1/32 scram-sha-256"; cat "$HBA"; } >"$TL_DIR/hba" && cat "$TL_DIR/hba" >"$HBA"
tl_sql "select pg_reload_conf()" >/dev/null
URL="postgresql://cglog:$DB_PASSWORD@127.0.0.1:$TL_PGPORT/postgres"
tl_like "$(psql -X "postgresql://cglog:wrong@127.0.0.1:$TL_PGPORT/postgres" -c 'select 1' 2>&1)" \
	'password authentication failed' "the test role's password is checked by the server"

tl_run 10 "$TL_CTL" -c "$TL_CONF" api-key create logs
KEY=$(cat "$TL_DIR/run.out")
tl_like "$KEY" '^cgk_' "an API key for the test"

COMMON="CHARGEGATE_DATABASE_URL=$URL CHARGEGATE_LOG_LEVEL=debug CHARGEGATE_LOG_FORMAT=json
	CHARGEGATE_HTTP_API_KEYS=required CHARGEGATE_CALLBACK_SIGNING_SECRET=$SECRET"
# shellcheck disable=SC2086 # COMMON: blank-separated VAR=value words without blanks
tl_start_daemon $COMMON CHARGEGATE_RELAY_ENABLED=false || tl_bail "the API-only chargegated did not start"
API_LOG=$TL_DAEMON_LOG
# shellcheck disable=SC2086
tl_start_role worker $COMMON CHARGEGATE_HTTP_ENABLED=false CHARGEGATE_CONSUMERS_ENABLED=true \
	CHARGEGATE_AUTHORIZATION_URL="http://gate:$AUTHZ_PASSWORD@${DEMO_AUTHZ_URL#http://}" \
	CHARGEGATE_CALLBACK_ALLOW_PRIVATE_NETWORKS=true \
	CHARGEGATE_CALLBACK_RETRY_SCHEDULE=200ms,400ms CHARGEGATE_QUEUE_POLL_INTERVAL=100ms \
	CHARGEGATE_QUEUE_LEASE=5s || tl_bail "the worker chargegated did not start"
WORKER_LOG=$TL_DIR/worker.log

# shellcheck disable=SC2317 # called through tl_poll
post() {
	tl_post /v1/charging-sessions \
		"{\"station_id\":\"$DEMO_STATION\",\"driver_token\":\"$TOKEN\",\"callback_url\":\"$1\"}" \
		-H "Authorization: Bearer $KEY"
	[ "$TL_STATUS" = 202 ] && tl_json request_id
}
# accepted CALLBACK_URL: POST until a 202 (the first read of the API keys may still be under way: 503)
# shellcheck disable=SC2317
accepted() { post "$1" >"$TL_DIR/rid" && [ -s "$TL_DIR/rid" ]; }
RID='' RETRIED=''
tl_poll 10 accepted "$GOOD/cb" && RID=$(cat "$TL_DIR/rid")
tl_poll 10 accepted "$FLAKY/cb" && RETRIED=$(cat "$TL_DIR/rid")
tl_like "$RID|$RETRIED" "^[0-9a-f-]{36}\|[0-9a-f-]{36}$" "both requests are accepted with the API key"
demo_wait_status "$RID" delivered 20 || tl_diag "$RID: $(demo_field "$RID" status) after 20 s"
demo_wait_status "$RETRIED" delivered 20 || tl_diag "$RETRIED: $(demo_field "$RETRIED" status) after 20 s"
tl_is "$(demo_field "$RID" status)|$(demo_field "$RETRIED" status)" "delivered|delivered" \
	"one request is delivered at once, the other after a failed attempt"

# something to say about a bad password, at debug, with the password written in a way libpq echoes
tl_run 10 env CHARGEGATE_DATABASE_URL="postgresql://cglog:$DB_PASSWORD%zz@127.0.0.1:$TL_PGPORT/postgres" \
	CHARGEGATE_LOG_LEVEL=debug CHARGEGATE_LOG_FORMAT=json CHARGEGATE_CONSUMERS_ENABLED=false \
	CHARGEGATE_HTTP_LISTEN="127.0.0.1:$(tl_free_port)" "$TL_DAEMON" -c "$TL_CONF"
tl_like "$(cat "$TL_DIR/run.err" "$TL_DIR/run.out")" 'percent-encoded' \
	"a database.url libpq cannot parse is reported with libpq's reason"
cat "$TL_DIR/run.out" "$TL_DIR/run.err" >"$TL_DIR/badurl.log"

# the status page's JSON, read from the API daemon's admin listener (it names both requests: the
# positive marker that the pages hold what a secret would be next to)
for p in status requests "requests/$RID" "requests/$RETRIED"; do
	f=$TL_DIR/ui-$(echo "$p" | tr / -).json
	code=$(curl -s -o "$f" -w '%{http_code}' "$TL_ADMIN_URL/ui/api/$p")
	tl_is "$code|$(jq -e . "$f" >/dev/null 2>&1 && echo json)" "200|json" "the status page's /ui/api/$p answers JSON"
done
tl_is "$(grep -lF -- "$RID" "$TL_DIR"/ui-*.json | wc -l)" 2 \
	"the recent requests and the request's story name the request"
tl_like "$(jq -r '[.timeline[].event] | join(" ")' "$TL_DIR/ui-requests-$RETRIED.json")" \
	'authorization.*callback_attempt.*callback_attempt.*delivered' \
	"the retried request's story on the page has its authorization and both attempts"
tl_is "$(jq -r .request.station_id "$TL_DIR/ui-requests-$RID.json")" "$DEMO_STATION" \
	"the request's story on the page has the request's own data (its station)"

tl_stop_daemon
# shellcheck disable=SC2154 # set by tl_start_role
kill -TERM "$worker_pid"
tl_wait_exit "$worker_pid" 15

# --- every line is JSON ---------------------------------------------------------------------------
for l in "$API_LOG" "$WORKER_LOG" "$TL_DIR/badurl.log"; do
	_bad=$(jq -R 'fromjson? // "BAD"' <"$l" 2>&1 | grep -c '^"BAD"$')
	tl_is "$_bad" 0 "$(basename "$l"): every line parses as JSON"
	tl_is "$(jq -r 'select((.ts | type) != "string" or (.level | type) != "string" or (.pid | type) != "number"
			      or (.msg | type) != "string") | .msg' "$l" 2>&1)" "" \
		"$(basename "$l"): every line has ts, level, pid and msg"
done

# lines RID LOG: the request's lines as "msg" texts
lines() { jq -r --arg r "$1" 'select(.request_id == $r) | .msg' "$2"; }
tl_like "$(lines "$RID" "$API_LOG")" '^api: accepted$' "the API daemon's log has the accepted line, with request_id"
AUTHZ=$(jq -c --arg r "$RID" 'select(.request_id == $r and (.msg | startswith("authorization:")))' "$WORKER_LOG")
tl_is "$(printf '%s\n' "$AUTHZ" | grep -c .)" 1 "the worker logs one authorization answer for it"
tl_like "$(printf '%s' "$AUTHZ" | jq -r .msg)" '^authorization: allowed http_status=200 latency=[0-9]+ ms$' \
	"the answer line has the decision, the HTTP status and the latency"
tl_like "$(printf '%s' "$AUTHZ" | jq -r '.level + "|" + .event_id + "|" + .subscription')" \
	'^info\|[0-9a-f-]{36}\|[a-z_.-]+$' "and its event_id and subscription as members"
DELIV=$(jq -c --arg r "$RID" 'select(.request_id == $r and (.msg | startswith("callback:")))' "$WORKER_LOG")
tl_is "$(printf '%s' "$DELIV" | jq -r '[.msg, .attempt, .destination, (.error_class // "-")] | join("|")')" \
	"callback: delivered|1|http://127.0.0.1:${GOOD##*:}|-" \
	"its delivery: attempt 1 to its destination, delivered, no error_class"
tl_like "$(printf '%s' "$DELIV" | jq -r .event_id)" "$UUID_RE" "the delivery line names its event"

tl_is "$(jq -r --arg r "$RETRIED" 'select(.request_id == $r and (.msg | startswith("callback:")))
		| "\(.attempt):\(.error_class // "-")"' "$WORKER_LOG" | paste -sd' ' -)" "1:http_500 2:-" \
	"the retried request: attempt 1 failed with error_class http_500, attempt 2 delivered"

# one jq over both logs follows the request: accepted, decided, delivered, in time order
tl_is "$(cat "$API_LOG" "$WORKER_LOG" | jq -rs --arg r "$RETRIED" \
	'map(select(.request_id == $r)) | sort_by(.ts) | map(.msg | split(" ")[0:2] | join(" ")) | join(", ")')" \
	"api: accepted, authorization: allowed, callback: http_500, callback: delivered" \
	"jq select(.request_id == ...) over both daemons' logs tells the request's story in order"

# --- no secrets, anywhere -----------------------------------------------------------------------------
tl_like "$(jq -r 'select(.msg | startswith("authorization: asking")) | .msg' "$WORKER_LOG")" \
	"^authorization: asking http://gate:\\*\\*\\*@127.0.0.1:[0-9]+/authorize " \
	"the worker names the service it asks, with authorization.url's password masked"
ALL="$API_LOG $WORKER_LOG $TL_DIR/badurl.log $TL_DIR/migrate.out $TL_DIR/run.err"
UI=$(echo "$TL_DIR"/ui-*.json)
for s in "$SECRET" "${SECRET#whsec_}" "$KEY" "$DB_PASSWORD" "$AUTHZ_PASSWORD"; do
	# shellcheck disable=SC2086
	tl_is "$(grep -lF -- "$s" $ALL | paste -sd' ' -)" "" "no output holds ${s%"${s#????????}"}... (a secret)"
done
for s in "$SECRET" "${SECRET#whsec_}" "$KEY" "$DB_PASSWORD" "$AUTHZ_PASSWORD" "$TOKEN"; do
	# shellcheck disable=SC2086
	tl_is "$(grep -lF -- "$s" $UI | paste -sd' ' -)" "" "the status page's JSON holds no ${s%"${s#????????}"}... (a secret)"
done
tl_like "$(jq -r .msg "$TL_DIR/badurl.log" | grep 'percent-encoded' | head -n 1)" '\*\*\*' \
	"the password libpq echoed is masked"

# --- text stays readable ---------------------------------------------------------------------------
# shellcheck disable=SC2086
tl_start_daemon $COMMON CHARGEGATE_LOG_FORMAT=text || tl_bail "the text-format chargegated did not start"
T=
tl_poll 10 accepted "$GOOD/cb" && T=$(cat "$TL_DIR/rid")
tl_check "a request is accepted by the text-format daemon" test -n "$T"
tl_poll 5 grep -q "request_id=$T" "$TL_DAEMON_LOG"
tl_like "$(grep "request_id=$T" "$TL_DAEMON_LOG" | head -n 1)" \
	"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z \[[0-9]+\] debug: api: accepted request_id=$T$" \
	"a text line reads: time [pid] level: message key=value"

# --- a call cut short by a stop: no error class (DESIGN §5 has none for it), the message says why --
demo_authz_start --fail-rate 1 --fail-mode hang
# shellcheck disable=SC2086
tl_start_role stopping $COMMON CHARGEGATE_HTTP_ENABLED=false CHARGEGATE_CONSUMERS_ENABLED=true \
	CHARGEGATE_AUTHORIZATION_URL="$DEMO_AUTHZ_URL" CHARGEGATE_AUTHORIZATION_TIMEOUT=60s \
	CHARGEGATE_QUEUE_POLL_INTERVAL=100ms || tl_bail "the stopping chargegated did not start"
STOPPING_LOG=$TL_DIR/stopping.log
H=
tl_poll 10 accepted "$GOOD/cb" && H=$(cat "$TL_DIR/rid")
tl_check "a request for the hanging authorization service is accepted" test -n "$H"
tl_check "the authorization service got its call and does not answer" tl_poll 10 grep -q hang "$DEMO_AUTHZ_OUT"
# shellcheck disable=SC2154 # set by tl_start_role
kill -TERM "$stopping_pid"
tl_poll 5 grep -q 'draining' "$STOPPING_LOG"
kill -TERM "$stopping_pid"
tl_wait_exit "$stopping_pid" 15
CUT=$(jq -c --arg r "$H" 'select(.request_id == $r and (.msg | startswith("authorization:")))' "$STOPPING_LOG")
tl_like "$(printf '%s' "$CUT" | jq -r .msg)" '^authorization: unknown cause=daemon shutting down before the answer' \
	"a call cut short by a second stop signal is logged as unknown, saying the daemon was shutting down"
tl_is "$(printf '%s' "$CUT" | jq -r '.error_class // "none"')" none "  without an error_class"
tl_stop_daemon
tl_done

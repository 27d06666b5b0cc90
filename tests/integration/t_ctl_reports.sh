#!/bin/sh
# chargegatectl's reports against a live daemon (DESIGN §8, issue 16):
# status --json parses and shows the real counts (requests by status, a
# callback waiting for its retry, a dead letter) and an open circuit that
# appears when a receiver keeps failing and disappears when the probe
# succeeds, also in the text status; requests show tells a delivered and a
# retried request's story in time order, as text and as JSON; an unknown
# request id exits 3, a malformed one 2; check-config accepts a good file and
# names the file and line of a bad key or value, and exits 4 for those and a
# missing file; it applies the CHARGEGATE_* environment as the daemon does
# (naming the keys it set, never their values) unless --no-env, and refuses
# what the daemon refuses at start (no database.url, a Kafka transport
# without its module).  A daemon that stops takes its open circuits with it,
# also one that its last deliveries open while it drains.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

command -v jq >/dev/null 2>&1 || tl_bail "jq is not installed (run scripts/install-deps)"

demo_setup
demo_authz_start --default allowed
demo_receiver_start
HEALTHY=$DEMO_RECEIVER
demo_receiver_start --fail-first 1
FLAKY=$DEMO_RECEIVER
demo_receiver_start --status 503
FAILING=$DEMO_RECEIVER
FAILING_PORT=$DEMO_RECEIVER_PORT
FAILING_PID=$DEMO_RECEIVER_PID
# the failing receiver's second failure opens its circuit for 2 s; its third
# attempt, 8 s later, is the probe
demo_e2e_daemon CHARGEGATE_CALLBACK_RETRY_SCHEDULE=1s,8s CHARGEGATE_CALLBACK_CIRCUIT_FAILURES=2 \
	CHARGEGATE_CALLBACK_CIRCUIT_COOLDOWN=2s || tl_bail "chargegated did not start"

ctl() { "$TL_CTL" -c "$TL_CONF" "$@"; }
# status_json FILTER: the value jq FILTER finds in chargegatectl status --json
status_json() { ctl status --json | jq -c "$1"; }
# json_is FILTER VALUE: for tl_poll
# shellcheck disable=SC2317 # called through tl_poll
json_is() { [ "$(status_json "$1" 2>/dev/null)" = "$2" ]; }

# --- a delivered request, a retried one, one waiting for its retry, a dead letter -------------
demo_request validDriverToken123 "$HEALTHY/cb"
RID_OK=$DEMO_RID
demo_request validDriverToken123 "$FLAKY/cb"
RID_RETRIED=$DEMO_RID
demo_request validDriverToken123 "$FAILING/cb"
RID_FAILING=$DEMO_RID
# a decision event no daemon wrote: the sender gives up on it at once
tl_sql "insert into chargegate.authorization_decision_callback_outbox (event_type, aggregate_id, payload)
	values ('AuthorizationDecisionCallback', gen_random_uuid(), '{\"not\": \"a decision\"}')"
demo_wait_status "$RID_OK" delivered 10 || tl_diag "the healthy receiver's request is $(demo_field "$RID_OK" status)"
demo_wait_status "$RID_RETRIED" delivered 10 || tl_diag "the retried request is $(demo_field "$RID_RETRIED" status)"

DEST=http://127.0.0.1:$FAILING_PORT
CIRCUIT=".open_circuits | map(select(.destination == \"$DEST\")) | map([.consecutive_failures, .last_error])"
if tl_poll 10 json_is "$CIRCUIT" '[[2,"http_503"]]'; then
	tl_ok "status --json lists the failing receiver's open circuit after its second failure"
else
	tl_not_ok "status --json lists the failing receiver's open circuit after its second failure" \
		"open_circuits: $(status_json .open_circuits)"
fi
tl_poll 5 json_is '.outboxes[] | select(.outbox == "callback_retry_outbox") | .delayed' 1
tl_poll 5 json_is '.subscriptions[] | select(.subscription == "notification") | .dead' 1
ctl status --json >"$TL_DIR/status.json" 2>"$TL_DIR/status.err"
tl_is "$?" 0 "status --json exits 0"
if jq -e . "$TL_DIR/status.json" >/dev/null 2>&1; then
	tl_ok "status --json prints JSON"
else
	tl_not_ok "status --json prints JSON" "$(head -c 300 "$TL_DIR/status.json")"
fi
S=$TL_DIR/status.json
tl_is "$(jq -c '[.accepted_last_hour[] | [.status, .requests]]' "$S")" '[["decided",1],["delivered",2]]' \
	"status --json: the last hour's requests by status, 2 delivered and 1 decided (its callback waits for a retry)"
tl_is "$(jq -c '[.finished_last_hour[] | [.status, .requests]]' "$S")" '[["delivered",2]]' \
	"status --json: 2 requests finished in the last hour, both delivered"
tl_is "$(jq -c '.outboxes[] | select(.outbox == "callback_retry_outbox") | [.delayed, .pending]' "$S")" '[1,0]' \
	"status --json: the failing receiver's next attempt waits in callback_retry_outbox"
tl_is "$(jq -c '.subscriptions[] | select(.subscription == "notification") | [.dead, .ready, .leased]' "$S")" \
	'[1,0,0]' "status --json: the bad decision event is the notification subscription's dead letter"
tl_is "$(jq -c '[.schema_version, (.subscriptions[0].oldest_age | type), (.outboxes | length)]' "$S")" \
	"[$(tl_sql "select max(version) from chargegate.schema_version"),\"number\",4]" \
	"status --json: the schema version, ages in seconds, every outbox"
ctl status >"$TL_DIR/status.txt" 2>&1
tl_check "the text status lists the open circuit" grep -q "$DEST" "$TL_DIR/status.txt"
# text_rows TITLE: "first cell second cell" of each row of the text status's table under TITLE
text_rows() {
	sed -n "/^$1/,/^(/p" "$TL_DIR/status.txt" | sed '1,3d;$d' | awk -F'|' '{gsub(/ /, "", $1); gsub(/ /, "", $2); print $1, $2}'
}
tl_is "$(text_rows 'requests accepted in the last hour')" "$(jq -r '.accepted_last_hour[] | "\(.status) \(.requests)"' "$S")" \
	"the text status shows the last hour's requests as status --json does"
tl_is "$(text_rows 'outboxes')" "$(jq -r '.outboxes[] | "\(.outbox) \(.pending)"' "$S")" \
	"and the outboxes' pending rows"

# --- the receiver recovers: the probe closes the circuit ---------------------------------------
demo_stop "$FAILING_PID"
"$DEMO_RECEIVER_BIN" --listen "127.0.0.1:$FAILING_PORT" >"$TL_DIR/recovered.out" 2>"$TL_DIR/recovered.err" &
DEMO_PIDS="$DEMO_PIDS $!"
tl_poll 5 curl -sf -o /dev/null --max-time 1 "$DEST/healthz" || tl_diag "the recovered receiver does not answer"
if demo_wait_status "$RID_FAILING" delivered 20; then
	tl_ok "the recovered receiver gets the third attempt"
else
	tl_not_ok "the recovered receiver gets the third attempt" "status $(demo_field "$RID_FAILING" status)"
fi
if tl_poll 10 json_is "$CIRCUIT" '[]'; then
	tl_ok "status --json no longer lists the circuit once the probe succeeded"
else
	tl_not_ok "status --json no longer lists the circuit once the probe succeeded" \
		"open_circuits: $(status_json .open_circuits)"
fi
ctl status >"$TL_DIR/status.txt" 2>&1
tl_check "nor does the text status" sh -c "! grep -q '$DEST' '$TL_DIR/status.txt'"

# --- requests show -----------------------------------------------------------------------------
# events ID: the event column of requests show ID, one per line
events() { ctl requests show "$1" | sed -n '/^time (UTC)/,$p' | sed 1d | cut -c38-57 | sed 's/ *$//' | paste -sd, -; }
ctl requests show "$RID_OK" >"$TL_DIR/show.txt" 2>&1
tl_is "$?" 0 "requests show exits 0"
tl_check "requests show names the request, its status and its decision" \
	grep -q "request $RID_OK" "$TL_DIR/show.txt"
tl_like "$(cat "$TL_DIR/show.txt")" "status +delivered" "requests show: status delivered"
tl_is "$(events "$RID_OK" | sed 's/relayed,//g; s/,relayed$//')" \
	"accepted,authorization,callback attempt 1,delivered" \
	"requests show, delivered: accepted, authorization, one callback attempt, delivered (and relays between)"
tl_like "$(grep ' authorization  ' "$TL_DIR/show.txt")" 'answer allowed, HTTP 200, took [0-9]+ ms' \
	"requests show: the authorization answer, its HTTP status and latency"
tl_is "$(events "$RID_RETRIED" | sed 's/relayed,//g; s/,relayed$//')" \
	"accepted,authorization,callback attempt 1,callback attempt 2,delivered" \
	"requests show, retried: both attempts in time order, then delivered"
ctl requests show "$RID_RETRIED" >"$TL_DIR/show.txt" 2>&1
tl_like "$(grep 'callback attempt 1' "$TL_DIR/show.txt")" 'HTTP 500, took [0-9]+ ms, error http_500, next attempt' \
	"requests show: the failed attempt's status, latency, error class and next attempt"
tl_like "$(grep 'callback attempt 2' "$TL_DIR/show.txt")" 'HTTP 200, took [0-9]+ ms, final' \
	"requests show: the successful attempt, final"
tl_check "requests show never shows the driver token" sh -c "! grep -q validDriverToken123 '$TL_DIR/show.txt'"

ctl requests show "$RID_FAILING" --json >"$TL_DIR/story.json" 2>&1
tl_is "$?" 0 "requests show --json exits 0"
J=$TL_DIR/story.json
tl_is "$(jq -c '[.request.request_id, .request.status, .request.attempts]' "$J" 2>&1)" "[\"$RID_FAILING\",\"delivered\",3]" \
	"requests show --json parses: the request, delivered after 3 attempts"
tl_is "$(jq -c '[.timeline[] | select(.event == "callback_attempt") | [.attempt, .http_status, .error_class]]' "$J")" \
	'[[1,503,"http_503"],[2,503,"http_503"],[3,200,null]]' \
	"requests show --json: the attempts with their HTTP status and error class"
tl_is "$(jq -c '[.timeline[].at] == ([.timeline[].at] | sort)' "$J")|$(jq -r '.timeline[0].event, .timeline[-1].event' "$J" | paste -sd, -)" \
	"true|accepted,delivered" "requests show --json: the timeline is in time order, accepted to delivered"

ctl requests show 0190aaaa-0000-7000-8000-000000000000 >"$TL_DIR/out" 2>"$TL_DIR/err"
tl_is "$?|$(cat "$TL_DIR/out")" "3|" "requests show of an unknown request exits 3 and prints nothing"
tl_like "$(cat "$TL_DIR/err")" 'no request 0190aaaa-0000-7000-8000-000000000000' "  and says so on stderr"
ctl requests show 0190aaaa-0000-7000-8000-000000000000 --json >/dev/null 2>&1
tl_is "$?" 3 "requests show --json of an unknown request exits 3"
ctl requests show not-a-uuid >"$TL_DIR/out" 2>"$TL_DIR/err"
tl_is "$?" 2 "requests show with a malformed id exits 2"
tl_like "$(cat "$TL_DIR/err")" '"not-a-uuid" is not a request id' "  and names it"
ctl requests show "$RID_OK" --yaml >/dev/null 2>&1
tl_is "$?" 2 "an unknown option of requests show exits 2"
ctl status --yaml >/dev/null 2>"$TL_DIR/err"
tl_is "$?|$(cat "$TL_DIR/err")" "2|chargegatectl: usage: status [--json]" "an unknown option of status exits 2"
CHARGEGATE_DATABASE_URL="host=127.0.0.1 port=$(tl_free_port) connect_timeout=2" ctl status --json \
	>"$TL_DIR/out" 2>"$TL_DIR/err"
tl_is "$?|$(cat "$TL_DIR/out")" "1|" "status --json without a database exits 1 and prints nothing"
tl_like "$(cat "$TL_DIR/err")" 'could not connect to the database' "  and says why on stderr"

# --- check-config ------------------------------------------------------------------------------
# the tests' own CHARGEGATE_* variables, which check-config applies as the daemon does
no_cg_env() { env -u CHARGEGATE_DATABASE_URL -u CHARGEGATE_LOG_LEVEL "$@"; }
GOOD=$TL_DIR/good.conf
printf '[database]\nurl = host=192.0.2.1 dbname=nowhere\n\n[authorization]\nurl = http://192.0.2.1/\n\n[callback]\ntimeout = 5s\n' >"$GOOD"
no_cg_env "$TL_CTL" check-config "$GOOD" >"$TL_DIR/out" 2>"$TL_DIR/err"
tl_is "$?|$(cat "$TL_DIR/out")|$(cat "$TL_DIR/err")" "0|$GOOD: ok|" \
	"check-config on a good file prints FILE: ok and exits 0, without connecting to its database"
no_cg_env "$TL_CTL" -c "$GOOD" check-config >"$TL_DIR/out" 2>&1
tl_is "$?|$(cat "$TL_DIR/out")" "0|$GOOD: ok" "check-config checks -c FILE when no FILE is given"
BADKEY=$TL_DIR/badkey.conf
printf '[http]\nlisten = 127.0.0.1:8080\nlisten_port = 8080\n' >"$BADKEY"
"$TL_CTL" check-config "$BADKEY" >"$TL_DIR/out" 2>"$TL_DIR/err"
tl_is "$?|$(cat "$TL_DIR/out")" "4|" "check-config on an unknown key exits 4 and prints nothing on stdout"
tl_like "$(cat "$TL_DIR/err")" "^$BADKEY:3: .*listen_port" "  stderr names the file, the line and the key"
BADVAL=$TL_DIR/badvalue.conf
printf '# comment\n[callback]\n\ntimeout = fast\n' >"$BADVAL"
"$TL_CTL" check-config "$BADVAL" >"$TL_DIR/out" 2>"$TL_DIR/err"
tl_is "$?" 4 "check-config on a malformed value exits 4"
tl_like "$(cat "$TL_DIR/err")" "^$BADVAL:4: .*timeout" "  stderr names the file, the line and the key"
NOAUTHZ=$TL_DIR/noauthz.conf
printf '[database]\nurl = host=192.0.2.1 dbname=nowhere\n' >"$NOAUTHZ"
"$TL_CTL" check-config "$NOAUTHZ" >"$TL_DIR/out" 2>"$TL_DIR/err"
tl_is "$?|$(cat "$TL_DIR/out")" "4|" "check-config applies the daemon's start-up checks: no authorization.url with consumers on exits 4"
tl_like "$(cat "$TL_DIR/err")" "^$NOAUTHZ: authorization.url is not set but consumers are enabled" \
	"  stderr names the file and the daemon's own reason"
# systemd's Environment= supplies the authorization service's URL (with its password)
AUTHZ_SECRET=authzPassw0rdInEnv
CHARGEGATE_AUTHORIZATION_URL="http://gate:$AUTHZ_SECRET@192.0.2.1/" \
	"$TL_CTL" check-config "$NOAUTHZ" >"$TL_DIR/out" 2>"$TL_DIR/err"
tl_is "$?" 0 "check-config applies the environment as the daemon does: CHARGEGATE_AUTHORIZATION_URL completes the file"
tl_like "$(cat "$TL_DIR/out")" "^$NOAUTHZ: ok, with [0-9]* keys from the environment:" "  stdout says the environment set keys"
tl_like "$(cat "$TL_DIR/out")" "authorization.url from CHARGEGATE_AUTHORIZATION_URL" "  and names the key with its variable"
if grep -q "$AUTHZ_SECRET" "$TL_DIR/out" "$TL_DIR/err"; then
	tl_not_ok "  without printing the value (a secret)" "$(cat "$TL_DIR/out")"
else
	tl_ok "  without printing the value (a secret)"
fi
CHARGEGATE_AUTHORIZATION_URL="http://gate:$AUTHZ_SECRET@192.0.2.1/" \
	"$TL_CTL" check-config --no-env "$NOAUTHZ" >"$TL_DIR/out" 2>"$TL_DIR/err"
tl_is "$?|$(cat "$TL_DIR/out")" "4|" "check-config --no-env checks the file alone: the same file exits 4"
tl_like "$(cat "$TL_DIR/err")" "^$NOAUTHZ: authorization.url is not set" "  with the reason"
NODB=$TL_DIR/nodb.conf
printf '[authorization]\nurl = http://192.0.2.1/\n' >"$NODB"
no_cg_env "$TL_CTL" check-config "$NODB" >"$TL_DIR/out" 2>"$TL_DIR/err"
tl_is "$?|$(cat "$TL_DIR/out")" "4|" "check-config without database.url (neither file nor environment) exits 4"
tl_like "$(cat "$TL_DIR/err")" "^$NODB: database.url is not set: set it in the configuration file or in CHARGEGATE_DATABASE_URL" \
	"  stderr names the file and the daemon's reason"
no_cg_env CHARGEGATE_DATABASE_URL="host=192.0.2.1" "$TL_CTL" check-config "$NODB" >"$TL_DIR/out" 2>"$TL_DIR/err"
tl_is "$?|$(cat "$TL_DIR/out")" "0|$NODB: ok, with 1 key from the environment:
  database.url from CHARGEGATE_DATABASE_URL" "  and accepts it when CHARGEGATE_DATABASE_URL is set"
ADMIN=$TL_DIR/admin.conf
printf '[database]\nurl = host=192.0.2.1\n[authorization]\nurl = http://192.0.2.1/\n[admin]\nlisten = no-port-here\n' >"$ADMIN"
"$TL_CTL" check-config --no-env "$ADMIN" >"$TL_DIR/out" 2>"$TL_DIR/err"
tl_is "$?|$(cat "$TL_DIR/out")" "4|" "check-config with an admin.listen the daemon cannot use exits 4"
tl_like "$(cat "$TL_DIR/err")" "^$ADMIN: admin.listen: " "  with the daemon's reason"
KAFKA=$TL_DIR/kafka.conf
printf '[database]\nurl = host=192.0.2.1\n[authorization]\nurl = http://192.0.2.1/\n[transport]\nkind = kafka\n' >"$KAFKA"
CHARGEGATE_KAFKA_MODULE=$TL_DIR/no-such-kafka.so "$TL_CTL" check-config --no-env "$KAFKA" >"$TL_DIR/out" 2>"$TL_DIR/err"
tl_is "$?|$(cat "$TL_DIR/out")" "4|" "check-config with transport.kind = kafka and no Kafka module exits 4"
tl_like "$(cat "$TL_DIR/err")" "^$KAFKA: transport.kind = kafka needs the Kafka module" "  with the daemon's reason"
printf '[consumers]\nenabled = false\n' >>"$NOAUTHZ"
"$TL_CTL" check-config "$NOAUTHZ" >/dev/null 2>&1
tl_is "$?" 0 "  and accepts the same file for an API-only host (consumers.enabled = false)"
"$TL_CTL" check-config "$TL_DIR/missing.conf" >"$TL_DIR/out" 2>"$TL_DIR/err"
tl_is "$?" 4 "check-config on a missing file exits 4"
tl_like "$(cat "$TL_DIR/err")" "missing.conf.*No such file" "  and says the file is not there"
"$TL_CTL" check-config a b >/dev/null 2>&1
tl_is "$?" 2 "check-config with two files is a usage error"
"$TL_CTL" check-config --env "$GOOD" >/dev/null 2>&1
tl_is "$?" 2 "check-config with an unknown option is a usage error"

# --- a daemon that stops takes its circuits with it ------------------------------------------
demo_receiver_start --status 503
DEST=http://127.0.0.1:$DEMO_RECEIVER_PORT
CIRCUIT=".open_circuits | map(select(.destination == \"$DEST\")) | length"
demo_request validDriverToken123 "$DEMO_RECEIVER/cb"
demo_request validDriverToken123 "$DEMO_RECEIVER/cb"
if tl_poll 10 json_is "$CIRCUIT" 1; then
	tl_ok "two failures of another receiver open its circuit"
else
	tl_not_ok "two failures of another receiver open its circuit" "open_circuits: $(status_json .open_circuits)"
fi
tl_stop_daemon
tl_is "$(status_json "$CIRCUIT")" 0 "once the daemon has stopped, its circuits are no longer listed"

# --- ... also a circuit that opens while it drains ----------------------------------------------
# two deliveries still on their way when SIGTERM comes fail during the drain:
# the second failure opens the circuit after the daemon released its circuits
demo_receiver_start --status 503 --delay 1500
SLOW_PORT=$DEMO_RECEIVER_PORT
DEST=http://127.0.0.1:$SLOW_PORT
CIRCUIT=".open_circuits | map(select(.destination == \"$DEST\")) | length"
# both_in_flight: two connections to the slow receiver are open
both_in_flight() { [ "$(ss -Htn state established "dport = :$SLOW_PORT" 2>/dev/null | wc -l)" -ge 2 ]; }
demo_e2e_daemon CHARGEGATE_CALLBACK_RETRY_SCHEDULE=1s,8s CHARGEGATE_CALLBACK_CIRCUIT_FAILURES=2 \
	CHARGEGATE_CALLBACK_CIRCUIT_COOLDOWN=2s || tl_bail "chargegated did not start again"
demo_request validDriverToken123 "$DEMO_RECEIVER/cb"
demo_request validDriverToken123 "$DEMO_RECEIVER/cb"
tl_poll 10 both_in_flight || tl_diag "the two deliveries were not both on their way within 10 s"
tl_stop_daemon
tl_check "the daemon's last deliveries failed while it drained" \
	grep -q "paused for .* after 2 consecutive failures (circuit open).*$SLOW_PORT" "$TL_DAEMON_LOG"
tl_is "$(status_json "$CIRCUIT")" 0 "a circuit that opened while the daemon drained is not listed after it stopped"

tl_done

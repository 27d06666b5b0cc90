#!/bin/sh
# DESIGN §6, callback.failure_url: when a request becomes delivery_failed
# (retries spent, or 410 Gone) the operator's endpoint receives exactly one
# signed CallbackDeliveryFailed summary with the request, the destination,
# the attempts and the last error; a failing operator endpoint is retried on
# callback.retry_schedule with the same webhook-id (Retry-After honoured, given
# up when the schedule is spent); a daemon killed while the
# notice is on its way sends it after its restart, once, its attempts
# numbered 1, 2, … without gaps; a delivered request
# sends none; a hanging operator endpoint does not hold up drivers'
# callbacks; the signature verifies with the npm standardwebhooks package;
# with the key unset (a reload) nothing is sent, and the subscription claims
# whole batches of outcomes, not the notices' cap, also with the key set
# (final failures beyond the free slots wait, unattempted).  Every attempt is
# recorded in chargegate.failure_notice_attempt, counted in /metrics and
# told in the request's story (chargegatectl requests show, the status page).  An
# upgrade to schema 13 announces none of the failures already on the topic.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

SCHEDULE=100ms,100ms
ATTEMPTS=3		# 1 + len(SCHEDULE)
SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw

command -v jq >/dev/null 2>&1 || tl_bail "jq is not installed (run scripts/install-deps)"

demo_setup
demo_authz_start --default allowed
demo_receiver_start --status 500
FAILING=$DEMO_RECEIVER
demo_receiver_start --status 410
GONE=$DEMO_RECEIVER
demo_receiver_start
OK=$DEMO_RECEIVER
demo_receiver_start --secret "$SECRET"
OPS=$DEMO_RECEIVER
demo_receiver_start --secret "$SECRET" --fail-first 2
OPS_FLAKY=$DEMO_RECEIVER
demo_receiver_start --secret "$SECRET" --status 503 --retry-after 1
OPS_BUSY=$DEMO_RECEIVER
demo_tarpit_start
TARPIT=$DEMO_TARPIT

# callback.failure_url lives in the file, so that a SIGHUP can change it
cp "$TL_CONF" "$TL_DIR/base.conf"
set_failure_url() {
	cp "$TL_DIR/base.conf" "$TL_CONF"
	[ -z "$1" ] || printf '[callback]\nfailure_url = %s\n' "$1" >>"$TL_CONF"
}
reload() {
	_n=$(grep -c 'configuration reloaded' "$TL_DAEMON_LOG")
	kill -HUP "$TL_DAEMON_PID"
	tl_poll 10 sh -c "[ \$(grep -c 'configuration reloaded' '$TL_DAEMON_LOG') -gt $_n ]" ||
		tl_diag "no 'configuration reloaded' within 10 s"
}
daemon() {
	demo_e2e_daemon CHARGEGATE_CALLBACK_RETRY_SCHEDULE=$SCHEDULE CHARGEGATE_CALLBACK_SIGNING_SECRET="$SECRET" \
		CHARGEGATE_CALLBACK_TIMEOUT=2s CHARGEGATE_CALLBACK_CIRCUIT_FAILURES=1000 "$@"
}
# failed RID NAME: a request to NAME's receiver that ends delivery_failed
failed() {
	if [ -n "$1" ] && demo_wait_status "$1" delivery_failed 15; then
		tl_ok "$2: the request ends delivery_failed"
	else
		tl_not_ok "$2: the request ends delivery_failed" "status: $(demo_field "$1" status)"
	fi
}
# notices BASE RID: the notices BASE got about RID, in $TL_DIR/entries.json; prints how many
notices() {
	demo_received "$1"
	demo_entries "$2"
	tl_json '#' "$TL_DIR/entries.json"
}
notices_at_least() { [ "$(notices "$1" "$2")" -ge "$3" ]; }
# notice_attempts RID: "attempt:final:error_class" of each recorded attempt, in order
notice_attempts() {
	tl_sql "select string_agg(attempt || ':' || final || ':' || coalesce(error_class, '-'), ' ' order by id)
		  from chargegate.failure_notice_attempt where request_id::text = :'rid'" -v rid="$1"
}
# settled: the failure_notice subscription has nothing ready, retrying or leased
settled() {
	[ "$(tl_sql "select ready + retrying + leased from chargegate.subscription_status
		      where subscription = 'failure_notice'")" = 0 ]
}
# final_event_handled RID: failure_notice has acknowledged RID's final CallbackFailed
final_event_handled() {
	[ "$(tl_sql "select count(*) from chargegate.callback_delivery_outbox o
		       join chargegate.handled_event h on h.event_id = o.event_id and h.subscription = 'failure_notice'
		      where o.aggregate_id::text = :'rid' and o.event_type = 'CallbackFailed'
		        and (o.payload ->> 'final')::boolean" -v rid="$1")" = 1 ]
}
metric() {
	curl -sS --max-time 5 "$TL_BASE_URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

set_failure_url "$OPS/failed"
daemon || tl_bail "chargegated did not start"

# --- retries spent ------------------------------------------------------------------------------
demo_request validDriverToken123 "$FAILING/cb"; RID=$DEMO_RID
demo_request validDriverToken123 "$GONE/cb"; RID_GONE=$DEMO_RID
demo_request validDriverToken123 "$OK/cb"; RID_OK=$DEMO_RID
failed "$RID" "a receiver answering 500"
tl_poll 10 notices_at_least "$OPS" "$RID" 1 || tl_diag "no notice within 10 s"
tl_poll 10 settled || tl_diag "the failure_notice subscription still has work after 10 s"
tl_is "$(notices "$OPS" "$RID")" 1 "retries spent: exactly one notice reaches the operator endpoint"
E=$TL_DIR/entries.json
tl_is "$(tl_json 0.body.@keys "$E")" "attempts,callback_url,failed_at,last_error,request_id,station_id,type" \
	"retries spent: the notice has the documented members"
tl_is "$(tl_json 0.body.type "$E")|$(tl_json 0.body.request_id "$E")|$(tl_json 0.body.station_id "$E")" \
	"CallbackDeliveryFailed|$RID|$DEMO_STATION" "retries spent: type, request_id and station_id"
tl_is "$(tl_json 0.body.callback_url "$E")|$(tl_json 0.body.attempts "$E")" "$FAILING/cb|$ATTEMPTS" \
	"retries spent: the driver's callback_url and its $ATTEMPTS attempts"
tl_is "$(tl_json 0.body.last_error.error_class "$E")|$(tl_json 0.body.last_error.http_status "$E")" "http_500|500" \
	"retries spent: the last error's class and status"
tl_like "$(tl_json 0.body.last_error.detail "$E")" '"status":500' "retries spent: the detail is the start of the receiver's answer"
tl_like "$(tl_json 0.body.failed_at "$E")" '^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T' "retries spent: failed_at is a timestamp"
tl_is "$(tl_json 0.signature_valid "$E")|$(tl_json 0.content_type "$E")" "true|application/json" \
	"retries spent: the notice is signed with callback.signing_secret (Standard Webhooks)"
tl_is "$(tl_json 0.webhook_id "$E")" \
	"$(tl_sql "select webhook_id from chargegate.failure_notice_attempt where request_id::text = :'rid'" -v rid="$RID")" \
	"retries spent: the webhook-id is the one recorded with the attempt"
tl_isnt "$(tl_json 0.webhook_id "$E")" \
	"$(tl_sql "select distinct webhook_id from chargegate.callback_delivery_attempt where request_id::text = :'rid'" -v rid="$RID")" \
	"retries spent: the notice's webhook-id is not the driver's callback's"
tl_is "$(notice_attempts "$RID")" "1:true:-" "retries spent: one attempt recorded, final, no error"
tl_is "$(tl_count callback_delivery_attempt "request_id::text = '$RID'")" "$ATTEMPTS" \
	"retries spent: the driver's callback attempts are not mixed with the notice's"

# --- 410 Gone -----------------------------------------------------------------------------------------
failed "$RID_GONE" "410 Gone"
tl_poll 10 notices_at_least "$OPS" "$RID_GONE" 1 || tl_diag "no notice within 10 s"
tl_poll 10 settled
tl_is "$(notices "$OPS" "$RID_GONE")" 1 "410: exactly one notice"
tl_is "$(tl_json 0.body.attempts "$E")|$(tl_json 0.body.last_error.error_class "$E")|$(tl_json 0.body.last_error.http_status "$E")" \
	"1|http_410|410" "410: after one attempt, with the class and status of the 410"

# --- delivered: no notice -------------------------------------------------------------------------------
if demo_wait_status "$RID_OK" delivered 10 && tl_poll 10 settled; then
	tl_is "$(notices "$OPS" "$RID_OK")|$(tl_count failure_notice_attempt "request_id::text = '$RID_OK'")" "0|0" \
		"delivered: no notice is sent for a delivered request"
else
	tl_not_ok "delivered: no notice is sent for a delivered request" "status: $(demo_field "$RID_OK" status)"
fi
tl_is "$(metric 'chargegate_failure_notifications_total{result="delivered"}')" 2 \
	"/metrics counts the two delivered notices"

# --- the operator endpoint fails twice, then accepts ------------------------------------------------------
set_failure_url "$OPS_FLAKY/failed"
reload
demo_request validDriverToken123 "$FAILING/cb"; RID_FLAKY=$DEMO_RID
failed "$RID_FLAKY" "a flaky operator endpoint"
tl_poll 10 notices_at_least "$OPS_FLAKY" "$RID_FLAKY" 3 || tl_diag "fewer than 3 notice attempts within 10 s"
tl_poll 10 settled
tl_is "$(notices "$OPS_FLAKY" "$RID_FLAKY")" 3 "flaky operator endpoint: three attempts (after a reload changed the URL)"
tl_is "$(tl_json '*.answered' "$E" | paste -sd, -)" "500,500,200" \
	"flaky operator endpoint: answered 500, 500, 200: one notice accepted"
tl_is "$(tl_json '*.webhook_id' "$E" | sort -u | wc -l | tr -d ' ')|$(tl_json '*.body' "$E" | sort -u | wc -l | tr -d ' ')" \
	"1|1" "flaky operator endpoint: the same webhook-id and body on every attempt"
tl_is "$(notice_attempts "$RID_FLAKY")" "1:false:http_500 2:false:http_500 3:true:-" \
	"flaky operator endpoint: the attempts are recorded, the last one final"
tl_is "$(metric 'chargegate_failure_notifications_total{result="failed"}')" 2 "/metrics counts the two failed attempts"

# --- the operator endpoint never accepts: Retry-After, then given up ------------------------------------------
set_failure_url "$OPS_BUSY/failed"
reload
demo_request validDriverToken123 "$FAILING/cb"; RID_BUSY=$DEMO_RID
failed "$RID_BUSY" "a busy operator endpoint"
tl_poll 10 notices_at_least "$OPS_BUSY" "$RID_BUSY" $ATTEMPTS || tl_diag "fewer than $ATTEMPTS notice attempts within 10 s"
tl_poll 10 settled
tl_is "$(notices "$OPS_BUSY" "$RID_BUSY")" $ATTEMPTS "busy operator endpoint: $ATTEMPTS attempts, then no more"
GAPS=$(perl -MJSON::PP -e '
	open(my $fh, "<:raw", $ARGV[0]) or die; local $/;
	my @t = sort { $a <=> $b } map { $_->{received_at_ms} } @{ decode_json(<$fh>) };
	print join(" ", map { $t[$_] - $t[$_ - 1] } 1 .. $#t), "\n";
' "$E")
# shellcheck disable=SC2086 # one gap per word
if [ "$(echo $GAPS | wc -w)" = 2 ] && [ "${GAPS% *}" -ge 950 ] && [ "${GAPS#* }" -ge 950 ]; then
	tl_ok "busy operator endpoint: each retry waits for Retry-After (1 s), not the $SCHEDULE schedule"
else
	tl_not_ok "busy operator endpoint: each retry waits for Retry-After (1 s), not the $SCHEDULE schedule" "gaps: $GAPS ms"
fi
tl_is "$(notice_attempts "$RID_BUSY")" "1:false:http_503 2:false:http_503 3:true:http_503" \
	"busy operator endpoint: the last attempt is recorded as final"
tl_is "$(metric 'chargegate_failure_notifications_total{result="given_up"}')" 1 "/metrics counts the notice given up"
tl_check "the log says the notice was given up, with the request id as a field" grep -q "failure notice: not delivered to callback.failure_url, given up after $ATTEMPTS attempts.* request_id=$RID_BUSY" "$TL_DAEMON_LOG"

# --- the request's story tells the notice's attempts (requests show, the status page) ------------------------
ctl() { "$TL_CTL" -c "$TL_CONF" "$@"; }
# events RID: the event column of requests show RID, one per line, without the relays
events() { ctl requests show "$1" | sed -n '/^time (UTC)/,$p' | sed 1d | cut -c38-57 | sed 's/ *$//' | grep -v '^relayed$'; }
# notice_entries FILE: the notice attempts of a request_story JSON as [attempt, http_status, error_class, final]
notice_entries() { jq -c '[.timeline[] | select(.event == "failure_notice_attempt") | [.attempt, .http_status, .error_class, .final]]' "$1"; }
ctl requests show "$RID_FLAKY" >"$TL_DIR/show.txt" 2>&1
tl_is "$?" 0 "requests show of a request whose notice was sent exits 0"
# the final state is written by another consumer than the notice's: its place is not asserted
tl_is "$(events "$RID_FLAKY" | grep -v '^delivery_failed$' | paste -sd, -)" \
	"accepted,authorization,callback attempt 1,callback attempt 2,callback attempt 3,failure notice 1,failure notice 2,failure notice 3" \
	"requests show: the notice's three attempts follow the final callback attempt"
tl_is "$(events "$RID_FLAKY" | grep -c '^delivery_failed$')" 1 "requests show: the final state delivery_failed is told"
tl_like "$(grep 'failure notice 1' "$TL_DIR/show.txt")" 'to callback\.failure_url, HTTP 500, took [0-9]+ ms, error http_500$' \
	"requests show: a failed notice attempt with its status, latency and error class"
tl_like "$(grep 'failure notice 3' "$TL_DIR/show.txt")" 'to callback\.failure_url, HTTP 200, took [0-9]+ ms, final, accepted$' \
	"requests show: the accepted notice attempt, final"
tl_like "$(ctl requests show "$RID_BUSY" | grep "failure notice $ATTEMPTS")" 'HTTP 503, took [0-9]+ ms, error http_503, final, given up$' \
	"requests show: the last attempt of a notice given up"
tl_check "requests show never shows callback.failure_url" sh -c "! grep -q '$OPS_FLAKY' '$TL_DIR/show.txt'"
ctl requests show "$RID_FLAKY" --json >"$TL_DIR/story.json" 2>&1
tl_is "$?" 0 "requests show --json of a request whose notice was sent exits 0"
tl_is "$(notice_entries "$TL_DIR/story.json")" '[[1,500,"http_500",false],[2,500,"http_500",false],[3,200,null,true]]' \
	"requests show --json: the notice's attempts with status, error class and final"
tl_is "$(jq -c '[.timeline[].event] | (map(. == "callback_attempt") | rindex(true)) < index("failure_notice_attempt")' "$TL_DIR/story.json")|$(jq -c '[.timeline[].at] == ([.timeline[].at] | sort)' "$TL_DIR/story.json")" \
	"true|true" "requests show --json: in time order, the notice's attempts after the last callback attempt"
notices "$OPS_FLAKY" "$RID_FLAKY" >/dev/null
tl_is "$(jq -r '[.timeline[] | select(.event == "failure_notice_attempt") | .webhook_id] | unique | .[]' "$TL_DIR/story.json")" \
	"$(tl_json 0.webhook_id "$E")" "requests show --json: the webhook-id the operator endpoint received"
curl -sS --max-time 5 -o "$TL_DIR/page.json" "$TL_ADMIN_URL/ui/api/requests/$RID_FLAKY"
tl_is "$(notice_entries "$TL_DIR/page.json")" '[[1,500,"http_500",false],[2,500,"http_500",false],[3,200,null,true]]' \
	"the status page's timeline (/ui/api/requests/ID) has the notice's attempts"

# --- a hanging operator endpoint, then kill -9 ------------------------------------------------------------
set_failure_url "$TARPIT/failed"
reload
TARPIT_PORT=${TARPIT##*:}
tarpit_holds() { ss -Htn state established "dport = :$TARPIT_PORT" 2>/dev/null | grep -q .; }
demo_request validDriverToken123 "$FAILING/cb"; RID_CRASH=$DEMO_RID
failed "$RID_CRASH" "before the kill"
if tl_poll 10 tarpit_holds; then
	tl_ok "the notice is on its way to a hanging operator endpoint"
else
	tl_not_ok "the notice is on its way to a hanging operator endpoint" "no connection to the tarpit"
fi
T0=$(tl_now_ms)
demo_request validDriverToken123 "$OK/cb"; RID_OK2=$DEMO_RID
if demo_wait_status "$RID_OK2" delivered 5; then
	tl_ok "a driver's callback is delivered while the notice hangs ($(( $(tl_now_ms) - T0 )) ms)"
else
	tl_not_ok "a driver's callback is delivered while the notice hangs" "status: $(demo_field "$RID_OK2" status)"
fi
tl_check "the notice is still on its way" tarpit_holds
kill -KILL "$TL_DAEMON_PID"
tl_wait_exit "$TL_DAEMON_PID" 5
tl_diag "killed chargegated with SIGKILL while the notice was in flight"
set_failure_url "$OPS/failed"
daemon || tl_bail "chargegated did not start again"
tl_poll 20 notices_at_least "$OPS" "$RID_CRASH" 1 || tl_diag "no notice within 20 s of the restart"
tl_poll 10 settled
tl_is "$(notices "$OPS" "$RID_CRASH")" 1 "after kill -9 and a restart: the notice arrives exactly once"
tl_is "$(tl_json 0.body.request_id "$E")|$(tl_json 0.body.attempts "$E")|$(tl_json 0.signature_valid "$E")" \
	"$RID_CRASH|$ATTEMPTS|true" "after kill -9: it is the request's notice, signed"
tl_is "$(tl_count failure_notice_attempt "request_id::text = '$RID_CRASH' and http_status = 200 and final")" 1 \
	"after kill -9: one accepted attempt is recorded"
# the queue delivered the notice again after the lease expired: no attempt of the notice's own
N_CRASH=$(tl_count failure_notice_attempt "request_id::text = '$RID_CRASH'")
tl_is "$(tl_sql "select string_agg(attempt::text, ',' order by id) from chargegate.failure_notice_attempt
		  where request_id::text = :'rid'" -v rid="$RID_CRASH")" "$(seq -s, 1 "$N_CRASH")" \
	"after kill -9: the notice's attempts are numbered 1, 2, … without gaps (not by the queue's deliveries)"

# --- the signature, verified by the npm standardwebhooks package (as in t_e2e_signature.sh) ------------------
# webhooks_ready: the verifier and its node_modules, in the source tree when it
# is writable (installed once, reused), else in the temporary directory
webhooks_ready() {
	if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
		return 1
	fi
	WH=$top_srcdir/tests/webhooks
	if [ ! -w "$WH" ]; then
		mkdir -p "$TL_DIR/webhooks"
		cp "$WH/package.json" "$WH/package-lock.json" "$WH/verify.js" "$WH/receiver.js" "$TL_DIR/webhooks/"
		WH=$TL_DIR/webhooks
	fi
	DEMO_WEBHOOKS_DIR=$WH
	(cd "$WH" && node -e 'require("standardwebhooks").Webhook' >/dev/null 2>&1) ||
		(cd "$WH" && npm ci --no-audit --no-fund --loglevel=error) >"$TL_DIR/npm.out" 2>&1
}
if webhooks_ready; then
	demo_node_receiver_start
	set_failure_url "$NODE_RECEIVER/failed"
	reload
	demo_request validDriverToken123 "$FAILING/cb"; RID_NODE=$DEMO_RID
	failed "$RID_NODE" "the node receiver as the operator endpoint"
	node_got_one() { curl -sS --max-time 5 -o "$TL_DIR/node.json" "$NODE_RECEIVER/received" && [ "$(tl_json '#' "$TL_DIR/node.json")" -ge 1 ]; }
	tl_poll 10 node_got_one || tl_diag "the node receiver got no notice within 10 s"
	OUT=$(cd "$WH" && node verify.js "$TL_DIR/node.json" "$SECRET" "whsec_$(head -c 32 /dev/urandom | base64 | tr -d '\n')" 2>&1)
	tl_diag "verify.js: $OUT"
	tl_like "$OUT" '^[0-9a-f-]{36} signatures=1 all=ok,No_matching_signature_found each=1 ' \
		"standardwebhooks verifies the notice's signature with callback.signing_secret and refuses another secret"
	tl_check "a tampered notice is refused" sh -c "! printf '%s' '$OUT' | grep -q TAMPERED_ACCEPTED"
else
	tl_diag "SKIP: no node/npm or standardwebhooks could not be installed: the signature was checked by the demo receiver only"
	[ -f "$TL_DIR/npm.out" ] && tl_diag_file "$TL_DIR/npm.out"
fi

# --- unset: nothing is sent --------------------------------------------------------------------------------
set_failure_url ""
reload
demo_request validDriverToken123 "$FAILING/cb"; RID_OFF=$DEMO_RID
failed "$RID_OFF" "failure_url unset"
if tl_poll 10 final_event_handled "$RID_OFF"; then
	tl_ok "failure_url unset: the final CallbackFailed is acknowledged"
else
	tl_not_ok "failure_url unset: the final CallbackFailed is acknowledged" "not handled by failure_notice after 10 s"
fi
tl_is "$(notices "$OPS" "$RID_OFF")|$(notices "$OPS_FLAKY" "$RID_OFF")|$(tl_count failure_notice_attempt "request_id::text = '$RID_OFF'")" \
	"0|0|0" "failure_url unset: no notice is sent or attempted"
[ -z "$NODE_RECEIVER" ] || tl_is "$(curl -sS --max-time 5 "$NODE_RECEIVER/received" | perl -MJSON::PP -e 'local $/; print scalar @{ decode_json(<STDIN>) }')" 1 \
	"failure_url unset: the last operator endpoint got nothing more"
tl_check "failure_url unset: nothing is left waiting in the subscription" settled
tl_is "$(metric "chargegate_failure_notifications_skipped_total{}")" 1 "/metrics counts the notice not sent"
tl_daemon_alive "chargegated runs through it all"
tl_stop_daemon

# --- unset: every final failure passes, in whole batches -------------------------------------------------
# final failures written while no daemon runs (of a request already finished,
# so nothing else changes) reach the topic in one relay; with nothing to send,
# the notices' cap (callback.per_destination_concurrency, 8) must not cut them
# into claims, each a claim and a settle transaction.  Delivery successes
# written with them are not handed to failure_notice at all (event_types).
OUTCOMES=40
tl_sql "insert into chargegate.callback_delivery_outbox (event_type, aggregate_id, payload)
	select 'CallbackFailed', :'rid', jsonb_build_object('request_id', :'rid', 'webhook_id', gen_random_uuid(),
	       'attempt', 6, 'final', true, 'error_class', 'http_500', 'callback_url', :'url')
	  from generate_series(1, $OUTCOMES);
	insert into chargegate.callback_delivery_outbox (event_type, aggregate_id, payload)
	select 'CallbackDeliverySucceeded', :'rid', jsonb_build_object('request_id', :'rid', 'webhook_id', gen_random_uuid(),
	       'attempt', 1, 'callback_url', :'url')
	  from generate_series(1, $OUTCOMES)" -v rid="$RID_OK" -v url="$OK/cb" >/dev/null ||
	tl_bail "could not write $OUTCOMES final failures and $OUTCOMES successes"
daemon || tl_bail "chargegated did not start again"
handled_all() { [ "$(metric 'chargegate_consumer_handled_total{subscription="failure_notice"}')" = $OUTCOMES ]; }
tl_poll 10 handled_all || tl_diag "failure_notice did not handle $OUTCOMES final failures within 10 s"
tl_poll 10 settled
CLAIMS=$(metric 'chargegate_consumer_claims_total{subscription="failure_notice"}')
tl_is "$(metric 'chargegate_consumer_handled_total{subscription="failure_notice"}')|$(metric 'chargegate_failure_notifications_skipped_total{}')" \
	"$OUTCOMES|$OUTCOMES" "failure_url unset: the $OUTCOMES final failures are acknowledged, unsent, and none of the successes"
tl_check "failure_url unset: in one or two claims, not one per 8 (claims: $CLAIMS)" test "${CLAIMS:-99}" -le 2
tl_stop_daemon

# --- set: whole batches too; final failures beyond the free slots wait ----------------------------------
# three requests' final CallbackFailed published again (new events, so new
# notices) ahead of 40 successes (not handed to failure_notice), all in one
# relay; two notice slots and
# a slow operator endpoint: two notices start, the third waits unattempted
demo_receiver_start --secret "$SECRET" --delay 300
OPS_SLOW=$DEMO_RECEIVER
set_failure_url "$OPS_SLOW/failed"
ID0=$(tl_sql "select coalesce(max(id), 0) from chargegate.failure_notice_attempt")
tl_sql "insert into chargegate.callback_delivery_outbox (event_type, aggregate_id, payload)
	select event_type, aggregate_id, payload from chargegate.callback_delivery_outbox
	 where event_type = 'CallbackFailed' and (payload ->> 'final')::boolean
	   and aggregate_id::text in (:'a', :'b', :'c')
	 order by id;
	insert into chargegate.callback_delivery_outbox (event_type, aggregate_id, payload)
	select 'CallbackDeliverySucceeded', :'rid', jsonb_build_object('request_id', :'rid', 'webhook_id', gen_random_uuid(),
	       'attempt', 1, 'callback_url', :'url')
	  from generate_series(1, $OUTCOMES)" -v a="$RID" -v b="$RID_GONE" -v c="$RID_BUSY" -v rid="$RID_OK" \
	-v url="$OK/cb" >/dev/null || tl_bail "could not write the outcomes"
daemon CHARGEGATE_CALLBACK_PER_DESTINATION_CONCURRENCY=2 || tl_bail "chargegated did not start again"
slow_got_three() { [ "$(demo_received_count "$OPS_SLOW")" -ge 3 ]; }
tl_poll 15 slow_got_three || tl_diag "fewer than 3 notices within 15 s"
tl_poll 10 settled
tl_is "$(demo_received_count "$OPS_SLOW")|$(tl_json '*.body.request_id' "$TL_DIR/received.json" | sort -u | wc -l | tr -d ' ')" \
	"3|3" "two notice slots: each of the three notices arrives once"
tl_is "$(tl_sql "select string_agg(attempt || ':' || final, ' ' order by id) from chargegate.failure_notice_attempt
		  where id > $ID0")" "1:true 1:true 1:true" "two notice slots: the one that waited used up no attempt"
tl_check "two notice slots: the third notice waited for a slot (postponed)" \
	test "$(metric 'chargegate_consumer_postponed_total{subscription="failure_notice"}')" -ge 1
CLAIMS=$(metric 'chargegate_consumer_claims_total{subscription="failure_notice"}')
tl_check "two notice slots: the $((OUTCOMES + 3)) outcomes in at most 3 claims, not one per slot (claims: $CLAIMS)" \
	test "${CLAIMS:-99}" -le 3
tl_stop_daemon

# --- an upgrade to schema 13 announces no failure of the past ------------------------------------------------
# back to version 12 (no failure_notice subscription, no attempt table), with
# every failure above still on the callback_delivery topic
tl_sql "begin;
	delete from chargegate.subscription_batch where subscription = 'failure_notice';
	delete from chargegate.handled_event where subscription = 'failure_notice';
	delete from chargegate.subscription where name = 'failure_notice';
	drop view chargegate.stranded_messages;
	alter table chargegate.subscription drop column event_types;
	drop table chargegate.failure_notice_attempt;
	delete from chargegate.schema_version where version > 12;
	commit;" >/dev/null || tl_bail "could not set up the version-12 database"
OLD=$(tl_count topic_message "topic = 'callback_delivery' and event_type = 'CallbackFailed' and (payload ->> 'final')::boolean")
tl_check "(the topic holds the $OLD final failures of the requests above)" test "$OLD" -ge 7
tl_migrate
tl_is "$TL_RC" 0 "chargegatectl migrate upgrades a version-12 database"
tl_check "upgrade: the past outcomes are not queued for the new subscription (as stranded messages)" settled
set_failure_url "$OPS/failed"
BEFORE=$(demo_received_count "$OPS")
daemon || tl_bail "chargegated did not start after the upgrade"
demo_request validDriverToken123 "$GONE/cb"; RID_NEW=$DEMO_RID
failed "$RID_NEW" "after the upgrade"
tl_poll 10 notices_at_least "$OPS" "$RID_NEW" 1 || tl_diag "no notice within 10 s"
tl_poll 10 settled
tl_is "$(demo_received_count "$OPS")" $((BEFORE + 1)) \
	"upgrade: the operator endpoint gets the new failure's notice and none of the $OLD past ones"
tl_stop_daemon

tl_done

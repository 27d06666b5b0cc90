#!/bin/sh
# End to end, DESIGN §4: an authorization service that answers too late,
# never answers, answers 500, answers a body that is not JSON, answers about
# another station, repeats a member of its answer, or is not there at all
# makes the decision "unknown" — within authorization.timeout
# plus a small margin for the timeouts — with the cause in
# chargegate.authorization_audit, and the "unknown" decision is still
# delivered to the callback.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

TIMEOUT_MS=300
# how much later than the timeout the decision may be taken (a loaded 2-core
# machine: the worker's timer, a database round trip)
MARGIN_MS=700

demo_setup
demo_receiver_start
CB=$DEMO_RECEIVER/cb

# one_case NAME CAUSE-REGEX TIMED [authz options…|none]: a daemon whose
# authorization service is a demo-authz with those options ("none": a port
# nobody listens on); one request; checks the decision, the audit and the
# callback
one_case() {
	_name=$1 _cause=$2 _timed=$3
	shift 3
	if [ "$1" = none ]; then
		DEMO_AUTHZ_URL=http://127.0.0.1:$(tl_free_port)/authorize
	else
		demo_authz_start --default allowed "$@"
	fi
	demo_e2e_daemon CHARGEGATE_AUTHORIZATION_TIMEOUT=${TIMEOUT_MS}ms || tl_bail "chargegated did not start"
	demo_request validDriverToken123 "$CB"
	tl_status 202 "$_name: the request is accepted"
	_rid=$DEMO_RID
	if demo_wait_status "$_rid" delivered 10; then
		tl_ok "$_name: the request ends delivered"
	else
		tl_not_ok "$_name: the request ends delivered" "status: $(demo_field "$_rid" status)"
	fi
	tl_is "$(demo_field "$_rid" "decision || '|' || callback_attempts")" "unknown|1" \
		"$_name: the decision is unknown, delivered in one attempt"
	_audit=$(tl_sql "select decision || '|' || coalesce(cause, '-') from chargegate.authorization_audit
			   where request_id::text = :'rid'" -v rid="$_rid")
	tl_like "$_audit" "^unknown\|$_cause" "$_name: one audit row: unknown, with the cause"
	if [ "$_timed" = timed ]; then
		# latency_ms is the call's own time; decided_after the time from the
		# request's commit to the audit's
		_lat=$(tl_sql "select latency_ms from chargegate.authorization_audit where request_id::text = :'rid'" -v rid="$_rid")
		_after=$(tl_sql "select round(extract(epoch from a.created_at - r.created_at) * 1000)::int
				   from chargegate.authorization_audit a
				   join chargegate.charging_session_request r using (request_id)
				  where request_id::text = :'rid'" -v rid="$_rid")
		if [ -n "$_lat" ] && [ "$_lat" -ge $((TIMEOUT_MS - 20)) ] && [ "$_lat" -le $((TIMEOUT_MS + MARGIN_MS)) ] &&
		   [ -n "$_after" ] && [ "$_after" -le $((TIMEOUT_MS + MARGIN_MS)) ]; then
			tl_ok "$_name: unknown after the ${TIMEOUT_MS}ms timeout, within ${MARGIN_MS}ms more"
		else
			tl_not_ok "$_name: unknown after the ${TIMEOUT_MS}ms timeout, within ${MARGIN_MS}ms more" \
				"call latency ${_lat:-?} ms, decided ${_after:-?} ms after the request was accepted"
		fi
	fi
	demo_received
	demo_entries "$_rid"
	tl_is "$(tl_json 0.body.status "$TL_DIR/entries.json")|$(tl_json 0.body.@keys "$TL_DIR/entries.json")" \
		"unknown|driver_token,request_id,station_id,status" "$_name: the callback says unknown, without a reason"
	tl_check "$_name: the cause is logged" grep -q "authorization: unknown cause=.* request_id=$_rid" "$TL_DAEMON_LOG"
	tl_stop_daemon
	[ "$1" = none ] || demo_stop "$DEMO_AUTHZ_PID"
}

one_case "answer later than the timeout" 'timeout' timed --latency 2000
one_case "no answer at all" 'timeout' timed --fail-rate 1 --fail-mode hang
one_case "500" 'http_500' untimed --fail-rate 1 --fail-mode 500
one_case "garbage body" 'unparseable answer' untimed --fail-rate 1 --fail-mode garbage
one_case "an answer about another station" 'answer echoes a different station_id' untimed \
	--fail-rate 1 --fail-mode wrong-echo
one_case "a status given twice" 'unparseable answer: .*names a member twice' untimed \
	--fail-rate 1 --fail-mode duplicate
one_case "nobody listening" 'connect' untimed none

tl_done

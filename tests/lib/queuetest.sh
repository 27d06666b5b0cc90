# shellcheck shell=sh
# queuetest.sh: tests/queue/cg-queue-worker processes and what they record,
# for the integration tests of the PostgreSQL transport (t_queue_*.sh).
# Source it after testlib.sh:
#
#   . "$top_srcdir/tests/lib/testlib.sh"
#   . "$top_srcdir/tests/lib/queuetest.sh"
#   qt_setup                       tl_setup, checks that the worker ($QW) is
#                                  built, creates chargegate_test.handled
#                                  (where cg-queue-worker --record writes) and
#                                  drops the built-in subscription of topic
#                                  charging_session_request (see there)
#   qw_start NAME ARGS…            a worker in the background; pid in
#                                  $NAME_pid, stdout in $TL_DIR/NAME.out, log
#                                  in $TL_DIR/NAME.log
#   qw_stop NAME                   SIGTERM; a test that it exits 0
#   qw_forget PID                  testlib's cleanup no longer stops PID
#   qw_publish N [quiet]           N commands in the outbox in one transaction,
#                                  with the API's NOTIFY (none with "quiet")
#   qw_handled SUB                 events recorded by subscription SUB
#   qw_handled_is SUB N            at least N recorded (for tl_poll)
#   qw_subscribed SUB              subscription SUB exists (for tl_poll)
#   qw_listeners_are N             N other backends LISTEN (for tl_poll)
#   qw_missing_duplicates SUB      "M missing, D duplicates": outbox events
#                                  SUB did not record, and records beyond one
#   qw_exactly_once SUB NAME       a test: "0 missing, 0 duplicates"
#   qw_latency_ms SUB              ms from the commit of the newest outbox
#                                  rows to the last of them recorded by SUB
#
# Workers started with qw_start are stopped by testlib's cleanup (they are in
# TL_DAEMON_PIDS) unless qw_stop or qw_forget took them off.

# shellcheck disable=SC2154 # top_builddir comes from testlib.sh
QW=$top_builddir/tests/queue/cg-queue-worker

qt_setup() {
	tl_setup
	[ -x "$QW" ] || tl_bail "$QW is not built (top_builddir=$top_builddir)"
	tl_sql "CREATE SCHEMA chargegate_test;
		CREATE TABLE chargegate_test.handled (subscription text, event_id uuid, handled_at timestamptz DEFAULT now())" ||
		tl_bail "could not create chargegate_test.handled"
	# The workers stand in for chargegate's own consumers on the topic the
	# tests publish to: nothing but their subscriptions may hold its messages.
	tl_sql "DELETE FROM chargegate.subscription WHERE name = 'authorization'" ||
		tl_bail "could not drop the built-in subscription authorization"
}

qw_start() {
	_n=$1
	shift
	"$QW" --db "$CG_DATABASE_URL" "$@" >"$TL_DIR/$_n.out" 2>"$TL_DIR/$_n.log" &
	eval "${_n}_pid=$!"
	TL_DAEMON_PIDS="$TL_DAEMON_PIDS $!"
}

qw_forget() {
	TL_DAEMON_PIDS=$(echo "$TL_DAEMON_PIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
}

qw_stop() {
	eval "_pid=\$${1}_pid"
	kill -TERM "$_pid" 2>/dev/null
	tl_wait_exit "$_pid" 10
	qw_forget "$_pid"
	if [ "$TL_RC" -eq 0 ]; then
		tl_ok "worker $1 exits 0 on SIGTERM"
	else
		tl_not_ok "worker $1 exits 0 on SIGTERM" "exit status $TL_RC"
		tl_diag_file "$TL_DIR/$1.log"
	fi
}

qw_publish() {
	_notify="SELECT pg_notify('chargegate_charging_session_request_outbox', '');"
	[ "${2:-}" = quiet ] && _notify=
	tl_sql "BEGIN;
		INSERT INTO chargegate.charging_session_request_outbox (event_type, aggregate_id, payload)
		SELECT 'StartChargingSessionRequestCommand', gen_random_uuid(), jsonb_build_object('n', g)
		  FROM generate_series(1, $1) AS g;
		$_notify
		COMMIT;" >/dev/null
}

qw_handled() {
	tl_sql "SELECT count(*) FROM chargegate_test.handled WHERE subscription = '$1'"
}
# shellcheck disable=SC2317 # called through tl_poll
qw_handled_is() { [ "$(qw_handled "$1")" -ge "$2" ]; }
# shellcheck disable=SC2317 # called through tl_poll
qw_subscribed() { [ "$(tl_count subscription "name = '$1'")" = 1 ]; }
# shellcheck disable=SC2317 # called through tl_poll
qw_listeners_are() {
	[ "$(tl_sql "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()")" = "$1" ]
}

qw_missing_duplicates() {
	tl_sql "SELECT (SELECT count(*) FROM chargegate.charging_session_request_outbox o
	                 WHERE NOT EXISTS (SELECT 1 FROM chargegate_test.handled h
	                                    WHERE h.subscription = '$1' AND h.event_id = o.event_id))
	               || ' missing, '
	               || (SELECT count(*) - count(DISTINCT event_id) FROM chargegate_test.handled
	                    WHERE subscription = '$1') || ' duplicates'"
}

qw_exactly_once() {
	tl_is "$(qw_missing_duplicates "$1")" "0 missing, 0 duplicates" "$2"
}

qw_latency_ms() {
	tl_sql "SELECT round(extract(epoch FROM max(h.handled_at) - max(o.created_at)) * 1000)
	          FROM chargegate_test.handled h JOIN chargegate.charging_session_request_outbox o USING (event_id)
	         WHERE h.subscription = '$1'
	           AND o.created_at = (SELECT max(created_at) FROM chargegate.charging_session_request_outbox)"
}

#!/bin/sh
# Wake-ups of the PostgreSQL transport (DESIGN §2.4, §10), with
# tests/queue/cg-queue-worker processes:
#  1. a message published by one process (a relay-only worker) is consumed
#     by another (a consumer-only worker), woken by NOTIFY long before the
#     10 s poll;
#  2. poll-only mode (--no-listen: PgBouncer transaction pooling) holds no
#     LISTEN connection and still delivers within the poll interval.
# (A LISTEN connection that is killed: t_queue_reconnect.sh.)
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/queuetest.sh disable=SC1091
. "$top_srcdir/tests/lib/queuetest.sh"

qt_setup

# listening: both workers' LISTEN connections are idle after their last
# LISTEN (one connection runs them in order: the relay watches three outboxes,
# callback_delivery_outbox last; the consumer watches its topic)
# shellcheck disable=SC2317 # called through tl_poll
listening() {
	[ "$(tl_sql "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle' AND query IN
	        ('LISTEN \"chargegate_callback_delivery_outbox\"', 'LISTEN \"chargegate_topic_charging_session_request\"')")" = 2 ]
}

# --- 1. one process relays, another consumes, woken by NOTIFY -------------------

qw_start relay1 --relay --poll 10000
qw_start cons1 --subscription q1 --topic charging_session_request --record --poll 10000
tl_poll 10 qw_subscribed q1 || tl_bail "the consumer did not create its subscription q1"
tl_poll 10 listening || tl_bail "the two workers did not LISTEN"

for round in 1 2; do
	_t0=$(tl_now_ms)
	qw_publish 20
	if tl_poll 8 qw_handled_is q1 $((round * 20)); then
		tl_ok "round $round: 20 events published by the relay worker are handled by the consumer worker"
	else
		tl_not_ok "round $round: 20 events published by the relay worker are handled by the consumer worker" \
			"handled: $(qw_handled q1) of $((round * 20)) after 8 s"
	fi
	_wall=$(( $(tl_now_ms) - _t0 ))
	_lat=$(qw_latency_ms q1)
	tl_diag "round $round: handled ${_lat} ms after the commit (${_wall} ms for the test to see it)"
	if [ "${_lat:-99999}" -lt 2000 ] && [ "$_wall" -lt 5000 ]; then
		tl_ok "round $round: woken by NOTIFY, well before the 10 s poll"
	else
		tl_not_ok "round $round: woken by NOTIFY, well before the 10 s poll" "latency ${_lat} ms, seen after ${_wall} ms"
	fi
done
qw_exactly_once q1 "each of the 40 events was handled once by q1"
tl_is "$(tl_count charging_session_request_outbox 'published_at IS NULL')" 0 "the outbox has no pending row"

qw_stop relay1
qw_stop cons1
tl_is "$(cat "$TL_DIR/relay1.out")" "handled 0 relayed 40" "the relay worker relayed all 40 and handled none"
tl_is "$(cat "$TL_DIR/cons1.out")" "handled 40 relayed 0" "the consumer worker handled all 40 and relayed none"

# --- 2. poll-only mode ------------------------------------------------------------

tl_poll 10 qw_listeners_are 0 || tl_diag "LISTEN backends of the stopped workers are still there"
qw_start relay2 --relay --no-listen --poll 1000
qw_start cons2 --subscription q2 --topic charging_session_request --record --no-listen --poll 1000
tl_poll 10 qw_subscribed q2 || tl_bail "the consumer did not create its subscription q2"
_t0=$(tl_now_ms)
qw_publish 10
# relay poll (1 s) + consumer poll (1 s) + the work
if tl_poll 4 qw_handled_is q2 10; then
	tl_ok "poll-only: 10 events are handled within two poll intervals ($(( $(tl_now_ms) - _t0 )) ms)"
else
	tl_not_ok "poll-only: 10 events are handled within two poll intervals" "handled: $(qw_handled q2) of 10 after 4 s"
fi
# by now, after a relay and a consumer round, a worker that listens would
# have connected and run its LISTEN long ago (it does so at start)
if [ "$(tl_sql "SELECT count(*) FROM pg_stat_activity
                 WHERE query LIKE 'LISTEN%' OR application_name = 'chargegated listen'")" = 0 ]; then
	tl_ok "poll-only workers hold no LISTEN connection"
else
	tl_not_ok "poll-only workers hold no LISTEN connection" \
		"$(tl_sql "SELECT string_agg(application_name || ': ' || query, '; ') FROM pg_stat_activity
		            WHERE query LIKE 'LISTEN%' OR application_name = 'chargegated listen'")"
fi
qw_stop relay2
qw_stop cons2
tl_is "$(tl_sql "SELECT count(*) - count(DISTINCT event_id) FROM chargegate_test.handled WHERE subscription = 'q2'")" 0 \
	"poll-only: no event handled twice"

tl_done

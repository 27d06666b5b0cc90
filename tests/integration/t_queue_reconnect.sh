#!/bin/sh
# The LISTEN connection of the PostgreSQL transport is killed
# (pg_terminate_backend, as a network drop or a DBA would): the relay and the
# consumer (tests/queue/cg-queue-worker processes, 30 s poll) reconnect and
# catch up on what they were not told about, without a restart, and are woken
# by NOTIFY again afterwards (DESIGN §2.4, issue 3 item 4).
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
# older_than SQL-FROM-WHERE SECONDS: every row it selects has a created_at more
# than SECONDS in the past
# shellcheck disable=SC2317 # called through tl_poll
older_than() {
	[ "$(tl_sql "SELECT count(*) FROM $1 AND created_at > now() - make_interval(secs => $2)")" = 0 ]
}

# a 30 s poll: anything faster than that below comes from the reconnect
qw_start relay3 --relay --poll 30000
qw_start cons3 --subscription q3 --topic charging_session_request --record --poll 30000
tl_poll 10 qw_subscribed q3 || tl_bail "the consumer did not create its subscription q3"
tl_poll 10 listening || tl_bail "the two workers did not LISTEN"
# one event through both, woken by NOTIFY: the catch-up each worker does once
# it listens is over, and what follows is theirs to notice or miss
qw_publish 1
tl_poll 10 qw_handled_is q3 1 || tl_bail "a first event was not relayed and handled within 10 s"

# the relay: rows committed without a NOTIFY (a missed notification) stay
# pending until its LISTEN connection is killed and comes back.  They would
# be relayed by now if the relay noticed them otherwise: it has relayed a row
# of another outbox, NOTIFYed after their commit, and they are older than the
# worker's default poll (1 s) that a relay ignoring --poll would use.
qw_publish 5 quiet
tl_sql "INSERT INTO chargegate.authorization_decision_callback_outbox (event_type, aggregate_id, payload)
	VALUES ('AuthorizationDecisionCallback', gen_random_uuid(), '{}');
	SELECT pg_notify('chargegate_authorization_decision_callback_outbox', '')" >/dev/null
# shellcheck disable=SC2317 # called through tl_poll
other_relayed() { [ "$(tl_count authorization_decision_callback_outbox 'published_at IS NULL')" = 0 ]; }
if tl_poll 10 other_relayed; then
	tl_poll 10 older_than "chargegate.charging_session_request_outbox WHERE published_at IS NULL" 1
	tl_is "$(tl_count charging_session_request_outbox 'published_at IS NULL')" 5 \
		"5 rows committed without a NOTIFY are not relayed yet (the poll is 30 s)"
else
	tl_not_ok "5 rows committed without a NOTIFY are not relayed yet (the poll is 30 s)" \
		"cannot tell: the relay did not relay a NOTIFYed row of another outbox within 10 s"
fi
killed=$(tl_sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                  WHERE query LIKE 'LISTEN%\\_outbox%' AND pid <> pg_backend_pid()")
tl_is "$killed" 1 "the relay's LISTEN backend is terminated"
_t0=$(tl_now_ms)
if tl_poll 5 qw_handled_is q3 6; then
	tl_ok "the relay reconnects and catches up: the 5 rows are relayed and handled ($(( $(tl_now_ms) - _t0 )) ms)"
else
	tl_not_ok "the relay reconnects and catches up: the 5 rows are relayed and handled" \
		"handled: $(qw_handled q3) of 6 after 5 s; pending: $(tl_count charging_session_request_outbox 'published_at IS NULL')"
fi
if grep -q 'pool listen: connection 0 lost' "$TL_DIR/relay3.log" && grep -q 'pool listen: connection 0 re-established' "$TL_DIR/relay3.log"; then
	tl_ok "the relay worker logs the lost and re-established LISTEN connection"
else
	tl_not_ok "the relay worker logs the lost and re-established LISTEN connection"
	tl_diag_file "$TL_DIR/relay3.log"
fi

# the consumer: a delivery written without a NOTIFY waits until its LISTEN
# connection is killed and comes back
tl_poll 10 listening || tl_diag "the relay did not LISTEN again"
tl_sql "WITH m AS (
	  INSERT INTO chargegate.topic_message (topic, event_id, event_type, aggregate_id, payload, created_at)
	  VALUES ('charging_session_request', gen_random_uuid(), 'StartChargingSessionRequestCommand', gen_random_uuid(),
	          '{}', now())
	  RETURNING id)
	INSERT INTO chargegate.subscription_batch (subscription, message_ids, oldest_message_id)
	SELECT 'q3', ARRAY[id], id FROM m" >/dev/null
# Anything that wakes the consumer makes it claim the delivery, so the only
# marker is time: a consumer ignoring --poll would poll every second (the
# worker's default), and the delivery is older than that.
tl_poll 10 older_than "chargegate.subscription_batch WHERE subscription = 'q3'" 1
tl_is "$(qw_handled q3)" 6 "a delivery written without a NOTIFY is not handled yet"
killed=$(tl_sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                  WHERE query LIKE 'LISTEN%chargegate\\_topic\\_%' AND pid <> pg_backend_pid()")
tl_is "$killed" 1 "the consumer's LISTEN backend is terminated"
_t0=$(tl_now_ms)
if tl_poll 5 qw_handled_is q3 7; then
	tl_ok "the consumer reconnects and catches up ($(( $(tl_now_ms) - _t0 )) ms)"
else
	tl_not_ok "the consumer reconnects and catches up" "handled: $(qw_handled q3) of 7 after 5 s"
fi

# both are woken by NOTIFY again, without a restart
tl_poll 10 listening || tl_diag "the workers did not LISTEN again"
qw_publish 10
if tl_poll 5 qw_handled_is q3 17; then
	tl_ok "after the reconnects a NOTIFY wakes them again: 10 more events handled within 5 s (poll 30 s)"
else
	tl_not_ok "after the reconnects a NOTIFY wakes them again" "handled: $(qw_handled q3) of 17 after 5 s"
fi
# shellcheck disable=SC2154 # set by qw_start
if tl_alive "$relay3_pid" && tl_alive "$cons3_pid"; then
	tl_ok "neither worker was restarted"
else
	tl_not_ok "neither worker was restarted"
fi
qw_exactly_once q3 "each of the 16 events of the outbox was handled once across the reconnects"
tl_is "$(tl_sql "SELECT count(*) - count(DISTINCT event_id) FROM chargegate_test.handled WHERE subscription = 'q3'")" 0 \
	"no event handled twice"
qw_stop relay3
qw_stop cons3

tl_done

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

# a 30 s poll: anything faster than that below comes from the reconnect
qw_start relay3 --relay --poll 30000
qw_start cons3 --subscription q3 --topic charging_session_request --record --poll 30000
tl_poll 10 qw_subscribed q3 || tl_bail "the consumer did not create its subscription q3"
tl_poll 10 qw_listeners_are 2 || tl_bail "the two workers did not LISTEN"
sleep 0.3

# the relay: rows committed without a NOTIFY (a missed notification) stay
# pending until its LISTEN connection is killed and comes back
qw_publish 5 quiet
sleep 1
tl_is "$(tl_count charging_session_request_outbox 'published_at IS NULL')" 5 \
	"5 rows committed without a NOTIFY are not relayed yet (the poll is 30 s)"
killed=$(tl_sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                  WHERE query LIKE 'LISTEN%\\_outbox%' AND pid <> pg_backend_pid()")
tl_is "$killed" 1 "the relay's LISTEN backend is terminated"
_t0=$(tl_now_ms)
if tl_poll 5 qw_handled_is q3 5; then
	tl_ok "the relay reconnects and catches up: the 5 rows are relayed and handled ($(( $(tl_now_ms) - _t0 )) ms)"
else
	tl_not_ok "the relay reconnects and catches up: the 5 rows are relayed and handled" \
		"handled: $(qw_handled q3) of 5 after 5 s; pending: $(tl_count charging_session_request_outbox 'published_at IS NULL')"
fi
if grep -q 'pool listen: connection 0 lost' "$TL_DIR/relay3.log" && grep -q 'pool listen: connection 0 re-established' "$TL_DIR/relay3.log"; then
	tl_ok "the relay worker logs the lost and re-established LISTEN connection"
else
	tl_not_ok "the relay worker logs the lost and re-established LISTEN connection"
	tl_diag_file "$TL_DIR/relay3.log"
fi

# the consumer: a delivery written without a NOTIFY waits until its LISTEN
# connection is killed and comes back
tl_poll 10 qw_listeners_are 2 || tl_diag "the relay did not LISTEN again"
tl_sql "WITH m AS (
	  INSERT INTO chargegate.topic_message (topic, event_id, event_type, aggregate_id, payload, created_at)
	  VALUES ('charging_session_request', gen_random_uuid(), 'StartChargingSessionRequestCommand', gen_random_uuid(),
	          '{}', now())
	  RETURNING id)
	INSERT INTO chargegate.subscription_batch (subscription, message_ids, oldest_message_id)
	SELECT 'q3', ARRAY[id], id FROM m" >/dev/null
sleep 1
tl_is "$(qw_handled q3)" 5 "a delivery written without a NOTIFY is not handled yet"
killed=$(tl_sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                  WHERE query LIKE 'LISTEN%chargegate\\_topic\\_%' AND pid <> pg_backend_pid()")
tl_is "$killed" 1 "the consumer's LISTEN backend is terminated"
_t0=$(tl_now_ms)
if tl_poll 5 qw_handled_is q3 6; then
	tl_ok "the consumer reconnects and catches up ($(( $(tl_now_ms) - _t0 )) ms)"
else
	tl_not_ok "the consumer reconnects and catches up" "handled: $(qw_handled q3) of 6 after 5 s"
fi

# both are woken by NOTIFY again, without a restart
tl_poll 10 qw_listeners_are 2 || tl_diag "the workers did not LISTEN again"
qw_publish 10
if tl_poll 5 qw_handled_is q3 16; then
	tl_ok "after the reconnects a NOTIFY wakes them again: 10 more events handled within 5 s (poll 30 s)"
else
	tl_not_ok "after the reconnects a NOTIFY wakes them again" "handled: $(qw_handled q3) of 16 after 5 s"
fi
# shellcheck disable=SC2154 # set by qw_start
if tl_alive "$relay3_pid" && tl_alive "$cons3_pid"; then
	tl_ok "neither worker was restarted"
else
	tl_not_ok "neither worker was restarted"
fi
qw_exactly_once q3 "each of the 15 events of the outbox was handled once across the reconnects"
tl_is "$(tl_sql "SELECT count(*) - count(DISTINCT event_id) FROM chargegate_test.handled WHERE subscription = 'q3'")" 0 \
	"no event handled twice"
qw_stop relay3
qw_stop cons3

tl_done

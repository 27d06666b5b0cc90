#!/bin/sh
# Bounded growth (DESIGN §2.6): with queue.retention = 1s, published outbox
# rows and topic messages are deleted once old and done, so under a steady
# stream of requests the queue tables stay flat; idempotency keys are not
# queue rows: they stay as long as their request.
#  - chargegated (relay on, consumers off) relays and purges by itself every
#    few seconds, while a queue worker acknowledges the topic's messages;
#  - `chargegatectl purge` applies the same policy at once, keeping what is
#    younger than the retention.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/queuetest.sh disable=SC1091
. "$top_srcdir/tests/lib/queuetest.sh"

ROUNDS=10
PER_ROUND=100

qt_setup
# The daemon refuses to relay without its built-in subscriptions (a message
# published to none would be lost): migrate puts authorization back, and the
# worker acknowledges in its name, as the authorization consumer would.
tl_migrate || tl_bail "chargegatectl migrate did not restore the built-in subscription"
qw_start acker --subscription authorization --topic charging_session_request --batch 100 --poll 200
tl_poll 10 qw_listeners_are 1 || tl_bail "the worker did not start listening"

# accept PREFIX: PER_ROUND requests through accept_requests, as the API's
# group commit writes them (request, command in the outbox, idempotency key,
# NOTIFY of the relay)
accept() {
	tl_sql "SELECT count(*) FROM chargegate.accept_requests(
	          ARRAY(SELECT '123e4567-e89b-12d3-a456-426614174000'::uuid FROM generate_series(1, $PER_ROUND)),
	          ARRAY(SELECT 'tok-$1-' || g FROM generate_series(1, $PER_ROUND) AS g),
	          ARRAY(SELECT 'https://cpo.example/cb' FROM generate_series(1, $PER_ROUND)),
	          ARRAY(SELECT 'key-$1-' || g FROM generate_series(1, $PER_ROUND) AS g))" >/dev/null
}
# "outbox topic_message idempotency_key" row counts
sizes() {
	tl_sql "SELECT (SELECT count(*) FROM chargegate.charging_session_request_outbox) || ' '
	            || (SELECT count(*) FROM chargegate.topic_message) || ' '
	            || (SELECT count(*) FROM chargegate.idempotency_key)"
}
# shellcheck disable=SC2317 # called through tl_poll
sizes_are() { [ "$(sizes)" = "$1" ]; }

# --- the daemon -------------------------------------------------------------------

tl_start_daemon CHARGEGATE_QUEUE_RETENTION=1s CHARGEGATE_RELAY_ENABLED=true CHARGEGATE_CONSUMERS_ENABLED=false ||
	tl_bail "chargegated did not start"

max_outbox=0
max_topic=0
max_keys=0
last=
round=1
while [ "$round" -le "$ROUNDS" ]; do
	# at most PER_ROUND requests a second
	_next=$(( $(tl_now_ms) + 1000 ))
	accept "r$round"
	last=$(sizes)
	_left=$(( _next - $(tl_now_ms) ))
	[ "$_left" -gt 0 ] && sleep "$(printf '0.%03d' "$_left")"
	# shellcheck disable=SC2086 # three numbers
	set -- $last
	[ "$1" -gt "$max_outbox" ] && max_outbox=$1
	[ "$2" -gt "$max_topic" ] && max_topic=$2
	[ "$3" -gt "$max_keys" ] && max_keys=$3
	round=$((round + 1))
done
total=$((ROUNDS * PER_ROUND))
tl_diag "after $ROUNDS rounds of $PER_ROUND requests: outbox/topic_message/idempotency_key rows now $last;" \
	"at most $max_outbox / $max_topic / $max_keys"
tl_is "$(tl_count charging_session_request)" "$total" "all $total requests were accepted"
tl_is "$(tl_count charging_session_request_outbox 'published_at IS NULL')" 0 "the daemon relayed every command"
# The daemon purges every 5 s: at most about 6 s of rows (and a margin) are ever kept.
bound=$((8 * PER_ROUND))
for t in "outbox $max_outbox" "topic_message $max_topic"; do
	# shellcheck disable=SC2086 # name and number
	set -- $t
	if [ "$2" -le "$bound" ]; then
		tl_ok "$1 never held more than $bound rows ($2) while $total were written"
	else
		tl_not_ok "$1 never held more than $bound rows ($2) while $total were written"
	fi
done
if tl_poll 8 sizes_are "0 0 $total"; then
	tl_ok "once the writes stop, every published row and message is purged"
else
	tl_not_ok "once the writes stop, every published row and message is purged" "left: $(sizes)"
fi
tl_is "$(tl_count charging_session_request)" "$total" "the requests themselves are kept"
tl_is "$(tl_count idempotency_key)" "$total" "and their idempotency keys: queue.retention does not forget them"
tl_is "$(tl_sql "SELECT coalesce(sum(live_tuples), -1) >= 0 FROM chargegate.table_health
                  WHERE table_name IN ('charging_session_request_outbox', 'topic_message')")" t \
	"table_health reports on the hot tables"
tl_stop_daemon

# --- chargegatectl purge -----------------------------------------------------------

accept p1
"$TL_CTL" -c "$TL_CONF" relay --once >"$TL_DIR/relay.out" 2>&1 || tl_diag_file "$TL_DIR/relay.out"
keys=$((total + PER_ROUND))
tl_is "$(sizes)" "$PER_ROUND $PER_ROUND $keys" "chargegatectl relay --once moves $PER_ROUND commands to the topic"
# shellcheck disable=SC2317 # called through tl_poll
acked() { [ "$(tl_sql "SELECT count(*) FROM chargegate.subscription_batch")" = 0 ]; }
tl_poll 10 acked || tl_diag "the worker did not acknowledge the messages within 10 s"
CHARGEGATE_QUEUE_RETENTION=1h "$TL_CTL" -c "$TL_CONF" purge >"$TL_DIR/purge.out" 2>&1
TL_RC=$?
tl_is "$TL_RC|$(sizes)|$(grep -c ' 0 deleted$' "$TL_DIR/purge.out")" "0|$PER_ROUND $PER_ROUND $keys|11" \
	"chargegatectl purge with a retention of 1 h deletes nothing yet, and says so for each of the eleven tables (failure_notice_attempt among them)"
# rows_aged: the published rows, messages and handled ids are all older than
# the 1 s retention (time is the stimulus: wait for it in the database)
# shellcheck disable=SC2317 # called through tl_poll
rows_aged() {
	[ "$(tl_sql "SELECT (SELECT count(*) FROM chargegate.charging_session_request_outbox
	                      WHERE published_at >= now() - interval '1 s')
	                 + (SELECT count(*) FROM chargegate.topic_message WHERE published_at >= now() - interval '1 s')
	                 + (SELECT count(*) FROM chargegate.handled_event WHERE handled_at >= now() - interval '1 s')")" = 0 ]
}
tl_poll 10 rows_aged || tl_diag "the rows were not 1 s old after 10 s"
accept p2
CHARGEGATE_QUEUE_RETENTION=1s "$TL_CTL" -c "$TL_CONF" purge >"$TL_DIR/purge.out" 2>&1
TL_RC=$?
tl_is "$TL_RC|$(tl_sql "SELECT (SELECT count(*) FROM chargegate.charging_session_request_outbox WHERE published_at IS NOT NULL)
                         || ' ' || (SELECT count(*) FROM chargegate.topic_message)
                         || ' ' || (SELECT count(*) FROM chargegate.idempotency_key WHERE key LIKE 'key-p1-%')")" \
	"0|0 0 $PER_ROUND" "with a retention of 1 s, a second later it deletes the published rows and their acknowledged messages, not the keys"
tl_is "$(tl_count charging_session_request_outbox 'published_at IS NULL')" "$PER_ROUND" \
	"and keeps the new, pending rows"
tl_is "$(grep -E '^  (charging_session_request_outbox|topic_message|handled_event) ' "$TL_DIR/purge.out" | tr -s ' ')" \
	" charging_session_request_outbox $PER_ROUND deleted
 topic_message $PER_ROUND deleted
 handled_event $PER_ROUND deleted" "and says how many rows it deleted from each table"

tl_done

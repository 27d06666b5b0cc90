#!/bin/sh
# Horizontal scale and fan-out (DESIGN §2.5, issue 3 item 2), with
# tests/queue/cg-queue-worker processes: two consumers of one subscription
# share its messages through SKIP LOCKED and no event is handled twice; a
# second subscription of the same topic receives every message as well.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/queuetest.sh disable=SC1091
. "$top_srcdir/tests/lib/queuetest.sh"

ROUNDS=20
PER_ROUND=10
N=$((ROUNDS * PER_ROUND))

qt_setup

# qw_count NAME: how many events the stopped worker handled
qw_count() {
	sed -n 's/^handled \([0-9]*\) .*/\1/p' "$TL_DIR/$1.out"
}

# Small batches and a slow handler (50 ms a batch), so that the work spreads
qw_start relay --relay --batch 5 --poll 1000
qw_start a1 --subscription shared --topic charging_session_request --record --batch 5 --handler-delay 50
qw_start a2 --subscription shared --topic charging_session_request --record --batch 5 --handler-delay 50
qw_start b1 --subscription mirror --topic charging_session_request --record --batch 20
tl_poll 10 qw_subscribed shared || tl_bail "subscription shared was not created"
tl_poll 10 qw_subscribed mirror || tl_bail "subscription mirror was not created"

# N events in ROUNDS transactions, as the API's group commits would write them
i=0
while [ "$i" -lt "$ROUNDS" ]; do
	printf "INSERT INTO chargegate.charging_session_request_outbox (event_type, aggregate_id, payload)
	        SELECT 'StartChargingSessionRequestCommand', gen_random_uuid(), '{}' FROM generate_series(1, %s);
	        SELECT pg_notify('chargegate_charging_session_request_outbox', '');\n" "$PER_ROUND"
	i=$((i + 1))
done | psql -X -q -v ON_ERROR_STOP=1 >/dev/null || tl_bail "could not write the outbox rows"

if tl_poll 20 qw_handled_is shared "$N"; then
	tl_ok "subscription shared handles all $N events"
else
	tl_not_ok "subscription shared handles all $N events" "handled: $(qw_handled shared) after 20 s"
fi
if tl_poll 10 qw_handled_is mirror "$N"; then
	tl_ok "subscription mirror handles all $N events too (fan-out)"
else
	tl_not_ok "subscription mirror handles all $N events too (fan-out)" "handled: $(qw_handled mirror) after 10 s"
fi
# Anything handled twice would show up by now once nothing is left to hand
# out: every outbox row relayed, no batch of either subscription left (ready,
# leased or dead).  A consumer still busy with a batch whose lease another
# one took over can record nothing any more: its settle is refused (a stale
# lease, the events already in handled_event), its writes with it.
# shellcheck disable=SC2317 # called through tl_poll
drained() {
	[ "$(tl_sql "SELECT (SELECT count(*) FROM chargegate.charging_session_request_outbox WHERE published_at IS NULL)
	                 + (SELECT count(*) FROM chargegate.subscription_batch WHERE subscription IN ('shared', 'mirror'))")" = 0 ]
}
tl_poll 10 drained || tl_diag "subscriptions shared and mirror were not drained within 10 s"

for s in shared mirror; do
	tl_is "$(tl_sql "SELECT count(*) || ' rows, ' || count(DISTINCT event_id) || ' events'
	                   FROM chargegate_test.handled WHERE subscription = '$s'")" \
		"$N rows, $N events" "$s: no event handled twice"
	tl_is "$(tl_sql "SELECT count(*) FROM chargegate.charging_session_request_outbox o
	                  WHERE NOT EXISTS (SELECT 1 FROM chargegate_test.handled h
	                                     WHERE h.subscription = '$s' AND h.event_id = o.event_id)")" 0 \
		"$s: every event of the outbox was handled"
done
tl_is "$(tl_sql "SELECT count(*) FROM chargegate.topic_message")" "$N" "each event is on the topic once"
tl_is "$(tl_sql "SELECT string_agg(subscription || ' ' || (ready + leased + dead), ', ' ORDER BY subscription)
                  FROM chargegate.subscription_status WHERE topic = 'charging_session_request'")" \
	"mirror 0, shared 0" "both subscriptions are drained"

for w in a1 a2 b1 relay; do qw_stop "$w"; done
n1=$(qw_count a1)
n2=$(qw_count a2)
nb=$(qw_count b1)
tl_diag "consumer a1 handled ${n1:-?}, a2 handled ${n2:-?}, b1 handled ${nb:-?}"
if [ "${n1:-0}" -gt 0 ] && [ "${n2:-0}" -gt 0 ]; then
	tl_ok "both consumers of subscription shared did part of the work"
else
	tl_not_ok "both consumers of subscription shared did part of the work" "a1: ${n1:-?}, a2: ${n2:-?}"
fi
tl_is "$(( ${n1:-0} + ${n2:-0} ))" "$N" "together they handled each event once"
tl_is "${nb:-?}" "$N" "the consumer of mirror handled every event"

tl_done

#!/bin/sh
# Handler failures (issue 3 item 5), with tests/queue/cg-queue-worker
# --fail-every 3 (every third message handed to the handler fails and is
# retried after 100 ms):
#  - with queue.max_attempts 10 every failed message is retried and in the
#    end every event is handled exactly once, none dead;
#  - with max_attempts 1 the failed messages become dead letters at once;
#    `chargegatectl replay` hands them out again until all are handled,
#    each exactly once.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/queuetest.sh disable=SC1091
. "$top_srcdir/tests/lib/queuetest.sh"

N=30

qt_setup

# shellcheck disable=SC2317 # called through tl_poll
qw_settled() {
	[ "$(tl_sql "SELECT ready + retrying + leased FROM chargegate.subscription_status WHERE subscription = '$1'")" = 0 ]
}
qw_dead() {
	tl_sql "SELECT count(*) FROM chargegate.dead_letters WHERE subscription = '$1'"
}

qw_start relay --relay --poll 1000
qw_start flaky --subscription flaky --topic charging_session_request --record --fail-every 3 \
	--latency "$TL_DIR/flaky.calls"
qw_start fragile --subscription fragile --topic charging_session_request --record --fail-every 3 --max-attempts 1
tl_poll 10 qw_subscribed flaky || tl_bail "subscription flaky was not created"
tl_poll 10 qw_subscribed fragile || tl_bail "subscription fragile was not created"
qw_publish "$N"

# --- retried until handled --------------------------------------------------------

if tl_poll 15 qw_handled_is flaky "$N"; then
	tl_ok "flaky: all $N events are handled in the end"
else
	tl_not_ok "flaky: all $N events are handled in the end" "handled: $(qw_handled flaky) after 15 s"
fi
calls=$(wc -l <"$TL_DIR/flaky.calls")
retried=$(cut -d' ' -f1 "$TL_DIR/flaky.calls" | sort | uniq -d | wc -l)
tl_diag "flaky: $calls handler calls for $N events, $retried events handled more than once"
if [ "$calls" -ge $((N + N / 3)) ] && [ "$retried" -ge $((N / 3)) ]; then
	tl_ok "flaky: every third call failed and its event was handed to the handler again"
else
	tl_not_ok "flaky: every third call failed and its event was handed to the handler again" \
		"$calls calls, $retried events retried"
fi
qw_exactly_once flaky "flaky: each event was recorded exactly once"
tl_poll 5 qw_settled flaky
tl_is "$(qw_dead flaky)" 0 "flaky: no dead letters"

# --- dead letters, replayed ---------------------------------------------------------

if tl_poll 10 qw_settled fragile; then
	tl_ok "fragile: every message is settled"
else
	tl_not_ok "fragile: every message is settled" \
		"$(tl_sql "SELECT row_to_json(s) FROM chargegate.subscription_status s WHERE subscription = 'fragile'")"
fi
tl_is "$(qw_handled fragile) handled, $(qw_dead fragile) dead" "20 handled, 10 dead" \
	"fragile (max_attempts 1): the 10 failed messages are dead letters at once"
tl_is "$(tl_sql "SELECT DISTINCT attempts || ' ' || last_error FROM chargegate.dead_letters WHERE subscription = 'fragile'")" \
	"1 injected failure" "each after one attempt, with the handler's error"
"$TL_CTL" -c "$TL_CONF" dead-letters >"$TL_DIR/dead-letters.out" 2>&1
tl_is "$(grep -c 'fragile' "$TL_DIR/dead-letters.out")" 10 "chargegatectl dead-letters lists them"

round=0
while [ "$(qw_dead fragile)" -gt 0 ] && [ "$round" -lt 6 ]; do
	round=$((round + 1))
	dead=$(qw_dead fragile)
	out=$("$TL_CTL" -c "$TL_CONF" replay fragile 2>&1)
	tl_is "$out" "fragile: $dead dead letters replayed" "replay round $round: chargegatectl replay fragile"
	tl_poll 10 qw_settled fragile || tl_diag "fragile did not settle after replay round $round"
done
tl_is "$(qw_dead fragile)" 0 "after $round replays nothing is dead"
qw_exactly_once fragile "fragile: each event was recorded exactly once"

for w in relay flaky fragile; do qw_stop "$w"; done

tl_done

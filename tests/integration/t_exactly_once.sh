#!/bin/sh
# DESIGN §2.2: database effects happen once, whatever queue.retention is and
# however short the lease: one decision, one audit row and one webhook-id
# per request.
#   1. A lease shorter than the handling time (300 ms against an
#      authorization taking 1.5 s), two daemons, queue.retention 0 s and
#      then 1 s: leases are renewed while the call is in flight, so nobody
#      takes the work over and nothing is decided twice.
#   2. A daemon frozen (SIGSTOP) while it holds the work loses its lease;
#      another daemon decides; when the first one wakes up its settle is
#      refused and rolled back with everything it wrote.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

N=20

demo_setup
demo_authz_start --default allowed --latency 1500
demo_receiver_start
CB=$DEMO_RECEIVER/cb

not_delivered() {
	tl_sql "select count(*) from chargegate.charging_session_request where status <> 'delivered'"
}
# shellcheck disable=SC2317 # called through tl_poll
all_delivered() { [ "$(not_delivered)" = 0 ]; }

# once CASE: every request of the database ended delivered, decided once, with
# one webhook-id at the receiver
once() {
	if tl_poll 60 all_delivered; then
		tl_ok "$1: every request ends delivered"
	else
		tl_not_ok "$1: every request ends delivered" "$(not_delivered) are not after 60 s"
	fi
	tl_is "$(tl_sql "select count(*) || ' audit rows for ' || count(distinct request_id) || ' requests'
	                   from chargegate.authorization_audit")" \
		"$(tl_count charging_session_request) audit rows for $(tl_count charging_session_request) requests" \
		"$1: one decision (audit row) per request"
	demo_received
	dups=$(demo_duplicates)
	tl_like "$dups" ', 0 requests with more than one webhook-id$' "$1: one webhook-id per request at the receiver"
	tl_diag "$1: $dups"
}

metric() {
	curl -s "$1/metrics" | awk -v m="$2" '$1 ~ "^"m { s += $2 } END { print s + 0 }'
}

# --- 1. short leases, slow answers, short retention -------------------------------------
for retention in 0s 1s; do
	CASE="lease 300ms, authorization 1.5s, retention $retention"
	set -- CHARGEGATE_QUEUE_LEASE=300ms CHARGEGATE_QUEUE_RETENTION=$retention CHARGEGATE_AUTHORIZATION_TIMEOUT=5s
	demo_e2e_daemon "$@" || tl_bail "the first chargegated did not start"
	a_url=$TL_BASE_URL a_pid=$TL_DAEMON_PID
	demo_e2e_daemon "$@" || tl_bail "the second chargegated did not start"
	b_url=$TL_BASE_URL b_pid=$TL_DAEMON_PID
	: >"$TL_DIR/posts.txt"
	DEMO_POST_FIRST=$(( $(tl_count charging_session_request) + 1 )) demo_post_many "$N" 8 "$CB" "$a_url" "$b_url"
	tl_is "$(grep -c '^202 ' "$TL_DIR/posts.txt")" "$N" "$CASE: $N requests accepted"
	once "$CASE"
	tl_is "$(( $(metric "$a_url" chargegate_consumer_stale_acks_total) + $(metric "$b_url" chargegate_consumer_stale_acks_total) ))" 0 \
		"$CASE: no lease was lost (renewed while in flight): no stale settle"
	tl_stop_daemon "$a_pid"
	tl_stop_daemon "$b_pid"
done

# --- 2. a frozen daemon loses its lease; its late settle is rolled back ------------------
CASE="a daemon frozen while it holds the work"
tl_sql "delete from chargegate.authorization_audit; delete from chargegate.charging_session_request" >/dev/null
curl -sS -X DELETE -o /dev/null "$DEMO_RECEIVER/received"
demo_e2e_daemon CHARGEGATE_QUEUE_LEASE=600ms CHARGEGATE_AUTHORIZATION_TIMEOUT=5s || tl_bail "chargegated A did not start"
a_pid=$TL_DAEMON_PID a_log=$TL_DAEMON_LOG
: >"$TL_DIR/posts.txt"
DEMO_POST_FIRST=1000 demo_post_many 10 10 "$CB" "$TL_BASE_URL"
tl_is "$(grep -c '^202 ' "$TL_DIR/posts.txt")" 10 "$CASE: 10 requests accepted"
held_by_a() {
	[ "$(tl_sql "select coalesce(sum(messages), 0) from chargegate.leases
	               where subscription = 'authorization' and lease_owner like '%:$a_pid:%'")" = 10 ]
}
tl_poll 10 held_by_a || tl_diag "A did not hold all 10 within 10 s"
kill -STOP "$a_pid"
tl_start_role b CHARGEGATE_CONSUMERS_ENABLED=true CHARGEGATE_HTTP_ENABLED=false \
	CHARGEGATE_AUTHORIZATION_URL="$DEMO_AUTHZ_URL" CHARGEGATE_AUTHORIZATION_TIMEOUT=5s \
	CHARGEGATE_CALLBACK_ALLOW_PRIVATE_NETWORKS=true CHARGEGATE_QUEUE_POLL_INTERVAL=100ms \
	CHARGEGATE_QUEUE_LEASE=600ms || tl_bail "chargegated B did not start"
if tl_poll 30 all_delivered; then
	tl_ok "$CASE: the other daemon takes the work over and delivers every decision"
else
	tl_not_ok "$CASE: the other daemon takes the work over and delivers every decision" "$(not_delivered) left"
fi
kill -CONT "$a_pid"
# shellcheck disable=SC2317 # called through tl_poll
a_gave_up() { grep -q 'could not settle a batch of .*nothing of it was committed' "$a_log"; }
if tl_poll 20 a_gave_up; then
	tl_ok "$CASE: woken up, the first daemon's settle is refused and rolled back, and it says so"
else
	tl_not_ok "$CASE: woken up, the first daemon's settle is refused and rolled back, and it says so" \
		"$(grep -i 'settle\|lease' "$a_log" | tail -n 5)"
fi
tl_like "$(grep 'could not settle a batch' "$a_log" | head -n 1)" 'no longer held' \
	"$CASE: the log names the lost lease as the cause"
once "$CASE"
tl_is "$(tl_sql "select string_agg(distinct decision, ',') from chargegate.charging_session_request")" allowed \
	"$CASE: the decisions are those of the daemon that held the lease"
tl_stop_daemon "$a_pid"
# shellcheck disable=SC2154 # set by tl_start_role
tl_stop_daemon "$b_pid"

tl_done

#!/bin/sh
# DESIGN §2.1 and §2.3 end to end: chargegated is killed with SIGKILL while
# requests pour in and decisions and callbacks are in flight; a new daemon on
# the same address (short queue.lease, so the dead one's leases expire soon)
# finishes the work.  Every request that was answered 202 ends "delivered"
# and its callback reached the receiver at least once; duplicates are
# allowed (at-least-once) and reported.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

N=300
CHUNK=25
KILL_AT=100	# requests in the database when the daemon is killed

demo_setup
# a little latency on both sides, so that work is in flight when the kill comes
demo_authz_start --default allowed --latency 200
demo_receiver_start --delay 200
LISTEN=127.0.0.1:$(tl_free_port)
settings="CHARGEGATE_HTTP_LISTEN=$LISTEN CHARGEGATE_QUEUE_LEASE=2s CHARGEGATE_QUEUE_POLL_INTERVAL=200ms"
# shellcheck disable=SC2086 # word splitting wanted
demo_e2e_daemon $settings || tl_bail "chargegated did not start"
FIRST=$TL_DAEMON_PID

# in chunks, so that posting goes on across the kill and the restart
(
	c=0
	while [ $((c * CHUNK)) -lt "$N" ]; do
		DEMO_POST_FIRST=$((c * CHUNK + 1)) demo_post_many "$CHUNK" 8 "$DEMO_RECEIVER/cb" "http://$LISTEN"
		c=$((c + 1))
	done
) &
POSTER=$!

# kill -9 once enough requests are in and some are still in flight, while
# the posts go on
# shellcheck disable=SC2317 # called through tl_poll
ready_to_kill() {
	[ "$(tl_sql "select count(*) >= $KILL_AT and count(*) filter (where status <> 'delivered') >= 5
		       from chargegate.charging_session_request")" = t ]
}
if tl_poll 60 ready_to_kill; then
	tl_ok "$KILL_AT requests are accepted, some in flight, before the kill"
else
	tl_not_ok "$KILL_AT requests are accepted, some in flight, before the kill" \
		"$(tl_count charging_session_request) requests after 60 s, $(tl_count charging_session_request "status <> 'delivered'") in flight"
fi
kill -KILL "$FIRST"
wait "$FIRST" 2>/dev/null
TL_DAEMON_PIDS=$(echo "$TL_DAEMON_PIDS" | tr ' ' '\n' | grep -vx "$FIRST" | tr '\n' ' ')
tl_diag "killed chargegated with SIGKILL; requests by status then: $(tl_sql "select string_agg(status || ' ' || n, ', ')
	from (select status, count(*) n from chargegate.charging_session_request group by 1 order by 1) s")," \
	"batches leased: $(tl_count leases)"

# shellcheck disable=SC2086
demo_e2e_daemon $settings || tl_bail "the second chargegated did not start"
wait "$POSTER"
cut -d' ' -f1 "$TL_DIR/posts.txt" | sort | uniq -c | sed 's/^ */  /' >"$TL_DIR/codes.txt"
tl_diag "answers to the $N posts (count, status; 000: no answer, the daemon was down):"
tl_diag_file "$TL_DIR/codes.txt"
awk '$1 == 202 { print $2 }' "$TL_DIR/posts.txt" | sort -u >"$TL_DIR/accepted.txt"
ACCEPTED=$(wc -l <"$TL_DIR/accepted.txt" | tr -d ' ')
tl_check "some requests were accepted (got $ACCEPTED)" test "$ACCEPTED" -ge "$KILL_AT"
tl_is "$(awk '$1 != 202 && $1 != "000"' "$TL_DIR/posts.txt" | wc -l | tr -d ' ')" 0 \
	"every answer is 202 or no answer at all (nothing was refused)"

# load the accepted ids into the database to compare there
psql -q -v ON_ERROR_STOP=1 -c 'create table public.accepted (request_id uuid primary key)' \
	-c "\\copy public.accepted from '$TL_DIR/accepted.txt'" >/dev/null
not_delivered() {
	tl_sql "select count(*) from public.accepted a left join chargegate.charging_session_request r using (request_id)
		 where r.status is distinct from 'delivered'"
}
# shellcheck disable=SC2317 # called through tl_poll
all_delivered() { [ "$(not_delivered)" = 0 ]; }
if tl_poll 60 all_delivered; then
	tl_ok "every accepted request ends delivered ($ACCEPTED)"
else
	tl_not_ok "every accepted request ends delivered ($ACCEPTED)" "$(not_delivered) are not, after 60 s:" \
		"$(tl_sql "select coalesce(r.status, 'MISSING') || ' ' || count(*) from public.accepted a
			     left join chargegate.charging_session_request r using (request_id) group by 1")"
fi
tl_is "$(tl_sql "select count(*) from public.accepted a left join chargegate.charging_session_request r using (request_id)
		  where r.request_id is null")" 0 "no accepted request is missing from the database"

demo_received
demo_missing "$TL_DIR/accepted.txt" >"$TL_DIR/missing.txt"
tl_is "$(wc -l <"$TL_DIR/missing.txt" | tr -d ' ')" 0 "the receiver got a callback for every accepted request"
[ -s "$TL_DIR/missing.txt" ] && tl_diag "no callback for: $(head -n 5 "$TL_DIR/missing.txt" | paste -sd' ' -)"
tl_diag "duplicates: $(demo_duplicates) ($(tl_json '#' "$TL_DIR/received.json") callbacks for $ACCEPTED accepted requests)"
tl_is "$(tl_sql "select count(*) from (select request_id from chargegate.authorization_audit group by 1 having count(*) > 1) d")" 0 \
	"each request was decided once (database side effects happen once, §2.2)"
tl_is "$(tl_count dead_letters)" 0 "no dead letters"

tl_stop_daemon
tl_done

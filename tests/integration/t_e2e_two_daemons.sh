#!/bin/sh
# DESIGN §2.5 end to end: two daemons on one database, both with API, relays
# and consumers, share the work through the database.  Requests posted to
# both APIs are all delivered; duplicate callbacks (at-least-once) are
# counted and reported, none may be missing.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

N=200

demo_setup
demo_authz_start --default allowed --latency 10
demo_receiver_start
demo_e2e_daemon || tl_bail "the first chargegated did not start"
A_URL=$TL_BASE_URL A_PID=$TL_DAEMON_PID A_LOG=$TL_DAEMON_LOG
demo_e2e_daemon || tl_bail "the second chargegated did not start"
B_URL=$TL_BASE_URL B_PID=$TL_DAEMON_PID B_LOG=$TL_DAEMON_LOG

demo_post_many "$N" 16 "$DEMO_RECEIVER/cb" "$A_URL" "$B_URL"
awk '$1 == 202 { print $2 }' "$TL_DIR/posts.txt" | sort -u >"$TL_DIR/accepted.txt"
tl_is "$(wc -l <"$TL_DIR/accepted.txt" | tr -d ' ')" "$N" "all $N requests, half to each daemon, are accepted"

psql -q -v ON_ERROR_STOP=1 -c 'create table public.accepted (request_id uuid primary key)' \
	-c "\\copy public.accepted from '$TL_DIR/accepted.txt'" >/dev/null
not_delivered() {
	tl_sql "select count(*) from public.accepted a left join chargegate.charging_session_request r using (request_id)
		 where r.status is distinct from 'delivered'"
}
# shellcheck disable=SC2317 # called through tl_poll
all_delivered() { [ "$(not_delivered)" = 0 ]; }
if tl_poll 60 all_delivered; then
	tl_ok "every request ends delivered"
else
	tl_not_ok "every request ends delivered" "$(not_delivered) of $N are not, after 60 s"
fi

demo_received
demo_missing "$TL_DIR/accepted.txt" >"$TL_DIR/missing.txt"
tl_is "$(wc -l <"$TL_DIR/missing.txt" | tr -d ' ')" 0 "the receiver got a callback for every request"
[ -s "$TL_DIR/missing.txt" ] && tl_diag "no callback for: $(head -n 5 "$TL_DIR/missing.txt" | paste -sd' ' -)"
tl_diag "duplicates: $(demo_duplicates) ($(tl_json '#' "$TL_DIR/received.json") callbacks for $N requests)"
tl_is "$(tl_sql "select count(*) from (select request_id from chargegate.authorization_audit group by 1 having count(*) > 1) d")" 0 \
	"each request was decided once (the audit has one row per request)"
for l in "$A_LOG" "$B_LOG"; do
	tl_diag "$(basename "$l"): $(grep -c ': authorization: .* request_id=' "$l") decisions," \
		"$(grep -c ': callback: .* attempt=' "$l") callback attempts"
done
tl_is "$(tl_count dead_letters)" 0 "no dead letters"

tl_stop_daemon "$A_PID"
tl_stop_daemon "$B_PID"
tl_done

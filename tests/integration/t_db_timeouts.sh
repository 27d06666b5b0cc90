#!/bin/sh
# DESIGN §3 and §6 (database.query_timeout): the database path never hangs.
#   - A lock held on each table a POST writes, in turn: POSTs are answered
#     503 within query_timeout + 1 s (also 20 at once, more than the
#     connections), GETs too, /readyz turns 503 (writes-blocked) and
#     everything resumes when the lock goes.
#   - A network path that silently drops everything (a TCP proxy that
#     black-holes the connection): a POST is still answered within the bound,
#     the daemon notices on its idle connections too and reconnects when the
#     path comes back.
#   - chargegatectl migrate gives up waiting for a lock after --lock-timeout
#     and names who holds it.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"

tl_setup
API=/v1/charging-sessions
BODY='{"station_id":"123e4567-e89b-12d3-a456-426614174000","driver_token":"validDriverToken123","callback_url":"https://cpo.example.com/cb"}'
LIMIT_MS=2000	# query_timeout (1s) + 1 s
tl_start_daemon CHARGEGATE_DATABASE_QUERY_TIMEOUT=1s || tl_bail "chargegated did not start"
URL=$TL_BASE_URL

# lock TABLE SECONDS: an ACCESS EXCLUSIVE lock held by another session, in the background
lock() {
	tl_lock_table "$1" "$2"
	LOCKER=$TL_LOCKER
}
# timed CMD…: run it, elapsed ms in T
timed() {
	_t0=$(tl_now_ms)
	"$@"
	T=$(( $(tl_now_ms) - _t0 ))
}
within() {
	if [ "$T" -le "$LIMIT_MS" ]; then tl_ok "$1 (took $T ms)"; else tl_not_ok "$1" "took $T ms, more than $LIMIT_MS"; fi
}
# shellcheck disable=SC2317 # called through tl_poll
readyz_is() { tl_http GET /readyz; [ "$TL_STATUS" = "$1" ]; }
# shellcheck disable=SC2317 # called through tl_poll
post_is() { tl_post "$API" "$BODY"; [ "$TL_STATUS" = "$1" ]; }

tl_post "$API" "$BODY"
tl_status 202 "a POST is accepted before any lock"
ID=$(tl_json request_id)

for table in charging_session_request charging_session_request_outbox idempotency_key; do
	lock "$table" 4
	timed tl_post "$API" "$BODY"
	tl_problem 503 "lock on $table: a POST is answered 503"
	within "  within query_timeout + 1 s"
	tl_like "$(tl_json detail)" 'did not answer within the time allowed; nothing was stored' \
		"  in the product's words"
	tl_http GET /readyz
	tl_problem 503 "  /readyz is 503"
	tl_like "$(tl_json type)" 'writes-blocked$' "  saying writes are blocked"
	wait "$LOCKER"
	tl_check "  once the lock is gone, POSTs are accepted again" tl_poll 5 post_is 202
	tl_check "  and /readyz is 200 again" tl_poll 5 readyz_is 200
done

# more POSTs at once than there are connections
lock charging_session_request 5
: >"$TL_DIR/many"
for _ in $(seq 20); do
	curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 10 -H 'Content-Type: application/json' \
		--data-binary "$BODY" "$URL$API" >>"$TL_DIR/many" &
done
timed tl_http GET "$API/$ID"
tl_problem 503 "a GET of a locked request is answered 503"
within "  within query_timeout + 1 s"
# shellcheck disable=SC2317 # called through tl_poll
wait_curls() { [ "$(wc -l <"$TL_DIR/many")" -ge 20 ]; }
tl_poll 10 wait_curls
tl_is "$(awk '$1 == 503' "$TL_DIR/many" | wc -l)" 20 "20 POSTs at once during the lock: all answered 503"
tl_is "$(awk '$2 > 2.0' "$TL_DIR/many" | wc -l)" 0 "  each within query_timeout + 1 s ($(sort -k2 -n "$TL_DIR/many" | tail -n 1 | cut -d' ' -f2) s at most)"
wait "$LOCKER"
tl_check "POSTs are accepted after it" tl_poll 5 post_is 202
tl_is "$(tl_count charging_session_request "request_id <> '$ID'")" 4 \
	"only the accepted POSTs are stored (nothing of the 503s)"

# --- a black-holed network path ---------------------------------------------------------
PROXY_PORT=$(tl_free_port)
perl "$top_srcdir/tests/lib/tcpproxy.pl" "$PROXY_PORT" "$TL_PGPORT" >"$TL_DIR/proxy.out" 2>&1 &
PROXY=$!
tl_poll 5 grep -q listening "$TL_DIR/proxy.out" || tl_bail "the TCP proxy did not start"
tl_start_daemon CHARGEGATE_DATABASE_QUERY_TIMEOUT=1s \
	CHARGEGATE_DATABASE_URL="host=127.0.0.1 port=$PROXY_PORT user=postgres dbname=postgres" ||
	tl_bail "the daemon behind the proxy did not start"
tl_check "through the proxy, a POST is accepted" tl_poll 5 post_is 202
# sig_taken PID SIGNUM: the kernel has handed the signal to PID (it is no
# longer pending; SIGUSR1 is 10 on Linux).  The proxy is perl, whose handler
# runs before its next statement: once it took the signal it forwards nothing.
# shellcheck disable=SC2317 # called through tl_poll
sig_taken() {
	_mask=$(awk '/^(SigPnd|ShdPnd):/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
	[ -n "$_mask" ] || return 1
	for _m in $_mask; do
		[ $(( 0x$_m >> ($2 - 1) & 1 )) -eq 0 ] || return 1
	done
}
kill -USR1 "$PROXY"
tl_poll 10 sig_taken "$PROXY" 10 || tl_bail "the TCP proxy did not take SIGUSR1"
timed tl_post "$API" "$BODY"
tl_problem 503 "the path black-holed: a POST is answered 503"
within "  within query_timeout + 1 s"
tl_like "$(tl_json type)" 'outcome-unknown$' "  as an unknown outcome (the request was sent, no answer came)"
tl_check "the daemon notices on its idle connections within 15 s" \
	tl_poll 15 grep -q 'pool api: no database connection left' "$TL_DAEMON_LOG"
timed tl_post "$API" "$BODY"
tl_problem 503 "while connecting is impossible, a POST is answered 503"
within "  within query_timeout + 1 s"
tl_daemon_alive "the daemon runs on"
kill -USR2 "$PROXY"
tl_check "the path back, the daemon reconnects and accepts POSTs within 10 s" tl_poll 10 post_is 202
kill "$PROXY"

# --- host names are looked up off the event loop ------------------------------------------------
if getent hosts localhost >/dev/null 2>&1; then
	tl_start_daemon CHARGEGATE_DATABASE_QUERY_TIMEOUT=1s \
		CHARGEGATE_DATABASE_URL="host=localhost port=$TL_PGPORT user=postgres dbname=postgres" ||
		tl_bail "the daemon with host=localhost did not start"
	tl_check "with host=localhost (looked up by the daemon), a POST is accepted" tl_poll 5 post_is 202
else
	tl_ok "# SKIP this machine has no localhost in /etc/hosts"
fi

# --- chargegatectl migrate and a lock ------------------------------------------------------
# the views migrate refreshes read the subscription table
lock subscription 6
timed tl_run 30 "$TL_CTL" -c "$TL_CONF" migrate --lock-timeout 1s
tl_is "$TL_RC" 1 "migrate waiting on a held lock gives up (exit 1)"
if [ "$T" -le 5000 ]; then tl_ok "  after --lock-timeout 1s (took $T ms)"; else tl_not_ok "  after --lock-timeout 1s" "took $T ms"; fi
tl_like "$(cat "$TL_DIR/run.err")" '^  pid [0-9]+ \(user postgres, application psql, .*subscription AccessExclusiveLock' \
	"  and names the session holding it"
wait "$LOCKER"
tl_run 30 "$TL_CTL" -c "$TL_CONF" migrate --lock-timeout 1s
tl_is "$TL_RC" 0 "once the lock is gone, migrate succeeds"
tl_run 5 "$TL_CTL" -c "$TL_CONF" migrate --lock-timeout soon
tl_is "$TL_RC" 2 "a --lock-timeout that is not a duration is refused (exit 2)"

tl_done

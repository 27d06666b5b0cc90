#!/bin/sh
# DESIGN §3 limits against slow and abusive clients:
#   - 300 connections trickling one byte a second do not keep a normal
#     client from its 202 within a second, and are all closed (408) within
#     http.request_timeout;
#   - http.max_connections counts every open connection, idle ones
#     included: the ones over it get a 503 at once and are closed;
#   - with fewer file descriptors than clients (ulimit -n) the daemon
#     pauses accepting instead of spinning, logs it a few times only, and
#     serves again once the clients leave;
#   - draining on SIGTERM: a request still arriving on an open connection
#     gets 503 with Connection: close, and the daemon exits 0.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"

SLOW="perl $top_srcdir/tests/lib/slowclients.pl"
BODY='{"station_id":"123e4567-e89b-12d3-a456-426614174000","driver_token":"validDriverToken123","callback_url":"https://cpo.example.com/cb"}'

tl_setup

# post_time: a normal POST; prints "CODE SECONDS"
post_time() {
	curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 10 -H 'Content-Type: application/json' \
		-H 'Expect:' -d "$BODY" "$TL_BASE_URL/v1/charging-sessions"
}
# cpu_ticks PID: user + system time of the process, in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# open_connections: the daemon's chargegate_http_connections (this request's
# own connection included)
open_connections() {
	curl -s --max-time 5 "$TL_BASE_URL/metrics" |
		awk '$1 == "chargegate_http_connections" || index($1, "chargegate_http_connections{") == 1 { print $2 }'
}
# connections_at_least N: for tl_poll
# shellcheck disable=SC2317 # called through tl_poll
connections_at_least() { [ "$(open_connections)" -ge "$1" ] 2>/dev/null; }
# server_sockets PORT: the server side's TCP sockets on PORT that are neither
# listening nor in TIME-WAIT (accepted or waiting to be, whatever the client
# did): "STATE RECV-Q SEND-Q LOCAL PEER" lines
server_sockets() { ss -Htn state connected exclude time-wait "sport = :$1"; }
# shellcheck disable=SC2317 # called through tl_poll
no_server_sockets() { [ -z "$(server_sockets "$1")" ]; }

# --- trickling clients ------------------------------------------------------------------
tl_start_daemon CHARGEGATE_HTTP_REQUEST_TIMEOUT=3s || tl_bail "chargegated did not start"
PORT=${TL_BASE_URL##*:}
$SLOW trickle 300 "$PORT" 8 >"$TL_DIR/trickle.out" 2>&1 &
slow=$!
# all 300 are connected, their heads sent (the 301st connection asks)
tl_poll 10 connections_at_least 301 ||
	tl_diag "the daemon did not hold the 300 trickling connections within 10 s ($(open_connections) open)"
# shellcheck disable=SC2046 # two words: code and time
set -- $(post_time)
tl_is "$1" 202 "with 300 clients trickling a byte a second, a normal POST is answered 202"
if awk -v t="$2" 'BEGIN { exit !(t < 1.0) }'; then tl_ok "  within a second (${2} s)"; else tl_not_ok "  within a second" "${2} s"; fi
tl_wait_exit "$slow" 15
tl_diag "$(cat "$TL_DIR/trickle.out")"
tl_like "$(cat "$TL_DIR/trickle.out")" '^trickle: opened 300, closed 300 \(first [0-9]+ ms, last ([0-9]|[1-3][0-9])[0-9]{2} ms\), 408 300, 503 0$' \
	"all 300 are answered 408 and closed within the 3 s request timeout (and a little)"
tl_stop_daemon

# --- max_connections counts idle connections ---------------------------------------------------
tl_start_daemon CHARGEGATE_HTTP_MAX_CONNECTIONS=50 CHARGEGATE_HTTP_REQUEST_TIMEOUT=5s || tl_bail "chargegated did not start"
PORT=${TL_BASE_URL##*:}
$SLOW hold 60 "$PORT" 2 >"$TL_DIR/hold.out" 2>&1
tl_like "$(cat "$TL_DIR/hold.out")" '^hold: opened 60, closed 10 .*, 408 0, 503 10$' \
	"with http.max_connections = 50, 50 idle connections are kept and 10 more get a 503 at once"
tl_stop_daemon

# --- out of file descriptors ------------------------------------------------------------------------
# the daemon needs about 25 descriptors of its own (pools, listen, logs)
# shellcheck disable=SC2016 # "$0" "$@" are the inner shell's
env CHARGEGATE_HTTP_LISTEN="127.0.0.1:$(tl_free_port)" CHARGEGATE_CONSUMERS_ENABLED=false \
	sh -c 'ulimit -n 48 && exec "$0" "$@"' "$TL_DAEMON" -c "$TL_CONF" >"$TL_DIR/fd.log" 2>&1 &
fd_pid=$!
TL_DAEMON_PIDS="$TL_DAEMON_PIDS $fd_pid"
tl_poll 10 grep -qs 'http: listening on' "$TL_DIR/fd.log" || tl_bail "the daemon with 48 descriptors did not start"
TL_BASE_URL=http://$(sed -n 's/.*http: listening on \(.*\)$/\1/p' "$TL_DIR/fd.log" | head -n 1)
PORT=${TL_BASE_URL##*:}
tl_poll 10 grep -qs 'pool api: database reachable' "$TL_DIR/fd.log"
before=$(cpu_ticks "$fd_pid")
$SLOW hold 100 "$PORT" 3 >"$TL_DIR/fd.out" 2>&1
after=$(cpu_ticks "$fd_pid")
tl_diag "$(cat "$TL_DIR/fd.out"); the daemon used $((after - before)) clock ticks meanwhile"
tl_check "with more clients than descriptors the daemon does not spin (under 50 ticks in 3 s)" [ $((after - before)) -lt 50 ]
n=$(grep -c 'could not accept a connection' "$TL_DIR/fd.log")
tl_check "it says so in its log, a few times only ($n)" [ "$n" -ge 1 ] && [ "$n" -le 3 ]
# the clients are gone once the daemon has closed (or accepted and closed) all
# their connections
tl_poll 10 no_server_sockets "$PORT" ||
	tl_diag "connections of the gone clients are still open after 10 s: $(server_sockets "$PORT" | wc -l)"
# shellcheck disable=SC2046 # two words: code and time
set -- $(post_time)
tl_is "$1" 202 "once the clients are gone it serves again"
TL_DAEMON_PID=$fd_pid TL_DAEMON_LOG=$TL_DIR/fd.log
tl_daemon_alive "and is still running"
tl_stop_daemon "$fd_pid"

# --- draining ---------------------------------------------------------------------------------------
tl_start_daemon || tl_bail "chargegated did not start"
PORT=${TL_BASE_URL##*:}
# a request whose head is still on its way when SIGTERM comes: its first
# line, read by the daemon; SIGTERM; once the daemon drains, the rest
mkfifo "$TL_DIR/drain.in"
perl "$top_srcdir/tests/lib/rawhttp.pl" "$PORT" 3 <"$TL_DIR/drain.in" >"$TL_DIR/drain.out" 2>&1 &
client=$!
# should the client be gone early, a write to the pipe fails instead of killing the test
trap '' PIPE
exec 3>"$TL_DIR/drain.in"
FIRST='GET /healthz HTTP/1.1\r\nHost: t\r\n'
printf '%b' "$FIRST" >&3
# head_read: the daemon holds one connection and has read all of the first
# part from it (received all its bytes, none left in Recv-Q)
# shellcheck disable=SC2317 # called through tl_poll
head_read() {
	[ "$(ss -Htni state connected exclude time-wait "sport = :$PORT" | awk -v want="$(printf '%b' "$FIRST" | wc -c)" '
		/^[A-Z]/ { n++; q = $2; next }
		{ for (i = 1; i <= NF; i++) if ($i ~ /^bytes_received:/) { split($i, b, ":"); got = b[2] } }
		END { print (n == 1 && q == 0 && got == want) ? "read" : "not yet" }')" = read ]
}
tl_poll 10 head_read || tl_diag "the daemon did not read the request's first line within 10 s"
kill -TERM "$TL_DAEMON_PID"
tl_poll 10 grep -q ': draining' "$TL_DAEMON_LOG" || tl_diag "the daemon did not log that it drains within 10 s"
printf 'X-Late: yes\r\n\r\n' >&3
exec 3>&-
trap - PIPE
tl_wait_exit "$client" 10
tl_is "$(head -n 1 "$TL_DIR/drain.out" | tr -d '\r')" "HTTP/1.1 503 Service Unavailable" \
	"a request completed while draining is answered 503"
tl_check "  with Connection: close" grep -qi '^Connection: close' "$TL_DIR/drain.out"
tl_check "  as problem+json" grep -qi '^Content-Type: application/problem+json' "$TL_DIR/drain.out"
tl_wait_exit "$TL_DAEMON_PID" 10
tl_is "$TL_RC" 0 "and the daemon then exits 0"
TL_DAEMON_PIDS=
tl_done

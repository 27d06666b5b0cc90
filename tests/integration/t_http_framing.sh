#!/bin/sh
# DESIGN §3 at the byte level: every framing a proxy could read differently
# is answered 400 and the connection closes; every answer is problem+json,
# the server's own included (400, 408, 413, 431, 405 for odd methods);
# HEAD works wherever GET does; pipelined requests are answered in order;
# a body larger than 16 KiB is refused from its Content-Length before it is
# read; a trickling request ends with 408 after http.request_timeout.  Each
# case sends its raw request bytes (tests/lib/rawhttp.pl).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"

RAW="perl $top_srcdir/tests/lib/rawhttp.pl"

tl_setup
tl_start_daemon CHARGEGATE_HTTP_REQUEST_TIMEOUT=2s || tl_bail "chargegated did not start"
PORT=${TL_BASE_URL##*:}
BODY='{"station_id":"123e4567-e89b-12d3-a456-426614174000","driver_token":"validDriverToken123","callback_url":"https://cpo.example.com/cb"}'
LEN=$(printf '%s' "$BODY" | wc -c | tr -d ' ')

# raw FORMAT [ARGS...]: send printf FORMAT ARGS to the daemon; answer in $TL_DIR/raw.out
raw() {
	_fmt=$1
	shift
	# shellcheck disable=SC2059 # the format is the request
	printf "$_fmt" "$@" | $RAW "$PORT" "${RAW_WAIT:-2}" >"$TL_DIR/raw.out" 2>"$TL_DIR/raw.err"
}
status_line() { head -n 1 "$TL_DIR/raw.out" | tr -d '\r'; }
# refused NAME STATUS: the answer is STATUS as problem+json, and the server closed the connection
refused() {
	_errs=
	[ "$(status_line | cut -d' ' -f2)" = "$2" ] || _errs="status line: $(status_line)"
	grep -qi '^Content-Type: application/problem+json' "$TL_DIR/raw.out" || _errs="$_errs; not problem+json"
	grep -q '"status":'"$2" "$TL_DIR/raw.out" || _errs="$_errs; the document does not say $2"
	grep -q '^# closed by the server' "$TL_DIR/raw.out" || _errs="$_errs; the connection stayed open"
	if [ -z "$_errs" ]; then tl_ok "$1"; else tl_not_ok "$1" "$_errs" "$(head -c 400 "$TL_DIR/raw.out")"; fi
}
POST="POST /v1/charging-sessions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"

raw "${POST}Content-Length: %s\r\nContent-Length: 2\r\n\r\n%s" "$LEN" "$BODY"
refused "two different Content-Length headers: 400 and close" 400
raw "${POST}Content-Length: %s\r\nContent-Length: %s\r\n\r\n%s" "$LEN" "$LEN" "$BODY"
refused "two equal Content-Length headers: 400 and close" 400
raw "${POST}Content-Length: +%s\r\n\r\n%s" "$LEN" "$BODY"
refused "Content-Length: +N: 400 and close" 400
raw "${POST}Content-Length : 2\r\n\r\n{}"
refused "Content-Length with a space before the colon: 400 and close" 400
raw "${POST}Transfer-Encoding: xchunked\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
refused "Transfer-Encoding: xchunked: 400 and close, nothing parsed as a second request" 400
tl_is "$(grep -c '^HTTP/1.1' "$TL_DIR/raw.out")" 1 "  (one answer only)"
raw "${POST}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
refused "Transfer-Encoding: gzip, chunked: 400 and close" 400
raw "${POST}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"
refused "both Transfer-Encoding and Content-Length: 400 and close" 400
raw "GET /healthz HTTP/1.1\r\n\r\n"
refused "HTTP/1.1 without Host: 400 and close" 400
raw "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
refused "two Host headers: 400 and close" 400
raw "${POST}Idempotency-Key: a\000b\r\nContent-Length: %s\r\n\r\n%s" "$LEN" "$BODY"
refused "a NUL inside a header value: 400 and close (no truncated key)" 400
tl_is "$(tl_count idempotency_key)" 0 "  (no idempotency key was stored)"
raw "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n"
refused "an obsolete folded header line: 400 and close" 400
raw "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
refused "CONNECT: 400 problem+json, and the socket is closed at once" 400
tl_like "$(tail -n 1 "$TL_DIR/raw.out")" 'after [0-9]{1,3} ms$' "  (within a second, not after a timeout)"
raw "GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n"
refused "HTTP/2.0 in a request line: 505 problem+json" 505
big=$(tl_repeat a 17000)
raw "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: %s\r\n\r\n" "$big"
refused "headers over 16 KiB: 431 problem+json" 431

raw "PURGE /v1/charging-sessions HTTP/1.1\r\nHost: t\r\n\r\n"
tl_is "$(status_line)|$(grep -ci '^Content-Type: application/problem+json' "$TL_DIR/raw.out")" \
	"HTTP/1.1 405 Method Not Allowed|1" "an unknown method reaches the API: 405 problem+json"
tl_check "  with Allow: POST" grep -q '^Allow: POST' "$TL_DIR/raw.out"

# --- HEAD, keep-alive and pipelining ------------------------------------------------------
RAW_WAIT=1 raw "HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
tl_is "$(status_line)" "HTTP/1.1 200 OK" "HEAD /healthz: 200"
tl_check "  with the Content-Length of the GET" grep -q '^Content-Length: 16' "$TL_DIR/raw.out"
tl_check "  and no body; the connection stays open" sh -c "! grep -q 'status' '$TL_DIR/raw.out' && grep -q '^# still open' '$TL_DIR/raw.out'"
RAW_WAIT=1 raw "HEAD /v1/charging-sessions/123e4567-e89b-12d3-a456-426614174000 HTTP/1.1\r\nHost: t\r\n\r\n"
tl_is "$(status_line)" "HTTP/1.1 404 Not Found" "HEAD of a request that does not exist: 404, as GET"
RAW_WAIT=1 raw "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n${POST}Content-Length: %s\r\n\r\n%sGET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" "$LEN" "$BODY"
tl_is "$(grep '^HTTP/1.1' "$TL_DIR/raw.out" | cut -d' ' -f2 | paste -sd, -)" "200,202,200" \
	"three pipelined requests are answered in order"
tl_check "  and Connection: close ends the connection after the last" grep -q '^# closed by the server' "$TL_DIR/raw.out"
raw "${POST}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n10\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" \
	"$(printf '%s' "$BODY" | cut -c1-16)" $((LEN - 16)) "$(printf '%s' "$BODY" | cut -c17-)"
tl_is "$(status_line)" "HTTP/1.1 202 Accepted" "a chunked body is accepted"

# --- bodies over 16 KiB -----------------------------------------------------------------------
tl_repeat x 2097152 >"$TL_DIR/big.json"
{ printf "${POST}Content-Length: 2097152\r\n\r\n"; cat "$TL_DIR/big.json"; } | $RAW "$PORT" 3 >"$TL_DIR/raw.out" 2>&1
refused "a 2 MiB body with its Content-Length: 413 problem+json" 413
tl_is "$(grep -c '^HTTP/1.1' "$TL_DIR/raw.out")" 1 "  (one answer only)"
tl_post /v1/charging-sessions "@$TL_DIR/big.json" -H 'Expect: 100-continue'
tl_problem 413 "with Expect: 100-continue the 413 comes before the body is sent"
raw "${POST}Transfer-Encoding: chunked\r\n\r\n4001\r\n%s\r\n0\r\n\r\n" "$(tl_repeat y 16385)"
refused "a chunked body over 16 KiB: 413 problem+json" 413

# --- slow requests ----------------------------------------------------------------------------
( printf "${POST}Content-Length: %s\r\n\r\n" "$LEN"; i=0; while [ $i -lt 10 ]; do printf x; sleep 0.5; i=$((i + 1)); done ) |
	$RAW "$PORT" 6 >"$TL_DIR/raw.out" 2>&1
refused "a body trickling a byte every 500 ms: 408 problem+json" 408
took=$(sed -n 's/^# closed by the server after \([0-9]*\) ms$/\1/p' "$TL_DIR/raw.out")
if [ -n "$took" ] && [ "$took" -le 3500 ]; then tl_ok "  after the 2 s request timeout ($took ms)"; else tl_not_ok "  after the 2 s request timeout" "${took:-?} ms"; fi
( sleep 3 ) | $RAW "$PORT" 5 >"$TL_DIR/raw.out" 2>&1
took=$(sed -n 's/^# closed by the server after \([0-9]*\) ms$/\1/p' "$TL_DIR/raw.out")
if [ -n "$took" ] && [ "$took" -ge 1800 ] && [ "$took" -le 3500 ]; then
	tl_ok "a connection that sends nothing is closed after the 2 s request timeout ($took ms)"
else
	tl_not_ok "a connection that sends nothing is closed after the 2 s request timeout" "${took:-still open}"
fi

tl_daemon_alive "the daemon is still running"
tl_stop_daemon
tl_done

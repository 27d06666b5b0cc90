#!/bin/sh
# The operators' status page (DESIGN §6, admin.listen): a live daemon with
# the demo services, one request delivered and one that fails; the page's
# listener serves /ui, its JSON (exactly what chargegate.status_report(),
# recent_requests() and request_story() return), /metrics, only GET and
# HEAD, with a Content-Security-Policy; 400/404/503 as problem documents;
# the API's address does not serve it.  Then headless Chromium renders
# /ui#<id> and the DOM it dumps holds the live data: the request ids, the
# subscriptions, the counts and the failed request's timeline, down to
# the failure notice sent to callback.failure_url.  The
# screenshot stays next to this test's log (t_admin_page.png).  A Host
# that could be a rebound name is refused (421); while the database fails
# the page reads one refresh at a time and backs off (Chromium's own
# network log counts the reads); a busy admin.listen leaves the daemon and
# its API running without the page; admin.listen = http.listen serves the
# page on the API's listener.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

CHROMIUM=$(command -v chromium || command -v chromium-browser) ||
	tl_bail "chromium is not installed (run scripts/install-deps): issue 16 asks for the page rendered in it"
SHOT=${top_builddir:-.}/tests/integration/t_admin_page.png
DOM=${top_builddir:-.}/tests/integration/t_admin_page.dom.html

demo_setup
demo_authz_start
demo_receiver_start
# nothing listens on DEAD: every attempt fails (connect), the request ends
# delivery_failed, and the third failure opens DEAD's circuit for a minute
DEAD_PORT=$(tl_free_port)
DEAD=http://127.0.0.1:$DEAD_PORT/callbacks/start
# the demo receiver is the operator's endpoint as well: it accepts the failure notice
demo_e2e_daemon CHARGEGATE_DATABASE_QUERY_TIMEOUT=1s CHARGEGATE_CALLBACK_CIRCUIT_FAILURES=3 \
	CHARGEGATE_CALLBACK_CIRCUIT_COOLDOWN=1m CHARGEGATE_CALLBACK_FAILURE_URL="$DEMO_RECEIVER/failed" ||
	tl_bail "chargegated did not start"

# admin METHOD PATH [curl options…]: tl_http against the status page's listener
admin() {
	_api=$TL_BASE_URL
	TL_BASE_URL=$TL_ADMIN_URL
	tl_http "$@"
	TL_BASE_URL=$_api
}
# jq_ok NAME FILTER: jq -e FILTER holds on the last body
jq_ok() {
	if jq -e "$2" "$TL_BODY" >/dev/null 2>&1; then
		tl_ok "$1"
	else
		tl_not_ok "$1" "jq -e '$2' fails on:" "$(head -c 600 "$TL_BODY")"
	fi
}
# same_json NAME SQL: the last body is the JSON SQL returns (both normalized by jq -S)
same_json() {
	_want=$(tl_sql "$2" | jq -S . 2>&1)
	_got=$(jq -S . "$TL_BODY" 2>&1)
	tl_is "$_got" "$_want" "$1"
}

demo_request validDriverToken123 "$DEMO_RECEIVER/callbacks/start"
RID_OK=$DEMO_RID
demo_request validDriverToken123 "$DEAD"
RID_FAIL=$DEMO_RID
if [ -z "$RID_OK" ] || [ -z "$RID_FAIL" ]; then
	tl_bail "the requests were not accepted"
fi
demo_wait_status "$RID_OK" delivered 15 || tl_bail "$RID_OK is $(demo_field "$RID_OK" status), not delivered"
demo_wait_status "$RID_FAIL" delivery_failed 15 ||
	tl_bail "$RID_FAIL is $(demo_field "$RID_FAIL" status), not delivery_failed"
tl_ok "one request delivered ($RID_OK), one delivery_failed ($RID_FAIL)"
# shellcheck disable=SC2317 # called through tl_poll
circuit_open() { [ "$(tl_sql "select count(*) from chargegate.open_circuits")" = 1 ]; }
tl_poll 10 circuit_open || tl_bail "the dead receiver's circuit did not open"
# shellcheck disable=SC2317 # called through tl_poll
notice_sent() {
	[ "$(tl_sql "select count(*) from chargegate.failure_notice_attempt where request_id::text = :'rid' and final" \
		-v rid="$RID_FAIL")" = 1 ]
}
tl_poll 10 notice_sent || tl_bail "no failure notice about $RID_FAIL was recorded"

# --- the page and its files -----------------------------------------------------------------------
admin GET /ui
tl_status 200 "GET /ui on admin.listen is 200"
tl_like "$(tl_header Content-Type)" '^text/html; charset=utf-8$' "  as HTML"
tl_is "$(tl_header Content-Security-Policy)" "default-src 'self'" "  with Content-Security-Policy: default-src 'self'"
tl_is "$(tl_header X-Content-Type-Options)" nosniff "  and X-Content-Type-Options: nosniff"
tl_check "  loading its script and style from itself" grep -q '<script src="/ui/ui.js"' "$TL_BODY"
for f in ui.js:text/javascript ui.css:text/css; do
	admin GET "/ui/${f%%:*}"
	tl_status 200 "GET /ui/${f%%:*} is 200"
	tl_like "$(tl_header Content-Type)" "^${f#*:}; charset=utf-8\$" "  as ${f#*:}"
done
admin GET /ui/ui.js
tl_check "the script writes no markup from data (no innerHTML, no document.write)" \
	sh -c "! grep -Eq 'innerHTML|outerHTML|document\\.write|insertAdjacentHTML' '$TL_BODY'"
# curl -I would never read a body: a raw request shows whatever the server sends after the headers
ADMIN_PORT=${TL_ADMIN_URL##*:}
perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0], Timeout => 5) or die "connect: $!\n";
	print $s "HEAD /ui HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
	local $/;
	print <$s>;' "$ADMIN_PORT" >"$TL_DIR/head.raw" 2>"$TL_DIR/head.err"
tl_like "$(head -n 1 "$TL_DIR/head.raw")" '^HTTP/1\.[01] 200 ' "HEAD /ui is 200"
tl_check "  with the Content-Length of the page" grep -qi '^Content-Length: [1-9]' "$TL_DIR/head.raw"
tl_is "$(perl -0777 -ne 'print length($1) if /\r\n\r\n(.*)\z/s' "$TL_DIR/head.raw")" 0 \
	"  and nothing after the headers"

# --- DNS rebinding: only a Host that cannot be rebound ----------------------------------------------
admin GET /ui -H 'Host: evil.example'
tl_problem 421 "Host: evil.example (a name rebound to 127.0.0.1) is refused with 421 problem+json"
admin GET /ui/api/status -H "Host: evil.example:$ADMIN_PORT"
tl_problem 421 "  its JSON too"
admin GET /metrics -H 'Host: 127.0.0.1.evil.example'
tl_problem 421 "  and /metrics, under a name that only starts like an address"
admin GET /ui -H "Host: localhost:$ADMIN_PORT"
tl_status 200 "Host: localhost is served"
admin GET /ui -H "Host: [::1]:$ADMIN_PORT"
tl_status 200 "Host: [::1] (an IP literal) is served"
admin GET /ui
tl_status 200 "the Host curl sends for $TL_ADMIN_URL is served"

# --- read-only --------------------------------------------------------------------------------------
for m in POST PUT DELETE PATCH; do
	admin "$m" /ui/api/status -H 'Content-Type: application/json' --data-binary '{}'
	tl_problem 405 "$m /ui/api/status is 405 problem+json"
done
tl_is "$(tl_header Allow)" "GET, HEAD" "  with Allow: GET, HEAD"
admin POST /ui
tl_problem 405 "POST /ui is 405 too"

# --- the JSON -------------------------------------------------------------------------------------------
admin GET /ui/api/status
tl_status 200 "GET /ui/api/status is 200"
tl_is "$(tl_header Content-Type)" application/json "  as application/json"
tl_is "$(tl_header Cache-Control)" no-store "  never cached"
jq_ok "  a JSON object" 'type == "object"'
for sub in $(tl_sql "select name from chargegate.subscription order by name"); do
	jq_ok "  names subscription $sub" "[.. | strings] | index(\"$sub\") != null"
done
cp "$TL_BODY" "$TL_DIR/status.json"
jq_ok "  one open circuit, to the dead receiver's port" \
	"[.open_circuits[] | select(.destination | test(\":$DEAD_PORT\"))] | length == 1"
# ages move between two reads; the rest is chargegate.status_report() as it is
TIMELESS='walk(if type == "object" then with_entries(select(.key | test("age|_at$") | not)) else . end)'
tl_is "$(jq -S "$TIMELESS" "$TL_DIR/status.json")" "$(tl_sql "select chargegate.status_report()" | jq -S "$TIMELESS")" \
	"  it is chargegate.status_report() (ages and times aside)"

admin GET /ui/api/requests
tl_status 200 "GET /ui/api/requests is 200"
tl_is "$(tl_header Content-Type)" application/json "  as application/json"
jq_ok "  it lists both requests" "[.. | strings] | (index(\"$RID_OK\") != null and index(\"$RID_FAIL\") != null)"
same_json "  it is chargegate.recent_requests(50)" "select chargegate.recent_requests(50)"

admin GET "/ui/api/requests/$RID_FAIL"
tl_status 200 "GET /ui/api/requests/{id} of the failed request is 200"
jq_ok "  its story says delivery_failed" '[.. | strings] | index("delivery_failed") != null'
same_json "  it is chargegate.request_story(id)" "select chargegate.request_story('$RID_FAIL')"
admin GET "/ui/api/requests/$(echo "$RID_OK" | tr a-f A-F)"
tl_status 200 "  an id in upper case is the same request"

admin GET /ui/api/requests/0b8e3c9a-4a6f-4d7e-9f0e-123456789abc
tl_problem 404 "an unknown request id is 404 problem+json"
admin GET /ui/api/requests/not-a-uuid
tl_problem 400 "a malformed request id is 400 problem+json"
admin GET /ui/api/nothing
tl_problem 404 "an unknown /ui/api path is 404"
admin GET /v1/charging-sessions
tl_problem 404 "the API is not served on admin.listen"

# --- /metrics there, and the page not on the API's address -------------------------------------------------
admin GET /metrics
tl_status 200 "GET /metrics on admin.listen is 200"
tl_like "$(tl_header Content-Type)" '^text/plain; version=0.0.4' "  in the Prometheus text format"
grep -v '^#' "$TL_BODY" | sed 's/[ {].*//' | sort -u >"$TL_DIR/admin.names"
tl_check "  with the request counters" grep -qx chargegate_requests_total "$TL_DIR/admin.names"
tl_http GET /metrics
grep -v '^#' "$TL_BODY" | sed 's/[ {].*//' | sort -u >"$TL_DIR/api.names"
tl_check "  the same series as the API's /metrics" cmp -s "$TL_DIR/admin.names" "$TL_DIR/api.names"
tl_http GET /ui
tl_problem 404 "GET /ui on http.listen is 404: the page is only on admin.listen"

# --- a database that does not answer: 503 within query_timeout, and the loop goes on -------------------------
tl_lock_table charging_session_request 4
LOCKER=$TL_LOCKER
t0=$(tl_now_ms)
curl -s -o "$TL_DIR/slow.json" -w '%{http_code}' --max-time 10 "$TL_ADMIN_URL/ui/api/requests/$RID_OK" \
	>"$TL_DIR/slow.code" &
SLOW=$!
admin GET /metrics
tl_status 200 "while a read waits on a lock, /metrics still answers"
wait "$SLOW"
t=$(( $(tl_now_ms) - t0 ))
tl_is "$(cat "$TL_DIR/slow.code")" 503 "a read the database does not answer within query_timeout (1 s) is 503"
tl_check "  within 2 s (took $t ms)" [ "$t" -le 2000 ]
tl_like "$(jq -r .type "$TL_DIR/slow.json" 2>&1)" 'database-timeout$' "  as a database-timeout problem"
wait "$LOCKER"

# --- headless Chromium renders the live page --------------------------------------------------------------
# as root Chromium needs --no-sandbox; its profile lives in the test's directory
chromium_run() {
	timeout -k 5 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions \
		--user-data-dir="$TL_DIR/chromium" --window-size=1280,2600 --virtual-time-budget="${BUDGET:-8000}" "$@" \
		2>>"$TL_DIR/chromium.err"
}
chromium_run --dump-dom "$TL_ADMIN_URL/ui#$RID_FAIL" >"$DOM"
tl_check "Chromium renders /ui#<id> (DOM kept in $DOM)" [ -s "$DOM" ]
[ -s "$DOM" ] || tl_diag_file "$TL_DIR/chromium.err"
for rid in "$RID_OK" "$RID_FAIL"; do
	tl_check "  the page lists request $rid" grep -q "$rid" "$DOM"
done
tl_check "  with links to their timelines" grep -q "href=\"#$RID_OK\"" "$DOM"
for sub in $(tl_sql "select name from chargegate.subscription order by name"); do
	tl_check "  the page shows subscription $sub" grep -q ">$sub<" "$DOM"
done
tl_check "  the page shows the outboxes" grep -q ">charging_session_request_outbox<" "$DOM"
# shellcheck disable=SC2317 # row_has and tile_is are called through tl_check
# row_has FIRST COUNT: a table row in the DOM starts with the cell FIRST and has a number cell COUNT
row_has() {
	ROW_FIRST=$1 ROW_N=$2 perl -0ne 'exit(m{<tr><td[^>]*>\Q$ENV{ROW_FIRST}\E</td>(?:<td[^>]*>[^<]*</td>)*?<td class="num">\Q$ENV{ROW_N}\E</td>} ? 0 : 1)' "$DOM"
}
# tile_is LABEL COUNT: the summary tile LABEL shows COUNT
# shellcheck disable=SC2317
tile_is() {
	grep -q "<span class=\"count\">$2</span><span class=\"label\">$1</span>" "$DOM"
}
tl_check "  the requests table counts 1 delivered" row_has delivered 1
tl_check "  and 1 delivery_failed" row_has delivery_failed 1
tl_check "  the summary counts no dead letters" tile_is "Dead letters" 0
tl_check "  and one open circuit" tile_is "Open circuits" 1
tl_check "  to the dead receiver" grep -q ">http://127.0.0.1:$DEAD_PORT<" "$DOM"
tl_check "  no error banner" sh -c "! grep -q 'class=\"error\">[^<]' '$DOM'"
tl_check "  the timeline of $RID_FAIL is open" grep -q "id=\"timeline-id\">$RID_FAIL<" "$DOM"
tl_check "  it shows the failed delivery (connect)" grep -q '>connect<' "$DOM"
tl_check "  and the final state delivery_failed" grep -q '>delivery_failed<' "$DOM"
tl_check "  and the failure notice's attempt" grep -q '>failure_notice_attempt<' "$DOM"
tl_check "  the page says when its data was read" grep -q 'id="updated"[^>]*>read at [^<]*, next in 3 s<' "$DOM"

rm -f "$SHOT"
chromium_run --screenshot="$SHOT" "$TL_ADMIN_URL/ui#$RID_FAIL" >/dev/null
tl_check "Chromium takes a screenshot of the page" [ -s "$SHOT" ]
tl_diag "the screenshot is $SHOT"

# --- a database that does not answer: one refresh at a time, less and less often ------------------------------
# the lock makes every read wait query_timeout (1 s) and fail; Chromium's
# virtual clock runs 20 s of the page.  Every 3 s would be 7 refreshes; a
# refresh chained after the previous one and doubling its wait on failure
# (6 s, 12 s) is 3.
mkfifo "$TL_DIR/locker.in"
psql -qX <"$TL_DIR/locker.in" >/dev/null 2>&1 &
LOCKER=$!
exec 7>"$TL_DIR/locker.in"
echo "begin; lock table chargegate.charging_session_request;" >&7
tl_poll 5 tl_table_locked charging_session_request || tl_bail "the lock was not taken"
BUDGET=20000 chromium_run --log-net-log="$TL_DIR/backoff.netlog.json" --dump-dom "$TL_ADMIN_URL/ui" \
	>"$TL_DIR/backoff.dom.html"
echo "rollback;" >&7
exec 7>&-
wait "$LOCKER"
# the status reads the browser sent, from its own network log
reads=$(jq '.constants.logEventTypes.HTTP_TRANSACTION_SEND_REQUEST_HEADERS as $t
	| [.events[] | select(.type == $t and (.params.line // "" | startswith("GET /ui/api/status ")))] | length' \
	"$TL_DIR/backoff.netlog.json" 2>&1)
tl_check "while the database fails, the page read the status more than once ($reads times)" [ "$reads" -ge 2 ]
tl_check "  but backed off: at most 3 reads in 20 s, not one every 3 s ($reads)" [ "$reads" -le 3 ]
tl_check "  its banner says the reads fail and when it tries again" \
	grep -q 'class="error">/ui/api/status: 503 [^<]*; next try in [0-9]* s<' "$TL_DIR/backoff.dom.html"
tl_check "  and that no data was read" grep -q 'id="updated"[^>]*>not read yet, next in' "$TL_DIR/backoff.dom.html"

tl_stop_daemon

# --- admin.listen taken by another process: the daemon starts without the page ---------------------------------
HELD_PORT=$(tl_free_port)
perl -MIO::Socket::INET -e '
	$| = 1;
	my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0], Listen => 1, ReuseAddr => 1)
		or die "listen: $!\n";
	print "listening\n";
	sleep;' "$HELD_PORT" >"$TL_DIR/holder.out" 2>&1 &
HOLDER=$!
tl_poll 5 grep -q listening "$TL_DIR/holder.out" || tl_bail "could not hold port $HELD_PORT: $(cat "$TL_DIR/holder.out")"
tl_start_daemon CHARGEGATE_ADMIN_LISTEN="127.0.0.1:$HELD_PORT" ||
	tl_bail "chargegated did not start while admin.listen was taken"
tl_ok "with admin.listen on a port another process holds, chargegated starts and /healthz answers"
demo_request validDriverToken123 "$DEMO_RECEIVER/callbacks/start"
tl_status 202 "  the API accepts a request"
tl_check "  the log names admin.listen, the cause, and that the page is off" \
	grep -q "admin.listen: could not listen on 127.0.0.1:$HELD_PORT: Address already in use: the status page is off" \
	"$TL_DAEMON_LOG"
tl_http GET /metrics
tl_check "  chargegate_status_page_up is 0 on /metrics" grep -qxE 'chargegate_status_page_up(\{\})? 0' "$TL_BODY"
tl_http GET /readyz
tl_status 200 "  /readyz is about the API: 200"
tl_stop_daemon
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null

# --- admin.listen = http.listen, set so by the operator: the API's listener serves the page too ------------------
SHARED=127.0.0.1:$(tl_free_port)
tl_start_daemon CHARGEGATE_HTTP_LISTEN="$SHARED" CHARGEGATE_ADMIN_LISTEN="$SHARED" ||
	tl_bail "chargegated did not start with admin.listen = http.listen"
tl_check "the log warns that the page on the API's address needs no API key" \
	grep -q "admin: the status page is on the API's address $SHARED (admin.listen = http.listen): it needs no API key" \
	"$TL_DAEMON_LOG"
tl_http GET /ui
tl_status 200 "GET /ui on the shared address is 200"
tl_like "$(tl_header Content-Type)" '^text/html; charset=utf-8$' "  the page"
tl_http GET /ui/api/requests
tl_status 200 "GET /ui/api/requests there is 200"
tl_http GET /ui -H 'Host: evil.example'
tl_problem 421 "  a rebound Host is refused there too"
tl_http GET /metrics
tl_check "  chargegate_status_page_up is 1" grep -qxE 'chargegate_status_page_up(\{\})? 1' "$TL_BODY"
demo_request validDriverToken123 "$DEMO_RECEIVER/callbacks/start"
tl_status 202 "  and the API accepts a request on the same address"
tl_http POST /ui -H 'Content-Type: application/json' --data-binary '{}'
tl_problem 405 "  the page stays read-only there"
tl_stop_daemon

# --- the API's port under another address: the API keeps it, the page is off ---------------------------------------
P3=$(tl_free_port)
tl_start_daemon CHARGEGATE_HTTP_LISTEN="127.0.0.1:$P3" CHARGEGATE_ADMIN_LISTEN="0.0.0.0:$P3" ||
	tl_bail "chargegated did not start when admin.listen took the API's port under another address"
tl_ok "admin.listen 0.0.0.0:$P3 beside http.listen 127.0.0.1:$P3: the API starts"
tl_check "  and the log says the page is off" \
	grep -q "admin.listen: could not listen on 0.0.0.0:$P3: Address already in use: the status page is off" \
	"$TL_DAEMON_LOG"
tl_http GET /ui
tl_problem 404 "  /ui is not served on the API's address"
tl_stop_daemon
tl_done

#!/bin/sh
# Idempotency-Key (DESIGN §3): the same key with the same body returns the first
# answer and the same request_id without a second row; the same key with a
# different body is answered 422; an over-long key is answered 400.  A key
# lives as long as its request, not queue.retention: after the queue's rows
# are purged, the same key still returns the same request.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"

tl_setup
tl_start_daemon || tl_bail "chargegated did not start"

API=/v1/charging-sessions
B1='{"station_id":"123e4567-e89b-12d3-a456-426614174000","driver_token":"validDriverToken123","callback_url":"https://cpo.example.com/callbacks/start"}'
B2='{"station_id":"123e4567-e89b-12d3-a456-426614174000","driver_token":"anotherDriverToken","callback_url":"https://cpo.example.com/callbacks/start"}'

requests() { tl_count charging_session_request; }
# differs A B: two request_ids that are both present and not the same
# shellcheck disable=SC2317 # called through tl_check
differs() { [ -n "$1" ] && [ -n "$2" ] && [ "$1" != "$2" ]; }
commands() { tl_count charging_session_request_outbox; }

# --- same key, same body ----------------------------------------------------------------
tl_post "$API" "$B1" -H 'Idempotency-Key: key-one'
tl_status 202 "a first request with an Idempotency-Key is accepted"
RID=$(tl_json request_id) || RID=
cp "$TL_BODY" "$TL_DIR/first.body"
LOC=$(tl_header Location) || LOC=

tl_post "$API" "$B1" -H 'Idempotency-Key: key-one'
tl_status 202 "the same key with the same body is answered 202 again"
tl_is "$(tl_json request_id)" "$RID" "the repeat carries the first request_id"
tl_check "the repeat's body is the first answer's body" cmp -s "$TL_BODY" "$TL_DIR/first.body"
tl_is "$(tl_header Location)" "$LOC" "the repeat's Location is the first answer's"
tl_is "$(requests)|$(commands)" '1|1' "the repeat wrote no second request or command"
tl_is "$(tl_count idempotency_key "key = 'key-one' and request_id::text = :'rid'" -v rid="$RID")" 1 \
	"the key is recorded once, with the first request_id"

# --- same key, different body --------------------------------------------------------------
tl_post "$API" "$B2" -H 'Idempotency-Key: key-one'
tl_problem 422 "the same key with a different body is answered 422"
tl_is "$(requests)|$(commands)" '1|1' "the 422 wrote nothing"
tl_post "$API" "$B1" -H 'Idempotency-Key: key-one'
tl_is "$TL_STATUS|$(tl_json request_id)" "202|$RID" "after the 422 the key still returns the first request"

# --- other keys and no key ---------------------------------------------------------------------
tl_post "$API" "$B1" -H 'Idempotency-Key: key-two'
tl_status 202 "another key with the same body is accepted"
RID2=$(tl_json request_id) || RID2=
tl_check "another key is another request" differs "$RID2" "$RID"
tl_is "$(requests)|$(commands)" '2|2' "another key wrote one request and one command"
tl_post "$API" "$B1"
tl_status 202 "no key: accepted"
tl_check "no key: a new request_id" differs "$(tl_json request_id)" "$RID"
tl_is "$(requests)|$(commands)" '3|3' "a request without a key is never de-duplicated"
tl_post "$API" "$B1" -H 'Idempotency-Key: KEY-ONE'
tl_status 202 "keys are case-sensitive: KEY-ONE is a new key"
tl_check "KEY-ONE is another request than key-one" differs "$(tl_json request_id)" "$RID"

# --- key validation ------------------------------------------------------------------------------
K255=$(tl_repeat k 255)
K256=$(tl_repeat k 256)
n=$(requests)
tl_post "$API" "$B1" -H "Idempotency-Key: $K256"
tl_problem 400 "a 256-character Idempotency-Key is answered 400"
tl_is "$(requests)" "$n" "the rejected key wrote nothing"
tl_post "$API" "$B1" -H "Idempotency-Key: $K255"
tl_status 202 "a 255-character Idempotency-Key is accepted"
R255=$(tl_json request_id) || R255=
tl_post "$API" "$B1" -H "Idempotency-Key: $K255"
tl_is "$TL_STATUS|$(tl_json request_id)" "202|$R255" "a 255-character key is honoured"

# --- an invalid body with a key does not claim the key -----------------------------------------------
tl_post "$API" '{}' -H 'Idempotency-Key: key-three'
tl_status 400 "an invalid body with a key is answered 400"
tl_post "$API" "$B1" -H 'Idempotency-Key: key-three'
tl_status 202 "the key of a rejected request can still be used for a valid one"

# --- the same key sent concurrently ---------------------------------------------------------------
N=10
CONC=$TL_DIR/concurrent
mkdir "$CONC"
before=$(requests)
pids=
i=1
while [ "$i" -le "$N" ]; do
	curl -sS -o "$CONC/$i.body" -w '%{http_code}\n' --max-time 30 -H 'Expect:' \
		-H 'Content-Type: application/json' -H 'Idempotency-Key: key-concurrent' \
		--data-binary "$B2" "$TL_BASE_URL$API" >"$CONC/$i.status" 2>"$CONC/$i.err" &
	pids="$pids $!"
	i=$((i + 1))
done
for p in $pids; do wait "$p"; done
statuses=$(cat "$CONC"/*.status | sort | uniq -c | awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')
tl_is "$statuses" "202 x$N" "$N concurrent requests with one key are all answered 202"
ids=$(perl -MJSON::PP -ne 'print eval { decode_json($_)->{request_id} } // "", "\n"' "$CONC"/*.body |
	sort -u | paste -sd, -)
tl_like "$ids" '^[0-9a-fA-F-]{36}$' "$N concurrent requests with one key share one request_id"
tl_is "$(requests)" $((before + 1)) "$N concurrent requests with one key wrote one request row"
tl_is "$(tl_count idempotency_key "key = 'key-concurrent'")" 1 "the concurrent key is recorded once"
tl_stop_daemon

# --- after queue.retention -----------------------------------------------------------------
# a daemon that relays and purges with a retention of 1 s; no consumer, so the
# built-in subscription's deliveries are dropped to let retention purge the topic
tl_start_daemon CHARGEGATE_QUEUE_RETENTION=1s || tl_bail "chargegated did not start"
B3='{"station_id":"123e4567-e89b-12d3-a456-426614174000","driver_token":"retainedToken","callback_url":"https://cpo.example.com/callbacks/start"}'
tl_post "$API" "$B3" -H 'Idempotency-Key: key-retained'
tl_status 202 "a request with a key is accepted by a daemon with queue.retention = 1s"
RID3=$(tl_json request_id) || RID3=
# shellcheck disable=SC2317 # called through tl_poll
relayed() { [ "$(tl_count charging_session_request_outbox "aggregate_id::text = '$RID3' and published_at is not null")" = 1 ]; }
tl_poll 10 relayed || tl_diag "its command was not relayed within 10 s"
tl_sql "delete from chargegate.subscription_batch" >/dev/null
# shellcheck disable=SC2317 # called through tl_poll
purged() {
	[ "$(tl_count charging_session_request_outbox "aggregate_id::text = '$RID3'")" = 0 ] &&
		[ "$(tl_count topic_message "aggregate_id::text = '$RID3'")" = 0 ]
}
if tl_poll 15 purged; then
	tl_ok "retention purges the request's command and topic message"
else
	tl_not_ok "retention purges the request's command and topic message"
fi
tl_post "$API" "$B3" -H 'Idempotency-Key: key-retained'
tl_status 202 "after the purge the same key and body are answered 202"
tl_is "$(tl_json request_id)" "$RID3" "with the same request_id: the key outlived queue.retention"
tl_is "$(tl_count charging_session_request "driver_token = 'retainedToken'")" 1 "and no second request was written"
tl_stop_daemon
tl_done

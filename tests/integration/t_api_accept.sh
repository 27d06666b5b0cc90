#!/bin/sh
# An accepted POST /v1/charging-sessions answers 202 exactly as DESIGN §3 says,
# and commits the request row together with its StartChargingSessionRequestCommand
# outbox row; GET shows the request; concurrent requests are all kept.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"

tl_setup
tl_start_daemon || tl_bail "chargegated did not start"

API=/v1/charging-sessions
MESSAGE='Request is being processed asynchronously. The result will be sent to the provided callback URL.'
UUID_RE='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'

# body STATION_ID DRIVER_TOKEN CALLBACK_URL (plain strings, JSON-encoded here)
body() {
	printf '{"station_id":%s,"driver_token":%s,"callback_url":%s}' \
		"$(tl_json_str "$1")" "$(tl_json_str "$2")" "$(tl_json_str "$3")"
}

# check_accepted NAME: the last answer is the exact 202 of DESIGN §3; sets RID
check_accepted() {
	RID=
	tl_status 202 "$1: answered 202" || return 1
	ct=$(tl_header Content-Type) || ct=
	tl_like "$ct" '^application/json[[:space:]]*(;|$)' "$1: Content-Type is application/json"
	tl_is "$(tl_json '@keys')" message,request_id,status "$1: the body has exactly status, message and request_id"
	tl_is "$(tl_json status)" accepted "$1: status is \"accepted\""
	tl_is "$(tl_json message)" "$MESSAGE" "$1: message is the documented text"
	RID=$(tl_json request_id) || RID=
	tl_like "$RID" "$UUID_RE" "$1: request_id is a UUID"
	loc=$(tl_header Location) || loc='(no Location header)'
	tl_is "$loc" "$API/$RID" "$1: Location is $API/{request_id}"
}

# check_rows NAME RID STATION_ID DRIVER_TOKEN CALLBACK_URL: the request row and
# its command in the outbox hold exactly what was sent
check_rows() {
	row=$(tl_sql "select status, coalesce(decision::text, 'NULL'),
			lower(station_id::text) = lower(:'sid'), driver_token = :'tok', callback_url = :'url'
		from chargegate.charging_session_request where request_id = :'rid'" \
		-v rid="$2" -v sid="$3" -v tok="$4" -v url="$5")
	tl_is "$row" 'accepted|NULL|t|t|t' "$1: the request row is stored as sent, status accepted, no decision"
	out=$(tl_sql "select count(*), count(*) filter (where event_id is not null and created_at is not null
			and payload->>'request_id' = :'rid' and lower(payload->>'station_id') = lower(:'sid')
			and payload->>'driver_token' = :'tok' and payload->>'callback_url' = :'url')
		from chargegate.charging_session_request_outbox
		where aggregate_id::text = :'rid' and event_type = 'StartChargingSessionRequestCommand'" \
		-v rid="$2" -v sid="$3" -v tok="$4" -v url="$5")
	tl_is "$out" '1|1' "$1: one StartChargingSessionRequestCommand outbox row with the request as payload"
}

# --- one request, end to end ------------------------------------------------------------
S=123e4567-e89b-12d3-a456-426614174000
T=validDriverToken123
U=https://cpo.example.com/callbacks/start
tl_post "$API" "$(body "$S" "$T" "$U")"
check_accepted "the documented example"
FIRST=$RID
check_rows "the documented example" "$FIRST" "$S" "$T" "$U"

tl_http GET "$API/$FIRST"
tl_status 200 "GET of an accepted request answers 200"
tl_is "$(tl_json request_id)" "$FIRST" "GET returns the request_id"
tl_is "$(tl_json station_id | tr 'A-F' 'a-f')" "$S" "GET returns the station_id"
tl_is "$(tl_json status)" accepted "GET returns status accepted"
tl_is "$(tl_json decision.@type)" null "GET returns decision null"
tl_is "$(tl_json callback_attempts)|$(tl_json callback_attempts.@type)" '0|number' \
	"GET returns callback_attempts 0"
for m in created_at updated_at; do
	tl_like "$(tl_json "$m")" '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}' "GET returns $m as a timestamp"
done

# --- valid variants ----------------------------------------------------------------------
tl_post "$API" "$(body "123E4567-E89B-12D3-A456-42661417400A" "$T" "$U")"
check_accepted "an upper-case station_id"
check_rows "an upper-case station_id" "$RID" 123E4567-E89B-12D3-A456-42661417400A "$T" "$U"

tl_post "$API" "{\"extra\":{\"nested\":[1,2,{\"a\":null}]},\"station_id\":\"$S\",\"driver_token\":\"$T\",\"callback_url\":\"$U\",\"priority\":7}"
check_accepted "unknown members"
check_rows "unknown members" "$RID" "$S" "$T" "$U"

ALL=$(awk 'BEGIN { for (i = 33; i < 127; i++) printf "%c", i }')
tl_post "$API" "$(body "$S" "$ALL" "$U")"
check_accepted "a driver_token of every printable ASCII character"
check_rows "a driver_token of every printable ASCII character" "$RID" "$S" "$ALL" "$U"

T255=$(tl_repeat t 255)
P=http://cpo.example.com:8080/
U2048=$P$(tl_repeat u $((2048 - ${#P})))
tl_post "$API" "$(body "$S" "$T255" "$U2048")"
check_accepted "a 255-character token and a 2048-byte http URL"
check_rows "a 255-character token and a 2048-byte http URL" "$RID" "$S" "$T255" "$U2048"

tl_post "$API" "$(body "$S" "$T" "$U")" -H 'Content-Type: application/json; charset=utf-8'
check_accepted "Content-Type with a charset parameter"

tl_post "$API" "$(body "$S" "$T" "$U")"
check_accepted "the same body again without an Idempotency-Key"
tl_check "the same body without an Idempotency-Key is a new request" [ "$RID" != "$FIRST" ]

BEFORE=$(tl_count charging_session_request)
tl_is "$(tl_count charging_session_request_outbox)" "$BEFORE" "one outbox row per request row so far"

# --- 50 concurrent requests --------------------------------------------------------------------
N=50
CONC=$TL_DIR/concurrent
mkdir "$CONC"
pids=
i=1
while [ "$i" -le "$N" ]; do
	curl -sS -o "$CONC/$i.body" -D "$CONC/$i.headers" -w '%{http_code}\n' --max-time 30 \
		-H 'Content-Type: application/json' -H 'Expect:' \
		--data-binary "{\"station_id\":\"$S\",\"driver_token\":\"driver-$i\",\"callback_url\":\"$U?n=$i\"}" \
		"$TL_BASE_URL$API" >"$CONC/$i.status" 2>"$CONC/$i.err" &
	pids="$pids $!"
	i=$((i + 1))
done
for p in $pids; do wait "$p"; done
statuses=$(cat "$CONC"/*.status | sort | uniq -c | awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')
tl_is "$statuses" "202 x$N" "$N concurrent POSTs are all answered 202"
perl -MJSON::PP -ne 'print eval { decode_json($_)->{request_id} } // "", "\n"' "$CONC"/*.body |
	sed '/^$/d' | sort -u >"$CONC/rids"
tl_is "$(wc -l <"$CONC/rids" | tr -d ' ')" "$N" "$N concurrent POSTs get $N distinct request_ids"
rids="{$(paste -sd, "$CONC/rids")}"
tl_is "$(tl_count charging_session_request "request_id::text = any(:'rids'::text[])" -v rids="$rids")" "$N" \
	"every concurrent request_id has its request row"
tl_is "$(tl_count charging_session_request_outbox "event_type = 'StartChargingSessionRequestCommand'
		and aggregate_id::text = any(:'rids'::text[])" -v rids="$rids")" "$N" \
	"every concurrent request_id has its outbox command"
tl_is "$(tl_count charging_session_request)" $((BEFORE + N)) "exactly $N request rows were added"
tl_is "$(tl_count charging_session_request_outbox)" $((BEFORE + N)) "exactly $N outbox rows were added"
bad=$(tl_sql "select count(*) from chargegate.charging_session_request r
	where r.request_id::text = any(:'rids'::text[])
	and r.callback_url <> (:'u' || '?n=' || substr(r.driver_token, 8))" -v rids="$rids" -v u="$U")
tl_is "$bad" 0 "no concurrent request got another request's data"

# --- health, readiness, metrics --------------------------------------------------------------
tl_http GET /healthz
tl_status 200 "GET /healthz answers 200"
tl_http GET /readyz
tl_status 200 "GET /readyz answers 200 with a reachable, current database"
tl_http GET /metrics
tl_status 200 "GET /metrics answers 200"
ct=$(tl_header Content-Type) || ct=
tl_like "$ct" '^text/plain' "GET /metrics is Prometheus text (text/plain)"
tl_check "GET /metrics has # TYPE lines" grep -q '^# TYPE ' "$TL_BODY"

tl_stop_daemon
tl_done

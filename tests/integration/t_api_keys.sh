#!/bin/sh
# DESIGN §3 and §8: API keys.  chargegatectl api-key create prints a key once
# and stores its hash; a daemon that needs keys answers 401 (problem+json,
# WWW-Authenticate: Bearer) to a missing, unknown or revoked key, never asks
# one for /healthz, /readyz or /metrics, and a revocation reaches a second
# daemon within 5 s.  A request belongs to its key: another key's GET is 404,
# Idempotency-Keys are scoped per key and a 422 names no request.  Without a
# fresh key snapshot (its table locked away) the API answers 503, not a guess.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"

tl_setup

BODY='{"station_id":"123e4567-e89b-12d3-a456-426614174000","driver_token":"validDriverToken123","callback_url":"https://cpo.example.com/cb"}'
BODY2='{"station_id":"123e4567-e89b-12d3-a456-426614174000","driver_token":"otherDriverToken99","callback_url":"https://cpo.example.com/cb"}'

# create NAME: a new key in $KEY (stdout), exit status in TL_RC
create() {
	tl_run 10 "$TL_CTL" -c "$TL_CONF" api-key create "$1"
	KEY=$(cat "$TL_DIR/run.out")
}

# --- chargegatectl api-key ------------------------------------------------------------
create acme
tl_is "$TL_RC" 0 "api-key create acme exits 0"
ACME=$KEY
tl_like "$ACME" '^cgk_[A-Za-z0-9_-]{43}$' "the key is printed alone on stdout: cgk_ and 256 bits in base64url"
tl_like "$(cat "$TL_DIR/run.err")" 'shown only now' "stderr says the key is shown only this once"
tl_is "$(tl_sql "select count(*) from chargegate.api_key where name = 'acme' and key_hash = sha256(convert_to('$ACME', 'UTF8'))")" 1 \
	"only the key's SHA-256 is stored"
tl_is "$(tl_sql "select count(*) from chargegate.api_key where position(convert_to('$ACME', 'UTF8') in key_hash) > 0")" 0 \
	"the key itself is nowhere in the table"
create beta
BETA=$KEY
create gamma
GAMMA=$KEY
tl_isnt "$ACME" "$BETA" "two keys differ"
create acme
tl_is "$TL_RC" 1 "a second active key named acme is refused (exit 1)"
tl_like "$(cat "$TL_DIR/run.err")" 'already named "acme"' "and the message says why"
tl_run 10 "$TL_CTL" -c "$TL_CONF" api-key create 'bad name'
tl_is "$TL_RC" 2 "an invalid name is refused before the database (exit 2)"
tl_like "$(cat "$TL_DIR/run.err")" 'invalid name' "with a message naming the rule"
tl_run 10 "$TL_CTL" -c "$TL_CONF" api-key revoke nobody
tl_is "$TL_RC" 1 "revoking a name no active key has exits 1"

# --- keys required: 401s ------------------------------------------------------------------
tl_start_daemon CHARGEGATE_HTTP_API_KEYS=required || tl_bail "the daemon did not start"
A_URL=$TL_BASE_URL
tl_check "the daemon logs that API keys are required" tl_poll 5 grep -q 'API keys required' "$TL_DAEMON_LOG"

tl_post /v1/charging-sessions "$BODY"
tl_problem 401 "POST without a key: 401 problem+json"
tl_like "$(tl_header WWW-Authenticate)" '^Bearer realm="chargegate"$' "with WWW-Authenticate: Bearer"
tl_post /v1/charging-sessions "$BODY" -H "Authorization: Bearer cgk_not_a_key_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
tl_problem 401 "POST with an unknown key: 401"
tl_like "$(tl_header WWW-Authenticate)" 'error="invalid_token"' "naming the token invalid"
tl_post /v1/charging-sessions "$BODY" -H "Authorization: Basic $(printf 'u:%s' "$ACME" | base64 -w0)"
tl_problem 401 "the key sent as Basic credentials: 401"
tl_post /v1/charging-sessions "$BODY" -H "Authorization: Bearer $ACME x"
tl_problem 401 "a malformed Bearer value: 401"
tl_post /v1/charging-sessions "$BODY" -H "Authorization: Bearer $ACME" -H "Authorization: Bearer $BETA"
tl_bad_request "two Authorization headers: 400 naming the header" Authorization
tl_http GET /v1/charging-sessions/01890a5d-ac96-774b-bcce-b302099a8057
tl_problem 401 "GET without a key: 401"
for p in /healthz /readyz /metrics; do
	tl_http GET $p
	tl_status 200 "GET $p needs no key"
done
tl_like "$(cat "$TL_BODY")" 'chargegate_api_key_refusals_total\{reason="missing"\} [1-9]' \
	"refusals are counted by reason in /metrics"

# --- per-key scoping -------------------------------------------------------------------------
tl_post /v1/charging-sessions "$BODY" -H "Authorization: Bearer $ACME" -H 'Idempotency-Key: order-1'
tl_status 202 "POST with acme's key: 202"
A_ID=$(tl_json request_id)
tl_post /v1/charging-sessions "$BODY" -H "authorization: bearer   $ACME" -H 'Idempotency-Key: order-1'
tl_status 202 "the scheme is case-insensitive; the same Idempotency-Key again under acme: 202"
tl_is "$(tl_json request_id)" "$A_ID" "and it replays acme's request"
tl_http GET "/v1/charging-sessions/$A_ID" -H "Authorization: Bearer $ACME"
tl_status 200 "acme reads its request"
tl_http GET "/v1/charging-sessions/$A_ID" -H "Authorization: Bearer $BETA"
tl_problem 404 "beta gets 404 for acme's request"
tl_post /v1/charging-sessions "$BODY" -H "Authorization: Bearer $BETA" -H 'Idempotency-Key: order-1'
tl_status 202 "beta sends the same Idempotency-Key and body: 202"
B_ID=$(tl_json request_id)
tl_isnt "$B_ID" "$A_ID" "it is a new request of beta's, not acme's"
tl_post /v1/charging-sessions "$BODY2" -H "Authorization: Bearer $BETA" -H 'Idempotency-Key: order-1'
tl_problem 422 "beta reuses its key with another body: 422"
if grep -q -e "$A_ID" -e "$B_ID" "$TL_BODY"; then
	tl_not_ok "the 422 names no request" "$(cat "$TL_BODY")"
else
	tl_ok "the 422 names no request"
fi
tl_is "$(tl_sql "select k.name from chargegate.charging_session_request r join chargegate.api_key k on k.id = r.api_key_id where r.request_id = '$A_ID'")" acme \
	"the request row names acme's key"
tl_is "$(tl_count idempotency_key "key = 'order-1'")" 2 "order-1 is stored once per API key"

# --- a second daemon; revocation reaches both --------------------------------------------
tl_start_daemon CHARGEGATE_HTTP_API_KEYS=required || tl_bail "the second daemon did not start"
B_URL=$TL_BASE_URL
for u in "$A_URL" "$B_URL"; do
	TL_BASE_URL=$u
	tl_poll 5 sh -c "curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $GAMMA' \
		$u/v1/charging-sessions/01890a5d-ac96-774b-bcce-b302099a8057 | grep -q 404"
	tl_http GET /v1/charging-sessions/01890a5d-ac96-774b-bcce-b302099a8057 -H "Authorization: Bearer $GAMMA"
	tl_problem 404 "gamma is accepted by the daemon at $u (404: no such request)"
done
tl_run 10 "$TL_CTL" -c "$TL_CONF" api-key revoke gamma
tl_is "$TL_RC" 0 "api-key revoke gamma exits 0"
T0=$(tl_now_ms)
# shellcheck disable=SC2317 # called through tl_poll
refused_by() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $GAMMA" \
		"$1/v1/charging-sessions/01890a5d-ac96-774b-bcce-b302099a8057")" = 401 ]
}
if tl_poll 8 refused_by "$A_URL" && tl_poll 8 refused_by "$B_URL"; then
	T=$(( $(tl_now_ms) - T0 ))
	if [ "$T" -le 5000 ]; then
		tl_ok "both daemons refuse the revoked key within 5 s (took $T ms)"
	else
		tl_not_ok "both daemons refuse the revoked key within 5 s" "took $T ms"
	fi
else
	tl_not_ok "both daemons refuse the revoked key within 5 s" "still accepted after 8 s"
fi
TL_BASE_URL=$B_URL
tl_post /v1/charging-sessions "$BODY" -H "Authorization: Bearer $GAMMA"
tl_problem 401 "a revoked key's POST is 401"
tl_like "$(tl_json detail)" 'revoked' "and the detail says it was revoked"
tl_post /v1/charging-sessions "$BODY" -H "Authorization: Bearer $ACME"
tl_status 202 "the other keys still work"

# --- api-key list ----------------------------------------------------------------------------
# the daemons report last use with their next snapshot round (every second)
# shellcheck disable=SC2317 # called through tl_poll
used_recorded() {
	[ "$(tl_sql "select count(*) from chargegate.api_key where name in ('acme', 'beta') and last_used_at is not null")" = 2 ]
}
tl_poll 10 used_recorded || tl_diag "acme's and beta's last use were not both recorded within 10 s"
tl_run 10 "$TL_CTL" -c "$TL_CONF" api-key list
tl_is "$TL_RC" 0 "api-key list exits 0"
LIST=$(cat "$TL_DIR/run.out")
tl_like "$LIST" 'acme' "the list names acme"
if printf '%s' "$LIST" | grep -q -e "$ACME" -e "$BETA" -e "$GAMMA" -e cgk_; then
	tl_not_ok "the list shows no key" "$LIST"
else
	tl_ok "the list shows no key"
fi
tl_like "$(printf '%s\n' "$LIST" | grep gamma)" '[0-9]{4}-[0-9]{2}-[0-9]{2}.*\| *[0-9]{4}-[0-9]{2}-[0-9]{2}' \
	"gamma's line shows when it was revoked"
tl_like "$(printf '%s\n' "$LIST" | grep -w acme)" '[0-9]{4}-[0-9]{2}-[0-9]{2}.*\| *[0-9]{4}-[0-9]{2}-[0-9]{2}' \
	"acme's line shows when it was last used"
tl_is "$(tl_sql "select last_used_at is not null from chargegate.api_key where name = 'acme'")" t \
	"acme's last use was recorded"
tl_is "$(tl_sql "select last_used_at is null from chargegate.api_key where name = 'beta' or name = 'acme' order by name" | tr '\n' ,)" "f,f," \
	"every key that was used has a last use"

# --- no fresh snapshot: 503, then back --------------------------------------------------------
psql -qX -c "begin; lock table chargegate.api_key in access exclusive mode; select pg_sleep(7); commit;" \
	>/dev/null 2>&1 &
LOCKER=$!
# shellcheck disable=SC2317 # called through tl_poll
stale() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ACME" \
		"$B_URL/v1/charging-sessions/01890a5d-ac96-774b-bcce-b302099a8057")" = 503 ]
}
if tl_poll 7 stale; then
	tl_ok "with chargegate.api_key unreadable, requests get 503 once the snapshot is 4 s old"
else
	tl_not_ok "with chargegate.api_key unreadable, requests get 503 once the snapshot is 4 s old" "no 503 within 7 s"
fi
tl_http GET /v1/charging-sessions/01890a5d-ac96-774b-bcce-b302099a8057 -H "Authorization: Bearer $ACME"
tl_problem 503 "the 503 is problem+json"
tl_like "$(tl_header Retry-After)" '^[0-9]+$' "with Retry-After"
wait "$LOCKER"
# shellcheck disable=SC2317 # called through tl_poll
fresh() { ! stale && [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ACME" \
	"$B_URL/v1/charging-sessions/$A_ID")" = 200 ]; }
tl_check "once the table is readable again, acme reads its request" tl_poll 5 fresh
tl_like "$(grep 'api keys' "$TL_DIR/chargegated.2.log" | tr '\n' ' ')" 'has not been read .* read again' \
	"the outage and the recovery are logged"

# --- auto: required on a non-loopback address, off on loopback --------------------------------
tl_start_daemon CHARGEGATE_HTTP_LISTEN="0.0.0.0:$(tl_free_port)" || tl_bail "the 0.0.0.0 daemon did not start"
tl_post /v1/charging-sessions "$BODY"
tl_problem 401 "http.api_keys = auto on 0.0.0.0: a key is required"
tl_start_daemon || tl_bail "the loopback daemon did not start"
tl_post /v1/charging-sessions "$BODY"
tl_status 202 "http.api_keys = auto on 127.0.0.1: no key needed"
tl_is "$(tl_sql "select api_key_id is null from chargegate.charging_session_request where request_id = '$(tl_json request_id)'")" t \
	"such a request belongs to no key"
tl_start_daemon CHARGEGATE_HTTP_LISTEN="0.0.0.0:$(tl_free_port)" CHARGEGATE_HTTP_API_KEYS=off ||
	tl_bail "the keys-off daemon did not start"
tl_like "$(cat "$TL_DAEMON_LOG")" 'api_keys = off while listening on 0.0.0.0' "off on a public address is warned about"

tl_done

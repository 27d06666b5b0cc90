#!/bin/sh
# End to end (DESIGN §1, §4, §5): each of the four decisions — allowed,
# not_allowed (with a reason), unknown and invalid — reaches the callback URL
# with the body and Standard Webhooks headers of §5, is audited, and the
# request ends "delivered" with its decision and one callback attempt.
# "invalid" comes from the worker's re-validation: the API validates, so the
# command is written straight into the outbox with a bad payload.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
RULES=

demo_setup
RULES=$TL_DIR/rules
cat >"$RULES" <<'EOF'
allow    *  validDriverToken123
deny     *  stolenToken   BLOCKED
unknown  *  flakyToken
default  not_allowed
EOF
demo_authz_start --rules "$RULES"
demo_receiver_start --secret "$SECRET"
demo_e2e_daemon CHARGEGATE_CALLBACK_SIGNING_SECRET="$SECRET" || tl_bail "chargegated did not start"
CB=$DEMO_RECEIVER/callbacks/start

# check_delivery NAME RID DECISION REASON TOKEN STATION: the request's status,
# the callback the receiver got and the audit row
check_delivery() {
	_n=$1 _rid=$2 _dec=$3 _reason=$4 _tok=$5 _st=$6
	if ! demo_wait_status "$_rid" delivered 10; then
		tl_not_ok "$_n: the request ends delivered" \
			"status after 10 s: $(demo_field "$_rid" status), decision $(demo_field "$_rid" decision)"
		return
	fi
	tl_ok "$_n: the request ends delivered"
	tl_http GET "/v1/charging-sessions/$_rid"
	tl_is "$TL_STATUS|$(tl_json request_id)|$(tl_json status)|$(tl_json decision)|$(tl_json callback_attempts)" \
		"200|$_rid|delivered|$_dec|1" "$_n: GET shows delivered, decision $_dec, callback_attempts 1"

	demo_received
	demo_entries "$_rid"
	E=$TL_DIR/entries.json
	tl_is "$(tl_json '#' "$E")" 1 "$_n: the receiver got exactly one callback"
	if [ -n "$_reason" ]; then
		_keys=driver_token,reason,request_id,station_id,status
	else
		_keys=driver_token,request_id,station_id,status
	fi
	tl_is "$(tl_json 0.body.@keys "$E")" "$_keys" "$_n: the callback body has exactly the members of §5"
	tl_is "$(tl_json 0.body.request_id "$E")|$(tl_json 0.body.station_id "$E")|$(tl_json 0.body.driver_token "$E")|$(tl_json 0.body.status "$E")" \
		"$_rid|$_st|$_tok|$_dec" "$_n: the callback body carries the request, station, token and decision"
	if [ -n "$_reason" ]; then
		tl_is "$(tl_json 0.body.reason "$E")" "$_reason" "$_n: the reason is passed through to the callback"
	fi
	tl_is "$(tl_json 0.path "$E")|$(tl_json 0.content_type "$E")" "/callbacks/start|application/json" \
		"$_n: POSTed to the callback URL's path as application/json"
	_wid=$(tl_json 0.webhook_id "$E")
	tl_like "$_wid" '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' "$_n: webhook-id is a UUID"
	_ts=$(tl_json 0.webhook_timestamp "$E")
	_now=$(date +%s)
	if printf '%s' "$_ts" | grep -Eq '^[0-9]+$' && [ $((_now - _ts)) -ge -2 ] && [ $((_now - _ts)) -le 30 ]; then
		tl_ok "$_n: webhook-timestamp is the current time in seconds"
	else
		tl_not_ok "$_n: webhook-timestamp is the current time in seconds" "got \"$_ts\", now $_now"
	fi
	tl_like "$(tl_json 0.webhook_signature "$E")" '^v1,[A-Za-z0-9+/]{43}=$' \
		"$_n: webhook-signature is one v1 signature"
	tl_is "$(tl_json 0.signature_valid "$E")" true "$_n: the receiver verifies the signature with the secret"
	tl_is "$(tl_sql "select webhook_id || '|' || attempt || '|' || http_status || '|' || final || '|' || coalesce(error_class, '-')
			   from chargegate.callback_delivery_attempt where request_id::text = :'rid'" -v rid="$_rid")" \
		"$_wid|1|200|true|-" "$_n: one delivery attempt recorded: same webhook-id, 200, final"
	tl_is "$(tl_sql "select decision || '|' || coalesce(reason, '-') from chargegate.authorization_audit
			   where request_id::text = :'rid'" -v rid="$_rid")" \
		"$_dec|${_reason:--}" "$_n: one audit row with the decision and reason"
	tl_is "$(demo_field "$_rid" "coalesce(decision_reason, '-')")" "${_reason:--}" \
		"$_n: the request row keeps the reason"
}

# --- allowed -------------------------------------------------------------------------------
demo_request validDriverToken123 "$CB"
tl_status 202 "allowed: the request is accepted"
check_delivery allowed "$DEMO_RID" allowed "" validDriverToken123 "$DEMO_STATION"
tl_is "$(tl_sql "select sent::text from chargegate.authorization_audit where request_id::text = :'rid'" -v rid="$DEMO_RID")" \
	"{\"station_id\": \"$DEMO_STATION\", \"driver_token\": \"validDriverToken123\"}" \
	"allowed: the audit keeps what was sent to the authorization service (§4)"
tl_like "$(tl_sql "select http_status || '|' || (latency_ms >= 0) || '|' || (response::jsonb ->> 'status')
		     from chargegate.authorization_audit where request_id::text = :'rid'" -v rid="$DEMO_RID")" \
	'^200\|true\|allowed$' "allowed: the audit keeps the HTTP status, latency and answer"

# --- not_allowed with a reason ---------------------------------------------------------------
ST2=0f0f0f0f-1111-2222-3333-ABCDEFabcdef
demo_request stolenToken "$CB" "$ST2"
tl_status 202 "not_allowed: the request is accepted"
# the API may store the station id in canonical lower case
check_delivery not_allowed "$DEMO_RID" not_allowed BLOCKED stolenToken \
	"$(tl_sql "select station_id from chargegate.charging_session_request where request_id::text = :'rid'" -v rid="$DEMO_RID")"

# --- unknown, as the authorization service's own answer ------------------------------------------
demo_request flakyToken "$CB"
tl_status 202 "unknown: the request is accepted"
check_delivery unknown "$DEMO_RID" unknown "" flakyToken "$DEMO_STATION"

# --- invalid: the worker's re-validation fails ------------------------------------------------------
RID_INV=$(tl_sql "select gen_random_uuid()")
tl_sql "begin;
	insert into chargegate.charging_session_request (request_id, station_id, driver_token, callback_url)
	values (:'rid', :'st', 'validDriverToken123', :'cb');
	insert into chargegate.charging_session_request_outbox (event_type, aggregate_id, payload)
	values ('StartChargingSessionRequestCommand', :'rid',
		jsonb_build_object('request_id', :'rid', 'station_id', 'not-a-uuid',
				   'driver_token', 'validDriverToken123', 'callback_url', :'cb'));
	select pg_notify('chargegate_charging_session_request_outbox', '');
	commit;" -v rid="$RID_INV" -v st="$DEMO_STATION" -v cb="$CB" >/dev/null
tl_is "$?" 0 "invalid: a request and a command with a bad station_id are written with SQL"
check_delivery invalid "$RID_INV" invalid "" validDriverToken123 not-a-uuid
tl_like "$(tl_sql "select coalesce(sent::text, 'null') || '|' || coalesce(cause, '-') from chargegate.authorization_audit
		     where request_id::text = :'rid'" -v rid="$RID_INV")" '^null\|.*station_id' \
	"invalid: no call was made (sent is null) and the cause names station_id"
tl_is "$(grep -c '"driver_token":"validDriverToken123"' "$DEMO_AUTHZ_OUT")" 1 \
	"invalid: the authorization service was asked only for the allowed request"

# its relays' NOTIFYs came back on its own LISTEN connection: ignored (its
# consumers were woken in-process), while the deliveries above were prompt
own=$(curl -s "$TL_BASE_URL/metrics" | awk '$1 ~ /^chargegate_queue_own_notifications_total({})?$/ { print $2 }')
tl_check "the daemon ignores the NOTIFYs it sent itself (${own:-no} counted)" [ "${own:-0}" -ge 1 ]

tl_stop_daemon
tl_done

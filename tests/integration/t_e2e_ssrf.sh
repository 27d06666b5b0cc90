#!/bin/sh
# End to end, DESIGN §5 SSRF protection: without
# callback.allow_private_networks a callback to a loopback, private or
# otherwise blocked address — given as a literal, or as a host name that
# resolves to 127.0.0.1 — is refused before connecting: one final attempt
# with error class blocked_address, the request delivery_failed, and the
# receiver gets nothing.  callback.allowed_networks=127.0.0.0/8 opens exactly
# that subnet.
#
# The 10.x callback is only ever given to a daemon that has just been seen
# refusing loopback literals, and the refusal happens before a socket is
# opened: no packet is sent to 10.x.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

demo_setup
demo_authz_start --default allowed
demo_receiver_start
RCV=$DEMO_RECEIVER
P=$DEMO_RECEIVER_PORT
# a receiver on ::1 too, to see that nothing reaches it (when IPv6 loopback works)
RCV6=
if ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/128'; then
	P6=$(tl_free_port)
	"$DEMO_RECEIVER_BIN" --listen "[::1]:$P6" >"$TL_DIR/receiver6.out" 2>"$TL_DIR/receiver6.err" &
	DEMO_PIDS="$DEMO_PIDS $!"
	if tl_poll 5 curl -sf -o /dev/null --max-time 1 "http://[::1]:$P6/healthz"; then
		RCV6="http://[::1]:$P6"
	else
		tl_diag "no receiver on [::1]:$P6: the [::1] case only checks the refusal"
		P6=$P
	fi
else
	P6=$P
fi

# attempts RID: "attempt:final:error_class" of each attempt
attempts() {
	tl_sql "select string_agg(attempt || ':' || final || ':' || coalesce(error_class, '-'), ' ' order by attempt, id)
		  from chargegate.callback_delivery_attempt where request_id::text = :'rid'" -v rid="$1"
}

# refused NAME URL: a request to URL ends delivery_failed after one final
# blocked_address attempt
refused() {
	demo_request validDriverToken123 "$2"
	if [ "$TL_STATUS" != 202 ]; then
		tl_not_ok "$1: the API accepts $2" "HTTP status $TL_STATUS"
		return 1
	fi
	if demo_wait_status "$DEMO_RID" delivery_failed 10; then
		tl_ok "$1: $2 ends delivery_failed"
	else
		tl_not_ok "$1: $2 ends delivery_failed" "status: $(demo_field "$DEMO_RID" status)"
	fi
	_a=$(attempts "$DEMO_RID")
	tl_is "$_a" "1:true:blocked_address" "$1: one final attempt, error class blocked_address"
	[ "$_a" = "1:true:blocked_address" ]
}

# --- the default: private networks are blocked -------------------------------------------------
demo_e2e_daemon CHARGEGATE_CALLBACK_ALLOW_PRIVATE_NETWORKS=false || tl_bail "chargegated did not start"
LOOPBACK_REFUSED=yes
refused "loopback literal" "http://127.0.0.1:$P/cb" || LOOPBACK_REFUSED=no
refused "another loopback literal" "http://127.0.0.2:$P/cb" || LOOPBACK_REFUSED=no
refused "host name resolving to 127.0.0.1" "http://localhost:$P/cb"
refused "IPv6 loopback" "http://[::1]:$P6/cb"
refused "IPv4-mapped IPv6 loopback" "http://[::ffff:127.0.0.1]:$P/cb"
refused "0.0.0.0" "http://0.0.0.0:$P/cb"
if [ "$LOOPBACK_REFUSED" = yes ]; then
	refused "private 10.x literal" "http://10.20.30.40:$P/cb"
else
	tl_not_ok "private 10.x literal: not tried" "loopback literals were not refused; a 10.x callback could leave the machine"
fi
tl_is "$(demo_received_count "$RCV")" 0 "the receiver on 127.0.0.1 got nothing"
if [ -n "$RCV6" ]; then
	tl_is "$(demo_received_count "$RCV6")" 0 "the receiver on [::1] got nothing"
fi
tl_is "$(tl_count charging_session_request "status <> 'delivery_failed'")" 0 "every request ended delivery_failed"
tl_check "the refusal is logged" grep -q "blocked_address" "$TL_DAEMON_LOG"
tl_stop_daemon

# --- an allow-list: 127.0.0.0/8 and nothing else ----------------------------------------------------
demo_e2e_daemon CHARGEGATE_CALLBACK_ALLOW_PRIVATE_NETWORKS=false CHARGEGATE_CALLBACK_ALLOWED_NETWORKS=127.0.0.0/8 ||
	tl_bail "chargegated did not start"
for url in "http://127.0.0.1:$P/allowed" "http://localhost:$P/allowed"; do
	demo_request validDriverToken123 "$url"
	rid=$DEMO_RID
	if [ -n "$rid" ] && demo_wait_status "$rid" delivered 10; then
		tl_ok "allowed_networks=127.0.0.0/8: $url is delivered"
	else
		tl_not_ok "allowed_networks=127.0.0.0/8: $url is delivered" "status: $(demo_field "$rid" status)"
	fi
	demo_received "$RCV"
	demo_entries "$rid"
	tl_is "$(tl_json '#' "$TL_DIR/entries.json")|$(tl_json 0.path "$TL_DIR/entries.json")" "1|/allowed" \
		"allowed_networks=127.0.0.0/8: the receiver got the callback for $url"
done
# 127.0.0.2 is inside the subnet: not refused, the connection is tried (nobody listens there)
demo_request validDriverToken123 "http://127.0.0.2:$P/cb"
rid=$DEMO_RID
demo_wait_status "$rid" delivery_failed 10 || tl_diag "127.0.0.2: status $(demo_field "$rid" status)"
tl_like "$(attempts "$rid")" '^1:false:connect ' "allowed_networks=127.0.0.0/8: 127.0.0.2 is connected to, not refused"
refused "allowed_networks=127.0.0.0/8: IPv6 loopback, outside the list" "http://[::1]:$P6/cb"
if [ -n "$RCV6" ]; then
	tl_is "$(demo_received_count "$RCV6")" 0 "allowed_networks=127.0.0.0/8: the receiver on [::1] got nothing"
fi

# a decision whose callback URL is not valid (a row from an older version, or written by hand):
# one final attempt, never sent, and the request ends delivery_failed instead of a dead letter;
# a decision with no callback URL at all was not written by chargegate (no request to fail):
# a dead letter, which does not hold up the other one
BAD=00000000-0000-4000-8000-0000000000bd
NOURL=00000000-0000-4000-8000-0000000000be
tl_sql "$(demo_decision_sql "$BAD" 'http://user:secret@cpo.example/cb')
	insert into chargegate.authorization_decision_callback_outbox (event_type, aggregate_id, payload)
	values ('AuthorizationDecisionCallback', '$NOURL', jsonb_build_object('request_id', '$NOURL', 'status', 'allowed'));
	notify chargegate_authorization_decision_callback_outbox;" >/dev/null
if demo_wait_status "$BAD" delivery_failed 10; then
	tl_ok "a decision with an invalid callback URL ends delivery_failed"
else
	tl_not_ok "a decision with an invalid callback URL ends delivery_failed" "status: $(demo_field "$BAD" status)"
fi
tl_like "$(attempts "$BAD")" '^1:true:invalid_url$' "  after one final attempt, error class invalid_url"
tl_is "$(tl_sql "select subscription || ' ' || aggregate_id || ' ' || last_error from chargegate.dead_letters")" \
	"notification $NOURL payload lacks request_id, status or callback_url" \
	"  and the only dead letter is the decision without a callback URL"
tl_stop_daemon

tl_done

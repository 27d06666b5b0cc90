#!/bin/sh
# DESIGN §2.1 and §2.5: nothing accepted is lost, in any start order of the
# daemons' roles on a fresh database.  The built-in subscriptions come with
# the schema, so requests accepted before any consumer ever ran still reach
# them:
#   1. an API-only daemon accepts requests, then a relay-only daemon starts,
#      then a consumers-only daemon;
#   2. a relay-only daemon runs before a consumers-only one, and requests
#      arrive in between;
#   3. one daemon with every role, under traffic from its first millisecond.
# Every accepted request ends delivered, with one callback.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

N=150

demo_setup
demo_authz_start --default allowed
demo_receiver_start
CB=$DEMO_RECEIVER/cb
# what demo_e2e_daemon sets, for daemons started by role
set -- CHARGEGATE_AUTHORIZATION_URL="$DEMO_AUTHZ_URL" CHARGEGATE_CALLBACK_ALLOW_PRIVATE_NETWORKS=true \
	CHARGEGATE_QUEUE_POLL_INTERVAL=200ms CHARGEGATE_QUEUE_LEASE=5s
E2E="$*"
API_ONLY="CHARGEGATE_RELAY_ENABLED=false CHARGEGATE_CONSUMERS_ENABLED=false"
RELAY_ONLY="CHARGEGATE_HTTP_ENABLED=false CHARGEGATE_CONSUMERS_ENABLED=false"
CONSUMERS_ONLY="CHARGEGATE_HTTP_ENABLED=false CHARGEGATE_RELAY_ENABLED=false CHARGEGATE_CONSUMERS_ENABLED=true"

# fresh_db NAME: a new, migrated database; the daemons and psql use it from now on
fresh_db() {
	psql -qX -v ON_ERROR_STOP=1 -d postgres -c "create database $1" >/dev/null || tl_bail "could not create database $1"
	PGDATABASE=$1
	CHARGEGATE_DATABASE_URL="host=127.0.0.1 port=$TL_PGPORT user=postgres dbname=$1"
	export PGDATABASE CHARGEGATE_DATABASE_URL
	tl_migrate || tl_bail "chargegatectl migrate failed on database $1"
}

# accept N BASE-URL: N requests to one API; their ids in $TL_DIR/accepted.txt
accept() {
	: >"$TL_DIR/posts.txt"
	demo_post_many "$1" 8 "$CB" "$2"
	awk '$1 == 202 { print $2 }' "$TL_DIR/posts.txt" | sort -u >"$TL_DIR/accepted.txt"
	tl_is "$(wc -l <"$TL_DIR/accepted.txt" | tr -d ' ')" "$1" "$SCENARIO: all $1 requests are accepted"
}

pending_commands() {
	tl_sql "select count(*) from chargegate.charging_session_request_outbox where published_at is null"
}
# shellcheck disable=SC2317 # called through tl_poll
relayed() { [ "$(pending_commands)" = 0 ]; }
not_delivered() {
	tl_sql "select count(*) from chargegate.charging_session_request where status <> 'delivered'"
}
# shellcheck disable=SC2317 # called through tl_poll
all_delivered() { [ "$(not_delivered)" = 0 ]; }

# expect_delivered: every request of this database delivered, one decision
# and one callback (webhook-id) each
expect_delivered() {
	if tl_poll 60 all_delivered; then
		tl_ok "$SCENARIO: every accepted request ends delivered"
	else
		tl_not_ok "$SCENARIO: every accepted request ends delivered" \
			"$(not_delivered) are not, after 60 s: $(tl_sql "select status, count(*) from chargegate.charging_session_request group by 1" | paste -sd' ' -)"
	fi
	tl_is "$(tl_count charging_session_request)" "$(wc -l <"$TL_DIR/accepted.txt" | tr -d ' ')" \
		"$SCENARIO: the database holds exactly the accepted requests"
	tl_is "$(tl_sql "select count(*) from (select request_id from chargegate.authorization_audit group by 1 having count(*) <> 1) x")" 0 \
		"$SCENARIO: each request was decided once"
	demo_received
	demo_missing "$TL_DIR/accepted.txt" >"$TL_DIR/missing.txt"
	tl_is "$(wc -l <"$TL_DIR/missing.txt" | tr -d ' ')" 0 "$SCENARIO: the receiver got a callback for every request"
	tl_is "$(tl_count stranded_messages)" 0 "$SCENARIO: nothing is stranded"
}

stop_all() {
	for _p in "$@"; do
		kill -TERM "$_p" 2>/dev/null
		tl_wait_exit "$_p" 15
		tl_is "$TL_RC" 0 "$SCENARIO: a daemon drains and exits 0"
	done
	curl -sS -X DELETE -o /dev/null "$DEMO_RECEIVER/received"
}

# --- 1. API-only first, then relay-only, then consumers-only ---------------------------
SCENARIO="API, then relay, then consumers"
fresh_db orders1
# shellcheck disable=SC2086 # blank-separated VAR=value words
tl_start_daemon $API_ONLY || tl_bail "the API-only daemon did not start"
api_pid=$TL_DAEMON_PID
accept "$N" "$TL_BASE_URL"
tl_is "$(pending_commands)" "$N" "$SCENARIO: with no relay running, the commands wait in the outbox"
# shellcheck disable=SC2086
tl_start_role relay $RELAY_ONLY $E2E || tl_bail "the relay-only daemon did not start"
if tl_poll 20 relayed; then tl_ok "$SCENARIO: the relay-only daemon relays them"; else
	tl_not_ok "$SCENARIO: the relay-only daemon relays them" "$(pending_commands) still pending"; fi
tl_is "$(tl_sql "select ready from chargegate.subscription_status where subscription = 'authorization'")" "$N" \
	"$SCENARIO: before any consumer ever ran, the authorization subscription holds all of them"
# shellcheck disable=SC2086
tl_start_role consumers $CONSUMERS_ONLY $E2E || tl_bail "the consumers-only daemon did not start"
expect_delivered
# shellcheck disable=SC2154 # set by tl_start_role
stop_all "$api_pid" "$relay_pid" "$consumers_pid"

# --- 2. relay before consumers, requests in between -------------------------------------------
SCENARIO="relay, then API, then consumers"
fresh_db orders2
# shellcheck disable=SC2086
tl_start_role relay $RELAY_ONLY $E2E || tl_bail "the relay-only daemon did not start"
# shellcheck disable=SC2086
tl_start_daemon $API_ONLY || tl_bail "the API-only daemon did not start"
api_pid=$TL_DAEMON_PID
accept "$N" "$TL_BASE_URL"
if tl_poll 20 relayed; then tl_ok "$SCENARIO: the running relay publishes them at once"; else
	tl_not_ok "$SCENARIO: the running relay publishes them at once" "$(pending_commands) still pending"; fi
# shellcheck disable=SC2086
tl_start_role consumers $CONSUMERS_ONLY $E2E || tl_bail "the consumers-only daemon did not start"
expect_delivered
stop_all "$api_pid" "$relay_pid" "$consumers_pid"

# --- 3. one daemon with every role, under traffic from its first millisecond ---------------------
SCENARIO="all roles, traffic from the start"
fresh_db orders3
port=$(tl_free_port)
: >"$TL_DIR/accepted.txt"
# the client keeps knocking until the port opens, then sends the rest at once
(
	i=1
	while [ "$i" -le "$N" ]; do
		body="{\"station_id\":\"$DEMO_STATION\",\"driver_token\":\"first-$i\",\"callback_url\":\"$CB\"}"
		out=$(curl -s -H 'Content-Type: application/json' -H 'Expect:' --max-time 5 -d "$body" \
			"http://127.0.0.1:$port/v1/charging-sessions" 2>/dev/null) || { sleep 0.002; continue; }
		printf '%s\n' "$out" | sed -n 's/.*"request_id":"\([0-9a-f-]*\)".*/\1/p' >>"$TL_DIR/accepted.txt"
		i=$((i + 1))
	done
) &
client=$!
# shellcheck disable=SC2086
tl_start_role all CHARGEGATE_CONSUMERS_ENABLED=true CHARGEGATE_HTTP_LISTEN="127.0.0.1:$port" $E2E ||
	tl_bail "the daemon did not start"
tl_wait_exit "$client" 60
tl_is "$(wc -l <"$TL_DIR/accepted.txt" | tr -d ' ')" "$N" "$SCENARIO: all $N requests are accepted"
first=$(tl_sql "select to_char(min(created_at), 'HH24:MI:SS.MS') from chargegate.charging_session_request")
tl_diag "the first request was accepted at $first; $(grep -m1 'chargegated .* started' "$TL_DIR/all.log")"
expect_delivered
# shellcheck disable=SC2154
stop_all "$all_pid"

tl_done

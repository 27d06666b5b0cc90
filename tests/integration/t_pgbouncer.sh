#!/bin/sh
# Behind PgBouncer (DESIGN §2.9): Debian's pgbouncer (1.18) in front of the
# test cluster, first in transaction pooling with queue.listen = false, then
# in session pooling with LISTEN: the daemon says at start which mode it
# sees and what that changes; decisions are delivered, a failing receiver's
# callback is retried to success, chargegatectl status and relay --once work
# through it.  With transaction pooling and queue.listen left on, the daemon
# warns that wake-ups cannot arrive.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"
# shellcheck source=tests/lib/pgcluster.sh disable=SC1091
. "$top_srcdir/tests/lib/pgcluster.sh"

PGBOUNCER=${PGBOUNCER:-/usr/sbin/pgbouncer}
BOUNCER_PID=

demo_setup
[ -x "$PGBOUNCER" ] || tl_bail "$PGBOUNCER is not installed (scripts/install-deps installs pgbouncer)"
PG_PORT=$(printf '%s\n' "$CG_DATABASE_URL" | sed -n 's/.*port=\([0-9]*\).*/\1/p')
# the bouncer runs as the cluster's owner: it refuses to run as root
BDIR=$TL_DIR/bouncer
mkdir -p "$BDIR"
[ "$(id -u)" -ne 0 ] || chown "$CG_PG_USER" "$BDIR"
cat >"$BDIR/userlist.txt" <<'EOF'
"postgres" ""
EOF

# bouncer_start MODE: pgbouncer in pool_mode MODE on a free port; sets BOUNCER_URL
bouncer_start() {
	_port=$(pgcluster_free_port)
	cat >"$BDIR/pgbouncer.ini" <<EOF
[databases]
postgres = host=127.0.0.1 port=$PG_PORT dbname=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $_port
unix_socket_dir =
auth_type = trust
auth_file = $BDIR/userlist.txt
pool_mode = $1
max_client_conn = 200
default_pool_size = 20
logfile = $BDIR/pgbouncer.log
pidfile = $BDIR/pgbouncer.pid
EOF
	pgcluster__as_owner "$PGBOUNCER" -d "$BDIR/pgbouncer.ini" >"$BDIR/start.out" 2>&1 ||
		tl_bail "pgbouncer did not start: $(cat "$BDIR/start.out" "$BDIR/pgbouncer.log" 2>/dev/null | tail -n 5)"
	BOUNCER_URL="host=127.0.0.1 port=$_port user=postgres dbname=postgres"
	tl_poll 10 psql_through || tl_bail "pgbouncer does not answer on port $_port"
	BOUNCER_PID=$(cat "$BDIR/pgbouncer.pid")
	TL_DAEMON_PIDS="$TL_DAEMON_PIDS $BOUNCER_PID"	# testlib's cleanup stops it whatever happens
}
# shellcheck disable=SC2317 # called through tl_poll
psql_through() { psql -X -q -t -A -d "$BOUNCER_URL" -c 'select 1' >/dev/null 2>&1; }

bouncer_stop() {
	[ -n "$BOUNCER_PID" ] || return 0
	kill "$BOUNCER_PID" 2>/dev/null
	tl_poll 10 bouncer_gone || tl_diag "pgbouncer $BOUNCER_PID did not exit"
	BOUNCER_PID=
}
# shellcheck disable=SC2317 # called through tl_poll
bouncer_gone() { ! kill -0 "$BOUNCER_PID" 2>/dev/null; }

RULES=$TL_DIR/rules
cat >"$RULES" <<'EOF'
allow    *  validDriverToken123
deny     *  stolenToken   BLOCKED
default  not_allowed
EOF
demo_authz_start --rules "$RULES"

# flow MODE: decisions and a retried callback through the bouncer
flow() {
	demo_receiver_start --fail-first 1
	CB=$DEMO_RECEIVER/callbacks/start
	demo_request validDriverToken123 "$CB"
	_allowed=$DEMO_RID
	demo_request stolenToken "$CB"
	_denied=$DEMO_RID
	for _rid in "$_allowed" "$_denied"; do
		demo_wait_status "$_rid" delivered 20 || tl_diag "$1: $_rid is $(demo_field "$_rid" status)"
	done
	tl_is "$(demo_field "$_allowed" decision)|$(demo_field "$_denied" decision)|$(demo_field "$_denied" decision_reason)" \
		"allowed|not_allowed|BLOCKED" "$1: both decisions are taken and delivered through pgbouncer"
	tl_is "$(tl_sql "select format('%s/%s', count(*) filter (where http_status = 500),
	                                 count(*) filter (where http_status = 200))
	                   from chargegate.callback_delivery_attempt where request_id in ('$_allowed', '$_denied')")" \
		"2/2" "$1: each callback failed once (500) and was retried to success"
	demo_stop "$DEMO_RECEIVER_PID"
}

# ctl_through MODE: chargegatectl status and relay --once through the bouncer
ctl_through() {
	tl_run 20 env CHARGEGATE_DATABASE_URL="$BOUNCER_URL" "$TL_CTL" -c "$TL_CONF" status
	tl_is "$TL_RC" 0 "$1: chargegatectl status works through pgbouncer"
	tl_check "$1: and lists the requests by status" grep -q delivered "$TL_DIR/run.out"
	tl_run 20 env CHARGEGATE_DATABASE_URL="$BOUNCER_URL" "$TL_CTL" -c "$TL_CONF" relay --once
	tl_is "$TL_RC" 0 "$1: chargegatectl relay --once works through pgbouncer"
}

# --- transaction pooling, queue.listen = false -----------------------------------------------
bouncer_start transaction
demo_e2e_daemon CHARGEGATE_DATABASE_URL="$BOUNCER_URL" CHARGEGATE_QUEUE_LISTEN=false ||
	tl_bail "chargegated did not start behind pgbouncer (transaction pooling)"
tl_check "transaction: the daemon sees a pooler in transaction mode and polls" \
	grep -q 'connected through a pooler in transaction mode (.*): queue.listen = false, wake-ups by polling' "$TL_DAEMON_LOG"
tl_check "transaction: and says to set the session timeouts on the role" \
	grep -q 'set them on the role too' "$TL_DAEMON_LOG"
flow transaction
tl_check "transaction: the daemon's connections went through pgbouncer" \
	grep -q 'login attempt: db=postgres user=postgres' "$BDIR/pgbouncer.log"
ctl_through transaction
# the session timeouts may not have reached the server connection a POST gets:
# the daemon's own deadline still answers within database.query_timeout + 1 s
tl_lock_table charging_session_request 8
LOCKER=$TL_LOCKER
_t0=$(tl_now_ms)
tl_post /v1/charging-sessions "$(printf '{"station_id":"%s","driver_token":"validDriverToken123","callback_url":"https://cpo.example.com/cb"}' "$DEMO_STATION")"
_took=$(( $(tl_now_ms) - _t0 ))
tl_is "$TL_STATUS|$([ "$_took" -le 6000 ] && echo in-time || echo "$_took ms")" "503|in-time" \
	"transaction: with the table locked a POST is answered 503 within query_timeout (5 s) + 1 s"
wait "$LOCKER"
tl_stop_daemon

# the same bouncer with queue.listen left on: a warning, and polling still delivers
demo_e2e_daemon CHARGEGATE_DATABASE_URL="$BOUNCER_URL" CHARGEGATE_QUEUE_LISTEN=true ||
	tl_bail "chargegated did not start behind pgbouncer (transaction pooling, LISTEN on)"
tl_check "transaction, queue.listen = true: the daemon warns that wake-ups never arrive" \
	grep -q 'LISTEN wake-ups never arrive through it.*set queue.listen = false' "$TL_DAEMON_LOG"
tl_stop_daemon
bouncer_stop

# notified MODE ID: a decision written and NOTIFYed by another session (as a
# second daemon would) is delivered long before the 30 s poll: the wake-up
# came through the bouncer
notified() {
	demo_receiver_start
	CB=$DEMO_RECEIVER/callbacks/start
	tl_sql "$(demo_decision_sql "$2" "$CB")
		notify chargegate_authorization_decision_callback_outbox;" >/dev/null
	if demo_wait_status "$2" delivered 10; then
		tl_ok "$1: a decision NOTIFYed by another session is delivered at once, not at the 30 s poll"
	else
		tl_not_ok "$1: a decision NOTIFYed by another session is delivered at once, not at the 30 s poll" \
			"status after 10 s: $(demo_field "$2" status)"
	fi
	demo_stop "$DEMO_RECEIVER_PID"
}

# --- session pooling, LISTEN on -------------------------------------------------------------
bouncer_start session
demo_e2e_daemon CHARGEGATE_DATABASE_URL="$BOUNCER_URL" CHARGEGATE_QUEUE_LISTEN=true \
	CHARGEGATE_QUEUE_POLL_INTERVAL=30s || tl_bail "chargegated did not start behind pgbouncer (session pooling)"
tl_check "session: the daemon sees a pooler in session mode, where LISTEN works" \
	grep -q 'connected through a pooler in session mode' "$TL_DAEMON_LOG"
flow session
notified session 00000000-0000-4000-8000-00000000b0b1
ctl_through session
tl_stop_daemon
bouncer_stop

# --- straight to PostgreSQL: nothing to say ---------------------------------------------------
tl_start_daemon || tl_bail "chargegated did not start"
tl_check "direct: no pooler is reported" sh -c "! grep -q 'pooler' '$TL_DAEMON_LOG'"
tl_stop_daemon
tl_done

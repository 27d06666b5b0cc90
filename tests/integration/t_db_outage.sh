#!/bin/sh
# With the database gone the API answers 503 problem documents and never 202
# (DESIGN §2.1), /readyz turns 503 while /healthz stays 200, and when the
# database comes back on the same port the daemon recovers without a restart.
# Run twice: a clean shutdown (pg_ctl -m fast) and a crash (-m immediate).
# The 503s say what happened in the product's words, never libpq's; a
# connection lost while a request was committing is answered as an unknown
# outcome that asks for a retry with the same Idempotency-Key, and that
# retry gets the request.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"

tl_setup
tl_start_daemon || tl_bail "chargegated did not start"

API=/v1/charging-sessions
BODY='{"station_id":"123e4567-e89b-12d3-a456-426614174000","driver_token":"validDriverToken123","callback_url":"https://cpo.example.com/callbacks/start"}'
ACCEPTED=0   # 202 answers so far: the request table must hold exactly these
LIED=0       # 202 answers while the database was down

# post: one POST; counts the 202s
post() {
	tl_post "$API" "$BODY"
	if [ "$TL_STATUS" = 202 ]; then
		ACCEPTED=$((ACCEPTED + 1))
		[ "$DB_DOWN" = yes ] && LIED=$((LIED + 1))
	fi
	return 0
}
# shellcheck disable=SC2317 # called through tl_poll
post_is() { post; [ "$TL_STATUS" = "$1" ] || [ "$LIED" -gt 0 ]; }
# shellcheck disable=SC2317 # called through tl_poll
readyz_is() { tl_http GET /readyz; [ "$TL_STATUS" = "$1" ]; }

DB_DOWN=no
post
tl_status 202 "a POST is accepted while the database is up"

for how in stop kill; do
	case $how in
	stop) what="after a clean database shutdown" ;;
	kill) what="after a database crash" ;;
	esac

	"pgcluster_$how" "$TL_PGDIR"
	DB_DOWN=yes
	if tl_poll 5 post_is 503; then :; fi
	tl_is "$LIED" 0 "no POST is answered 202 $what"
	tl_problem 503 "a POST is answered 503 $what within 5 s"
	tl_like "$(tl_json detail)" '^the database is unavailable; nothing was stored, retry later$' \
		"  its detail is the product's, without libpq's message"
	post; post; post
	tl_is "$TL_STATUS|$LIED" "503|0" "further POSTs are answered 503 $what"
	tl_poll 5 readyz_is 503
	tl_status 503 "GET /readyz answers 503 $what"
	tl_http GET /healthz
	tl_status 200 "GET /healthz still answers 200 $what"

	tl_daemon_alive "chargegated survives the database going away ($how)" ||
		tl_bail "chargegated died during the database outage"

	pgcluster_start "$TL_PGDIR" "$TL_PGPORT" >"$TL_DIR/pgcluster.out" 2>&1 || {
		tl_diag_file "$TL_DIR/pgcluster.out"
		tl_bail "could not restart PostgreSQL on port $TL_PGPORT"
	}
	DB_DOWN=no
	tl_poll 15 readyz_is 200
	tl_status 200 "GET /readyz answers 200 within 15 s once the database is back ($how)"
	tl_poll 15 post_is 202
	tl_status 202 "a POST is accepted again without a daemon restart ($how)"
	tl_daemon_alive "chargegated survives the database coming back ($how)" ||
		tl_bail "chargegated died when the database came back"
done

tl_is "$(tl_count charging_session_request)" "$ACCEPTED" "every 202 has its request row and nothing else was written"
tl_is "$(tl_count charging_session_request_outbox)" "$ACCEPTED" "every 202 has its outbox command"

# --- the connection breaks while a request commits -------------------------------------------
# a DBA's lock keeps the group commit waiting; its backend is then terminated
psql -qX -c "BEGIN; LOCK TABLE chargegate.charging_session_request IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(30)" \
	>/dev/null 2>&1 &
locker=$!
# shellcheck disable=SC2317 # called through tl_poll
lock_held() { [ "$(tl_sql "select count(*) from pg_locks where relation = 'chargegate.charging_session_request'::regclass and granted and mode = 'AccessExclusiveLock'")" = 1 ]; }
tl_poll 5 lock_held || tl_diag "the lock was not taken"
tl_post "$API" "$BODY" -H 'Idempotency-Key: broken-commit' &
poster=$!
# shellcheck disable=SC2317 # called through tl_poll
waiting() { [ "$(tl_sql "select count(*) from pg_stat_activity where query like '%accept_requests%' and wait_event_type = 'Lock'")" = 1 ]; }
tl_poll 5 waiting || tl_diag "the group commit did not wait for the lock"
tl_sql "select pg_terminate_backend(pid) from pg_stat_activity where query like '%accept_requests%' and wait_event_type = 'Lock'" >/dev/null
wait "$poster"
TL_STATUS=$(head -n 1 "$TL_HDRS" | cut -d' ' -f2)	# tl_post ran in a subshell
tl_problem 503 "a connection lost while the request commits: 503"
tl_like "$(tl_json detail)" 'may or may not have been accepted; retry with the same Idempotency-Key' \
	"  which says the outcome is unknown and asks for a retry with the same Idempotency-Key"
kill "$locker" 2>/dev/null
wait "$locker" 2>/dev/null
tl_sql "select pg_terminate_backend(pid) from pg_stat_activity where query like '%pg_sleep(30)%' and pid <> pg_backend_pid()" >/dev/null
tl_poll 10 post_is 202
tl_post "$API" "$BODY" -H 'Idempotency-Key: broken-commit'
tl_status 202 "the retry with the same key is accepted"
tl_is "$(tl_count idempotency_key "key = 'broken-commit'")" 1 "  and the key names one request"


tl_stop_daemon
tl_done

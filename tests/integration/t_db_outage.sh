#!/bin/sh
# With the database gone the API answers 503 problem documents and never 202
# (DESIGN §2.1), /readyz turns 503 while /healthz stays 200, and when the
# database comes back on the same port the daemon recovers without a restart.
# Run twice: a clean shutdown (pg_ctl -m fast) and a crash (-m immediate).
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

tl_stop_daemon
tl_done

#!/bin/sh
# DESIGN §2.6 and §6 (request.retention): every table is bounded.
#   - A receiver answering 500 with 64 KiB of random bytes: at most 4 KiB of
#     each answer is stored.
#   - request.retention = 0 keeps everything.
#   - request.retention = 2s, applied by a daemon that does nothing else
#     (http, relays and consumers off: retention is its own switch):
#     finished requests go within a minute with their audit rows, delivery
#     attempts and idempotency keys; requests still on their way stay,
#     however old, with theirs.
#   - chargegatectl purge applies every policy now and says what it deleted.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

demo_setup
demo_authz_start --default allowed
demo_receiver_start
BIG_PORT=$(tl_free_port)
perl "$top_srcdir/tests/lib/bigbody.pl" "$BIG_PORT" 500 65536 >"$TL_DIR/bigbody.out" 2>&1 &
DEMO_PIDS="$DEMO_PIDS $!"	# stopped with the demo services
tl_poll 5 grep -q listening "$TL_DIR/bigbody.out" || tl_bail "the big-body receiver did not start"
BIG=http://127.0.0.1:$BIG_PORT/cb

# the circuit breaker would pause the failing receiver: every attempt should reach it
demo_e2e_daemon CHARGEGATE_REQUEST_RETENTION=0 CHARGEGATE_CALLBACK_RETRY_SCHEDULE=100ms \
	CHARGEGATE_CALLBACK_CIRCUIT_FAILURES=100 ||
	tl_bail "chargegated did not start"

# post N CALLBACK [IDEMPOTENCY-KEY-PREFIX]: N requests; their ids appended to $TL_DIR/ids
post() {
	for _i in $(seq "$1"); do
		if [ -n "${3:-}" ]; then
			tl_post /v1/charging-sessions "{\"station_id\":\"$DEMO_STATION\",\"driver_token\":\"tok$_i\",\"callback_url\":\"$2\"}" \
				-H "Idempotency-Key: $3-$_i"
		else
			demo_request "tok$_i" "$2"
		fi
		[ "$TL_STATUS" = 202 ] || tl_bail "a POST was answered $TL_STATUS"
	done
}
# shellcheck disable=SC2317 # called through tl_poll
finished() {
	[ "$(tl_count charging_session_request "status not in ('delivered', 'delivery_failed') and driver_token not like 'old-%'")" = 0 ]
}
post 10 "$DEMO_RECEIVER/cb" ok
post 5 "$BIG" big
tl_check "15 requests finish: 10 delivered, 5 failed against the 64 KiB receiver" tl_poll 30 finished
tl_is "$(tl_count charging_session_request "status = 'delivery_failed'")" 5 "  5 of them delivery_failed"
tl_is "$(tl_sql "select count(*) || ' ' || max(octet_length(response_body)) from chargegate.callback_delivery_attempt where http_status = 500")" "10 4096" \
	"every 500 attempt stores the first 4096 bytes of its 64 KiB answer, no more"

# two requests still on their way, unchanged for a day: retention must keep them
tl_sql "
	insert into chargegate.charging_session_request (request_id, station_id, driver_token, callback_url, status,
	                                                 decision, created_at, updated_at)
	values ('00000000-0000-4000-8000-0000000000a1', '$DEMO_STATION', 'old-a', 'https://x.example/cb', 'accepted',
	        null, now() - interval '1 day', now() - interval '1 day'),
	       ('00000000-0000-4000-8000-0000000000a2', '$DEMO_STATION', 'old-b', 'https://x.example/cb', 'decided',
	        'allowed', now() - interval '1 day', now() - interval '1 day');
	insert into chargegate.authorization_audit (request_id, event_id, decision, created_at)
	values ('00000000-0000-4000-8000-0000000000a2', gen_random_uuid(), 'allowed', now() - interval '1 day');
	insert into chargegate.idempotency_key (key, request_id) values ('old-b', '00000000-0000-4000-8000-0000000000a2');
" >/dev/null || tl_bail "could not insert the unfinished requests"

counts() {
	tl_sql "select (select count(*) from chargegate.charging_session_request) || ' ' ||
	               (select count(*) from chargegate.authorization_audit) || ' ' ||
	               (select count(*) from chargegate.callback_delivery_attempt) || ' ' ||
	               (select count(*) from chargegate.idempotency_key)"
}
BEFORE=$(counts)
tl_is "$BEFORE" "17 16 20 16" "(requests, audit rows, attempts, idempotency keys before)"
# A daemon purging requests despite request.retention = 0 would do so in the
# rounds of its queue retention (both every 5 s from its start).  The marker:
# a published outbox row two days old, which the next queue round deletes;
# once it is gone and no purge is running any more, a round has come and gone.
MARKER=00000000-0000-4000-8000-0000000000b1
tl_sql "insert into chargegate.callback_retry_outbox (event_type, aggregate_id, payload, created_at, available_at, published_at)
        values ('CallbackRetryRequested', '$MARKER', '{}', now() - interval '2 days', now() - interval '2 days',
                now() - interval '2 days')" >/dev/null || tl_bail "could not insert the marker row"
# shellcheck disable=SC2317 # called through tl_poll
marker_purged() { [ "$(tl_count callback_retry_outbox "aggregate_id = '$MARKER'")" = 0 ]; }
# shellcheck disable=SC2317 # called through tl_poll
no_purge_running() {
	[ "$(tl_sql "select count(*) from pg_stat_activity
	              where pid <> pg_backend_pid() and state <> 'idle' and query like '%purge\_%'")" = 0 ]
}
if tl_poll 15 marker_purged && tl_poll 10 no_purge_running; then
	tl_ok "a retention round of the daemon runs meanwhile (it purges an old published outbox row)"
else
	tl_not_ok "a retention round of the daemon runs meanwhile (it purges an old published outbox row)"
fi
tl_is "$(counts)" "$BEFORE" "request.retention = 0 keeps every request"
CHARGEGATE_REQUEST_RETENTION=0 tl_run 30 "$TL_CTL" -c "$TL_CONF" purge
tl_is "$TL_RC" 0 "chargegatectl purge with request.retention = 0 exits 0"
tl_like "$(cat "$TL_DIR/run.out")" 'request.retention = 0: requests are kept' "  and says requests are kept"
tl_stop_daemon

# a daemon that only does retention
tl_start_role keeper CHARGEGATE_HTTP_ENABLED=false CHARGEGATE_RELAY_ENABLED=false CHARGEGATE_CONSUMERS_ENABLED=false \
	CHARGEGATE_REQUEST_RETENTION=2s || tl_bail "the retention-only daemon did not start"
tl_like "$(cat "$TL_DIR/keeper.log")" 'api off, relays off, consumers off, retention on' \
	"a daemon can run retention alone"
# shellcheck disable=SC2317 # called through tl_poll
gone() { [ "$(counts)" = "2 1 0 1" ]; }
if tl_poll 60 gone; then
	tl_ok "within a minute, the 15 finished requests are gone with their audit rows, attempts and keys"
else
	tl_not_ok "within a minute, the 15 finished requests are gone with their audit rows, attempts and keys" \
		"requests, audit, attempts, keys: $(counts)"
fi
tl_is "$(tl_sql "select string_agg(driver_token || ':' || status, ',' order by driver_token) from chargegate.charging_session_request")" \
	"old-a:accepted,old-b:decided" "the unfinished requests stay, however old"
tl_is "$(tl_count idempotency_key "key = 'old-b'")" 1 "  with their idempotency key and audit row"
# shellcheck disable=SC2154 # set by tl_start_role
kill "$keeper_pid"
tl_wait_exit "$keeper_pid" 15

# chargegatectl purge reports what it deleted
demo_e2e_daemon CHARGEGATE_REQUEST_RETENTION=0 || tl_bail "chargegated did not start again"
post 3 "$DEMO_RECEIVER/cb" again
tl_check "3 more requests are delivered" tl_poll 30 finished
tl_stop_daemon
# finished_aged: the finished requests last changed more than the 1 s
# retention ago (time is the stimulus: wait for it in the database)
# shellcheck disable=SC2317 # called through tl_poll
finished_aged() {
	[ "$(tl_count charging_session_request "status in ('delivered', 'delivery_failed')
	                                         and updated_at >= now() - interval '1 s'")" = 0 ]
}
tl_poll 10 finished_aged || tl_diag "the finished requests were not 1 s old after 10 s"
CHARGEGATE_REQUEST_RETENTION=1s tl_run 30 "$TL_CTL" -c "$TL_CONF" purge
tl_is "$TL_RC" 0 "chargegatectl purge exits 0"
OUT=$(cat "$TL_DIR/run.out")
tl_like "$OUT" '^request.retention \(1000 ms\)' "it names each policy"
tl_like "$OUT" 'charging_session_request +3 deleted' "  and counts the requests it deleted"
tl_like "$OUT" 'callback_delivery_attempt +3 deleted' "  and their attempts"
tl_like "$OUT" 'idempotency_key +3 deleted' "  and their keys"
tl_is "$(tl_count charging_session_request)" 2 "only the unfinished requests are left"

tl_done

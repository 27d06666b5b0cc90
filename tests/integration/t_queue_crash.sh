#!/bin/sh
# A consumer killed with kill -9 while it holds leases loses nothing
# (DESIGN §2.3): its leased batches become claimable when the lease (2 s)
# expires, another consumer takes them over, and every event is handled
# exactly once (tests/queue/cg-queue-worker --record writes each handled
# event into chargegate_test.handled in the settle transaction).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/queuetest.sh disable=SC1091
. "$top_srcdir/tests/lib/queuetest.sh"

N=30

qt_setup

# shellcheck disable=SC2317 # called through tl_poll
qw_leased_by() { [ "$(tl_sql "SELECT count(*) FROM chargegate.leases WHERE lease_owner LIKE '%:$1:%'")" -ge "$2" ]; }

# The relay makes batches of 10; the first consumer leases two of them
# (two claims of 10) and sits on them: its handler takes a minute.
qw_start relay --relay --batch 10 --poll 1000
qw_start doomed --subscription q --topic charging_session_request --record --batch 10 --batches 2 \
	--lease 2000 --handler-delay 60000 --poll 500
tl_poll 10 qw_subscribed q || tl_bail "the consumer did not create its subscription"
qw_publish "$N"

# shellcheck disable=SC2154 # set by qw_start
if tl_poll 10 qw_leased_by "$doomed_pid" 2; then
	# at once, while the leases are fresh
	kill -KILL "$doomed_pid"
	tl_ok "the first consumer leases two batches and is killed with SIGKILL"
else
	kill -KILL "$doomed_pid"
	tl_not_ok "the first consumer leases two batches and is killed with SIGKILL" \
		"leases: $(tl_sql "SELECT string_agg(lease_owner || ' ' || messages, ', ') FROM chargegate.leases")"
fi
killed_at=$(tl_sql "SELECT now()")
wait "$doomed_pid" 2>/dev/null
qw_forget "$doomed_pid"
# what it held, and until when
tl_sql "CREATE TABLE chargegate_test.doomed AS
	SELECT m.event_id, b.available_at AS expires_at
	  FROM chargegate.subscription_batch b CROSS JOIN LATERAL unnest(b.message_ids) AS u(id)
	  JOIN chargegate.topic_message m ON m.id = u.id
	 WHERE b.lease_owner LIKE '%:$doomed_pid:%'" >/dev/null
expires=$(tl_sql "SELECT max(expires_at) FROM chargegate_test.doomed")
tl_is "$(tl_sql "SELECT count(*) FROM chargegate_test.doomed")" 20 "its leases, on 20 of the $N messages, outlive it"
tl_is "$(qw_handled q)" 0 "the killed consumer handled nothing"

qw_start heir --subscription q --topic charging_session_request --record --batch 10 --lease 2000 --poll 500
if tl_poll 15 qw_handled_is q "$N"; then
	tl_ok "another consumer handles all $N events"
else
	tl_not_ok "another consumer handles all $N events" "handled: $(qw_handled q) after 15 s"
fi
tl_is "$(tl_sql "SELECT count(*) || ' ' || count(DISTINCT event_id) FROM chargegate_test.handled WHERE subscription = 'q'")" \
	"$N $N" "each event is recorded exactly once in chargegate_test.handled"
tl_is "$(tl_sql "SELECT count(*) FROM chargegate.charging_session_request_outbox o
                  WHERE NOT EXISTS (SELECT 1 FROM chargegate_test.handled h
                                     WHERE h.subscription = 'q' AND h.event_id = o.event_id)")" 0 \
	"no event of the outbox is lost"
tl_is "$(tl_sql "SELECT count(*) FROM chargegate_test.handled h JOIN chargegate_test.doomed d USING (event_id)
                  WHERE h.subscription = 'q' AND h.handled_at >= d.expires_at")" 20 \
	"the 20 messages the dead consumer held were handled after its lease expired"
tl_diag "killed at $killed_at, leases expired at $expires, last handled at $(tl_sql "SELECT max(handled_at) FROM chargegate_test.handled")"
tl_is "$(tl_sql "SELECT ready + leased + dead FROM chargegate.subscription_status WHERE subscription = 'q'")" 0 \
	"nothing is left ready, leased or dead"

# shellcheck disable=SC2154 # set by qw_start
kill -TERM "$heir_pid"
tl_wait_exit "$heir_pid" 10
qw_forget "$heir_pid"
tl_is "$TL_RC|$(cat "$TL_DIR/heir.out")" "0|handled $N relayed 0" "the second consumer handled all $N and exits 0"

tl_done

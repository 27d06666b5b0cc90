#!/bin/sh
# DESIGN §5, isolation: a slow, dead or hostile peer delays only its own
# work.  While callbacks pile up for a tarpit (accepts, never answers), a
# receiver that answers after 10 s and a port nobody listens on, and the
# authorization service hangs for some drivers, healthy requests keep
# flowing: each gets its callback within 1 s of its 202, and the drivers
# whose authorization hangs get "unknown" within authorization.timeout
# + 1 s.  The dead destination's circuit opens (log, /metrics), no request
# becomes delivery_failed sooner than its retry schedule would make it, and
# no work is repeated because a lease ran out.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

AUTHZ_TIMEOUT_MS=1000
TARPIT_N=300
SLOW_N=40
DEAD_N=40
HANG_N=30
HEALTHY_N=40
SLOTS=8			# callback.per_destination_concurrency

demo_setup
printf 'hang * hangToken\n' >"$TL_DIR/rules.txt"
demo_authz_start --default allowed --rules "$TL_DIR/rules.txt"
demo_receiver_start
HEALTHY=$DEMO_RECEIVER
demo_receiver_start --delay 10000
SLOW=$DEMO_RECEIVER
demo_tarpit_start
DEAD=http://127.0.0.1:$(tl_free_port)
demo_e2e_daemon CHARGEGATE_AUTHORIZATION_TIMEOUT=${AUTHZ_TIMEOUT_MS}ms CHARGEGATE_CALLBACK_TIMEOUT=5s \
	CHARGEGATE_CALLBACK_RETRY_SCHEDULE=5s,5s CHARGEGATE_CALLBACK_CIRCUIT_COOLDOWN=30s \
	CHARGEGATE_CALLBACK_PER_DESTINATION_CONCURRENCY=$SLOTS \
	CHARGEGATE_QUEUE_POLL_INTERVAL=100ms || tl_bail "chargegated did not start"

# --- the bad traffic first ---------------------------------------------------------------
: >"$TL_DIR/posts.txt"
DEMO_POST_FIRST=100000 demo_post_many "$TARPIT_N" 16 "$DEMO_TARPIT/cb" "$TL_BASE_URL"
DEMO_POST_FIRST=200000 demo_post_many "$SLOW_N" 16 "$SLOW/cb" "$TL_BASE_URL"
DEMO_POST_FIRST=300000 demo_post_many "$DEAD_N" 16 "$DEAD/cb" "$TL_BASE_URL"
bad=$(grep -c '^202 ' "$TL_DIR/posts.txt")
tl_is "$bad" $((TARPIT_N + SLOW_N + DEAD_N)) "$bad requests for the tarpit, the slow receiver and the dead port are accepted"
# the hanging authorizations, in parallel, while the healthy requests start
i=1
hang_pids=
while [ "$i" -le "$HANG_N" ]; do
	curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' -H 'Expect:' --max-time 10 \
		-d "{\"station_id\":\"$DEMO_STATION\",\"driver_token\":\"hangToken\",\"callback_url\":\"$HEALTHY/cb\"}" \
		"$TL_BASE_URL/v1/charging-sessions" >>"$TL_DIR/hang.codes" &
	hang_pids="$hang_pids $!"
	i=$((i + 1))
done
# the tarpit's slots are taken, and the slow receiver's: the daemon holds as
# many connections to each as it may (their first timeouts are 5 s away)
connections_to() { ss -Htn state established "dport = :${1##*:}" | wc -l; }
# shellcheck disable=SC2317 # called through tl_poll
slots_taken() { [ "$(connections_to "$DEMO_TARPIT")" -ge "$SLOTS" ] && [ "$(connections_to "$SLOW")" -ge "$SLOTS" ]; }
tl_poll 10 slots_taken ||
	tl_diag "after 10 s the daemon holds $(connections_to "$DEMO_TARPIT") connections to the tarpit, $(connections_to "$SLOW") to the slow receiver"

# --- healthy requests, one every 100 ms, while the bad work is stuck ---------------------------
: >"$TL_DIR/healthy.txt"
i=1
while [ "$i" -le "$HEALTHY_N" ]; do
	t0=$(tl_now_ms)	# before the POST: the latency measured includes the 202's own
	demo_request "healthyToken$i" "$HEALTHY/healthy"
	printf '%s %s\n' "$DEMO_RID" "$t0" >>"$TL_DIR/healthy.txt"
	sleep 0.1	# the pace of the healthy traffic (time is the stimulus here, nothing to wait for)
	i=$((i + 1))
done
tl_is "$(awk '$1 != "" { n++ } END { print n + 0 }' "$TL_DIR/healthy.txt")" "$HEALTHY_N" "$HEALTHY_N healthy requests are accepted"
for p in $hang_pids; do wait "$p"; done
tl_is "$(grep -c '^202$' "$TL_DIR/hang.codes")" "$HANG_N" "$HANG_N requests whose authorization hangs are accepted"

# shellcheck disable=SC2317 # called through tl_poll
healthy_done() {
	[ "$(tl_sql "select count(*) from chargegate.charging_session_request
	              where driver_token like 'healthyToken%' and status = 'delivered'")" = "$HEALTHY_N" ]
}
tl_poll 10 healthy_done || tl_diag "not every healthy request was delivered within 10 s"
demo_received "$HEALTHY"
# each healthy request: ms from its 202 to its callback at the receiver
perl -MJSON::PP -e '
	open(my $fh, "<:raw", $ARGV[1]) or die; local $/; my $all = decode_json(<$fh>); close $fh;
	my %at;
	for (@$all) { my $r = ref $_->{body} eq "HASH" ? $_->{body}{request_id} : ""; $at{$r} //= $_->{received_at_ms} }
	open($fh, "<", $ARGV[0]) or die; local $/ = "\n";
	while (<$fh>) { my ($rid, $t) = split; print defined $at{$rid} ? $at{$rid} - $t : "missing", "\n" }
' "$TL_DIR/healthy.txt" "$TL_DIR/received.json" >"$TL_DIR/latency.txt"
worst=$(sort -n "$TL_DIR/latency.txt" | tail -n 1)
median=$(sort -n "$TL_DIR/latency.txt" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
tl_diag "healthy accept -> callback: median ${median} ms, worst ${worst} ms"
if grep -q missing "$TL_DIR/latency.txt"; then
	tl_not_ok "every healthy request gets its callback within 1 s" "$(grep -c missing "$TL_DIR/latency.txt") had none"
elif [ "$worst" -le 1000 ]; then
	tl_ok "every healthy request gets its callback within 1 s (worst ${worst} ms)"
else
	tl_not_ok "every healthy request gets its callback within 1 s" "worst ${worst} ms, median ${median} ms"
fi

# --- the hanging authorizations ------------------------------------------------------------------
# shellcheck disable=SC2317 # called through tl_poll
hang_decided() {
	[ "$(tl_sql "select count(*) from chargegate.charging_session_request
	              where driver_token = 'hangToken' and decision = 'unknown'")" = "$HANG_N" ]
}
tl_poll 10 hang_decided || tl_diag "not every hanging authorization was decided within 10 s"
late=$(tl_sql "select count(*) from chargegate.authorization_audit a
                 join chargegate.charging_session_request r using (request_id)
                where r.driver_token = 'hangToken'
                  and a.created_at - r.created_at > make_interval(secs => ($AUTHZ_TIMEOUT_MS + 1000) / 1000.0)")
tl_is "$(tl_sql "select count(*) from chargegate.charging_session_request where driver_token = 'hangToken' and decision = 'unknown'")|$late" \
	"$HANG_N|0" "a hanging authorization is decided unknown within authorization.timeout + 1 s"
tl_like "$(tl_sql "select string_agg(distinct cause, ',') from chargegate.authorization_audit a
                   join chargegate.charging_session_request r using (request_id) where r.driver_token = 'hangToken'")" \
	'^timeout' "with the cause timeout"

# --- the breaker, the metrics, and no repeated work -------------------------------------------------
# shellcheck disable=SC2317 # called through tl_poll
dead_paused() { grep -q "callback destination: paused .* destination=http://127.0.0.1:${DEAD##*:}\( \|\$\)" "$TL_DAEMON_LOG"; }
tl_poll 10 dead_paused
tl_check "the dead port's circuit opens, and the log says so" dead_paused
curl -s "$TL_BASE_URL/metrics" >"$TL_DIR/metrics.txt"
metric() { awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { print s + 0 }' "$TL_DIR/metrics.txt"; }
tl_check "/metrics counts paused destinations" [ "$(metric chargegate_callback_destinations_paused)" -ge 1 ]
tl_check "/metrics counts postponed deliveries" [ "$(metric chargegate_callback_postponed_total)" -ge 1 ]
tl_is "$(metric chargegate_consumer_stale_acks_total)" 0 "no lease ran out under the load: nothing was done twice"
tl_is "$(tl_sql "select count(*) from (select a.request_id from chargegate.callback_delivery_attempt a
                  join chargegate.charging_session_request r using (request_id)
                 where r.callback_url like '$DEAD%'
                 group by 1 having count(*) > 3) x")" 0 \
	"no dead-port request was attempted more often than its retry schedule allows (3)"
# the schedule 5s,5s spans 10 s (at least 9 s with the jitter) from the decision to the final attempt
tl_is "$(tl_sql "select count(*) from chargegate.charging_session_request r
                  join chargegate.authorization_audit a using (request_id)
                  join chargegate.callback_delivery_attempt f on f.request_id = r.request_id and f.final
                 where r.status = 'delivery_failed' and f.created_at - a.created_at < interval '8.5 s'")" 0 \
	"no request became delivery_failed sooner than its retry schedule would have made it"
tl_is "$(tl_sql "select count(*) from (select webhook_id, attempt from chargegate.callback_delivery_attempt
                  group by 1, 2 having count(*) > 1) x")" 0 "no callback attempt was made twice"
tl_daemon_alive "the daemon is still running"
tl_stop_daemon
tl_done

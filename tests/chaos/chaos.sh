#!/bin/sh
# The chaos run (DESIGN §2): two daemons with every role under a steady load,
# one of them killed with kill -9 every CHAOS_KILL_EVERY seconds and started
# again, PostgreSQL crash-restarted (pg_ctl -m immediate) every
# CHAOS_PG_EVERY seconds, a receiver that flaps (down CHAOS_FLAP_DOWN
# seconds in every CHAOS_FLAP_PERIOD) and a tarpit (accepts, never answers).
# The clients retry each POST with its Idempotency-Key until they get a 202,
# as clients should.  At the end, with the chaos stopped:
#   - every accepted request (one per key) exists, and is delivered
#     (healthy and flapping receivers) or delivery_failed (the tarpit);
#   - none lost, each decided once;
#   - every callback a receiver got twice carries its original webhook-id.
# The closing diagnostic line gives requests, kills, restarts, lost and
# duplicates.  tests/integration/t_chaos.sh runs the short form in the test
# command; tests/chaos/run the long one.
#
# Environment: CHAOS_SECONDS (load duration, default 40), CHAOS_KILL_EVERY
# (default 3), CHAOS_PG_EVERY (default 15), CHAOS_RATE (requests a second,
# default 15), CHAOS_FLAP_PERIOD / CHAOS_FLAP_DOWN (default 5 / 1),
# CHAOS_SETTLE (seconds allowed to finish afterwards, default 90).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

SECONDS_=${CHAOS_SECONDS:-40}
KILL_EVERY=${CHAOS_KILL_EVERY:-3}
PG_EVERY=${CHAOS_PG_EVERY:-15}
RATE=${CHAOS_RATE:-15}
FLAP_PERIOD=${CHAOS_FLAP_PERIOD:-5}
FLAP_DOWN=${CHAOS_FLAP_DOWN:-1}
SETTLE=${CHAOS_SETTLE:-90}

demo_setup
demo_authz_start --default allowed --latency 5
demo_receiver_start
HEALTHY=$DEMO_RECEIVER HEALTHY_OUT=$DEMO_RECEIVER_OUT
FLAP_PORT=$(tl_free_port)
FLAP=http://127.0.0.1:$FLAP_PORT
FLAP_OUT=$TL_DIR/flap.out
demo_tarpit_start
: >"$FLAP_OUT"

# Every daemon: short timeouts and schedules, so that the tarpit's requests
# end delivery_failed within the run, and the flapping receiver is reached
# in one of its up phases.
DAEMON_ENV="CHARGEGATE_CONSUMERS_ENABLED=true CHARGEGATE_AUTHORIZATION_URL=$DEMO_AUTHZ_URL
	CHARGEGATE_AUTHORIZATION_TIMEOUT=2s CHARGEGATE_CALLBACK_TIMEOUT=1s
	CHARGEGATE_CALLBACK_RETRY_SCHEDULE=500ms,1s,2s,3s,5s CHARGEGATE_CALLBACK_ALLOW_PRIVATE_NETWORKS=true
	CHARGEGATE_CALLBACK_CIRCUIT_COOLDOWN=2s CHARGEGATE_QUEUE_POLL_INTERVAL=200ms CHARGEGATE_QUEUE_LEASE=3s
	CHARGEGATE_LOG_LEVEL=warning CHARGEGATE_ADMIN_LISTEN=off"
PORT_A=$(tl_free_port)
PORT_B=$(tl_free_port)

# start_daemon NAME PORT: (again) a daemon on PORT, log appended to NAME.log
start_daemon() {
	# shellcheck disable=SC2086 # blank-separated VAR=value words
	env $DAEMON_ENV CHARGEGATE_HTTP_LISTEN="127.0.0.1:$2" "$TL_DAEMON" -c "$TL_CONF" >>"$TL_DIR/$1.log" 2>&1 &
	eval "${1}_pid=$!"
	TL_DAEMON_PIDS="$TL_DAEMON_PIDS $!"
}
start_daemon a "$PORT_A"
start_daemon b "$PORT_B"
up() { curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$1/healthz"; }
tl_poll 10 up "$PORT_A" && tl_poll 10 up "$PORT_B" || tl_bail "the daemons did not start"

# --- the clients ------------------------------------------------------------------------
# client ID COUNT: COUNT requests, destinations healthy/flap/tarpit as 6/3/1;
# each POSTed with its own key until a 202, alternating between the daemons;
# "key request_id destination" lines in client.ID.txt
client() {
	_i=1
	while [ "$_i" -le "$2" ]; do
		case $((_i % 10)) in
		0) _dest=tarpit _url=$DEMO_TARPIT/cb ;;
		[123]) _dest=flap _url=$FLAP/cb ;;
		*) _dest=healthy _url=$HEALTHY/cb ;;
		esac
		_key=chaos-$1-$_i
		_tries=0
		while :; do
			_port=$PORT_A
			[ $(( (_tries + _i) % 2 )) = 1 ] && _port=$PORT_B
			_out=$(curl -s -w '\n%{http_code}' --max-time 5 -H 'Content-Type: application/json' -H 'Expect:' \
				-H "Idempotency-Key: $_key" \
				-d "{\"station_id\":\"$DEMO_STATION\",\"driver_token\":\"tok-$1-$_i\",\"callback_url\":\"$_url\"}" \
				"http://127.0.0.1:$_port/v1/charging-sessions" 2>/dev/null)
			_code=$(printf '%s\n' "$_out" | tail -n 1)
			if [ "$_code" = 202 ]; then
				_rid=$(printf '%s\n' "$_out" | sed -n 's/.*"request_id":"\([0-9a-f-]*\)".*/\1/p')
				echo "$_key $_rid $_dest" >>"$TL_DIR/client.$1.txt"
				break
			fi
			_tries=$((_tries + 1))
			echo "$_code" >>"$TL_DIR/client.$1.retries"
			sleep 0.1
		done
		_i=$((_i + 1))
		sleep "$(awk -v r="$RATE" 'BEGIN { printf "%.3f", 2 / r }')"
	done
}
PER_CLIENT=$((SECONDS_ * RATE / 2))
: >"$TL_DIR/client.1.txt"
: >"$TL_DIR/client.2.txt"
client 1 "$PER_CLIENT" &
c1=$!
client 2 "$PER_CLIENT" &
c2=$!

# --- the chaos ----------------------------------------------------------------------------
KILLS=0
RESTARTS=0
FLAPS=0
flap_pid=
t0=$(tl_now_ms)
next_kill=$((t0 + KILL_EVERY * 1000))
next_pg=$((t0 + PG_EVERY * 1000))
while tl_alive "$c1" || tl_alive "$c2"; do
	now=$(tl_now_ms)
	# the flapping receiver: up for FLAP_PERIOD - FLAP_DOWN seconds, then down
	phase=$(( (now - t0) / 1000 % FLAP_PERIOD ))
	if [ "$phase" -lt $((FLAP_PERIOD - FLAP_DOWN)) ]; then
		if [ -z "$flap_pid" ]; then
			"$DEMO_RECEIVER_BIN" --listen "127.0.0.1:$FLAP_PORT" >>"$FLAP_OUT" 2>>"$TL_DIR/flap.err" &
			flap_pid=$!
			DEMO_PIDS="$DEMO_PIDS $flap_pid"
		fi
	elif [ -n "$flap_pid" ]; then
		demo_stop "$flap_pid"
		flap_pid=
		FLAPS=$((FLAPS + 1))
	fi
	if [ "$now" -ge "$next_kill" ]; then
		if [ $((KILLS % 2)) = 0 ]; then victim=a port=$PORT_A; else victim=b port=$PORT_B; fi
		eval "vpid=\$${victim}_pid"
		# shellcheck disable=SC2154 # set by the eval
		kill -KILL "$vpid" 2>/dev/null
		wait "$vpid" 2>/dev/null
		KILLS=$((KILLS + 1))
		start_daemon "$victim" "$port"
		next_kill=$((now + KILL_EVERY * 1000))
	fi
	if [ "$now" -ge "$next_pg" ]; then
		pgcluster_kill "$TL_PGDIR"
		pgcluster_start "$TL_PGDIR" "$TL_PGPORT" >"$TL_DIR/pgcluster.out" 2>&1 ||
			tl_bail "PostgreSQL did not come back: $(cat "$TL_DIR/pgcluster.out")"
		RESTARTS=$((RESTARTS + 1))
		next_pg=$((now + PG_EVERY * 1000))
	fi
	sleep 0.2
done
[ -n "$flap_pid" ] || {
	"$DEMO_RECEIVER_BIN" --listen "127.0.0.1:$FLAP_PORT" >>"$FLAP_OUT" 2>>"$TL_DIR/flap.err" &
	flap_pid=$!
	DEMO_PIDS="$DEMO_PIDS $flap_pid"
}
tl_diag "load done after $(( ($(tl_now_ms) - t0) / 1000 )) s: $KILLS kills, $RESTARTS PostgreSQL crash-restarts, $FLAPS receiver flaps"

# --- the outcome ------------------------------------------------------------------------------
cat "$TL_DIR"/client.*.txt >"$TL_DIR/accepted.txt"
N=$(wc -l <"$TL_DIR/accepted.txt" | tr -d ' ')
tl_is "$N" $((2 * PER_CLIENT)) "every client request was accepted in the end (retried with its key)"
psql -qX -v ON_ERROR_STOP=1 -c 'create table public.accepted (key text primary key, request_id uuid, dest text)' \
	-c "\\copy public.accepted from '$TL_DIR/accepted.txt' with (delimiter ' ')" >/dev/null ||
	tl_bail "could not load the accepted requests"
unfinished() {
	tl_sql "select count(*) from public.accepted a left join chargegate.charging_session_request r using (request_id)
		 where r.status is null or r.status not in ('delivered', 'delivery_failed')"
}
# shellcheck disable=SC2317 # called through tl_poll
finished() { [ "$(unfinished)" = 0 ]; }
if tl_poll "$SETTLE" finished; then
	tl_ok "every accepted request reaches a final state"
else
	tl_not_ok "every accepted request reaches a final state" "$(unfinished) have not after $SETTLE s" \
		"$(tl_sql "select a.dest || ' ' || coalesce(r.status, 'MISSING') || ' ' || count(*) from public.accepted a
		           left join chargegate.charging_session_request r using (request_id)
		           group by a.dest, r.status order by 1" | paste -sd, -)"
fi
LOST=$(tl_sql "select count(*) from public.accepted a left join chargegate.charging_session_request r using (request_id)
		where r.request_id is null")
tl_is "$LOST" 0 "no accepted request is lost"
tl_is "$(tl_sql "select count(*) from chargegate.charging_session_request")" "$N" \
	"one request per Idempotency-Key: retried POSTs created nothing twice"
tl_is "$(tl_sql "select string_agg(dest || '=' || status, ',' order by dest) from (
		select a.dest, string_agg(distinct r.status, '/') as status from public.accepted a
		join chargegate.charging_session_request r using (request_id) group by 1) x")" \
	"flap=delivered,healthy=delivered,tarpit=delivery_failed" \
	"healthy and flapping receivers get their decisions, the tarpit's requests end delivery_failed"
tl_is "$(tl_sql "select count(*) from (select request_id from chargegate.authorization_audit group by 1 having count(*) > 1) x")" 0 \
	"each request was decided once"
# callbacks at the receivers: per request, one webhook-id however often delivered
cat "$HEALTHY_OUT" "$FLAP_OUT" >"$TL_DIR/callbacks.jsonl"
dup=$(perl -MJSON::PP -ne '
	my $e = eval { decode_json($_) } or next; next unless ref $e->{body};
	my $r = $e->{body}{request_id}; $n{$r}++; $w{$r}{$e->{webhook_id} // ""} = 1;
	END {
		my ($extra, $multi) = (0, 0);
		for (keys %n) { $extra += $n{$_} - 1; $multi++ if keys %{ $w{$_} } > 1 }
		print "$extra $multi\n";
	}' "$TL_DIR/callbacks.jsonl")
DUPS=${dup% *}
tl_is "${dup#* }" 0 "every duplicate callback carries its request's original webhook-id"
tl_is "$(tl_count dead_letters)" 0 "no dead letters"
tl_diag "chaos: $N requests, $KILLS kills (kill -9), $RESTARTS PostgreSQL crash-restarts, $FLAPS receiver flaps;" \
	"lost $LOST, duplicate callbacks $DUPS (all with their original webhook-id);" \
	"client retries $(cat "$TL_DIR"/client.*.retries 2>/dev/null | wc -l | tr -d ' ')"
tl_done

# shellcheck shell=sh
# demo.sh: the demo services (demo/README.md) and end-to-end helpers for
# chargegate's integration tests.  Source it after testlib.sh:
#
#   . "$top_srcdir/tests/lib/testlib.sh"
#   . "$top_srcdir/tests/lib/demo.sh"
#   demo_setup                     tl_setup, plus stopping the demo services
#                                  (and node receivers) on exit
#   demo_authz_start [OPTION…]     chargegate-demo-authz on a free port; sets
#                                  DEMO_AUTHZ_URL, DEMO_AUTHZ_PID, DEMO_AUTHZ_OUT
#   demo_receiver_start [OPTION…]  chargegate-demo-receiver on a free port; sets
#                                  DEMO_RECEIVER (http://127.0.0.1:PORT),
#                                  DEMO_RECEIVER_PORT, DEMO_RECEIVER_PID
#   demo_tarpit_start              tests/lib/tarpit.pl on a free port: accepts
#                                  and never answers; sets DEMO_TARPIT
#   demo_node_receiver_start       tests/webhooks/receiver.js (raw bodies and
#                                  all headers); sets NODE_RECEIVER, NODE_RECEIVER_PID
#   demo_stop PID                  SIGTERM one of them and wait
#   demo_received [BASE]           GET BASE/received into $TL_DIR/received.json
#                                  (default BASE: $DEMO_RECEIVER)
#   demo_received_count [BASE]     how many callbacks BASE got
#   demo_e2e_daemon [VAR=value…]   tl_start_daemon with consumers on, the demo
#                                  authorization service and short timings
#   demo_request TOKEN CALLBACK_URL [STATION]   POST a request; sets DEMO_RID
#   demo_wait_status RID STATUS SECONDS   poll the request's status (SQL)
#                                  until it is STATUS
#   demo_decision_sql RID URL      SQL writing an allowed decision for RID (request
#                                  row and outbox event), for tl_sql
#   demo_field RID COLUMN          a column of chargegate.charging_session_request
#   demo_entries RID [FILE]        the receiver's callbacks for RID
#   demo_post_many N PARALLEL CALLBACK_URL BASE_URL…   POST N requests at once
#   demo_missing FILE              accepted request ids without a callback
#   demo_duplicates                duplicate callbacks, as a sentence
#
# The services log to $TL_DIR/demo-*.N.{out,err}; testlib's cleanup removes
# the directory.  demo_setup wraps testlib's EXIT trap: the services are
# stopped first, then testlib cleans up as before, with the same exit status.

# the variables set here are read by the test scripts
# shellcheck disable=SC2034,SC2154 # (top_builddir comes from testlib.sh)

DEMO_AUTHZ_BIN=$top_builddir/demo/chargegate-demo-authz
DEMO_RECEIVER_BIN=$top_builddir/demo/chargegate-demo-receiver
DEMO_PIDS=
DEMO_N=0
DEMO_AUTHZ_URL=
DEMO_AUTHZ_PID=
DEMO_AUTHZ_OUT=
DEMO_RECEIVER=
DEMO_RECEIVER_PORT=
DEMO_RECEIVER_PID=
DEMO_RECEIVER_OUT=
NODE_RECEIVER=
NODE_RECEIVER_PID=
DEMO_TARPIT=
DEMO_RID=
DEMO_STATION=123e4567-e89b-12d3-a456-426614174000

demo__cleanup() {
	for _dp in $DEMO_PIDS; do
		kill -TERM "$_dp" 2>/dev/null
	done
	for _dp in $DEMO_PIDS; do
		tl_alive "$_dp" && tl_wait_exit "$_dp" 5
	done
	DEMO_PIDS=
}

demo_setup() {
	[ -x "$DEMO_AUTHZ_BIN" ] || tl_bail "$DEMO_AUTHZ_BIN is not built (top_builddir=$top_builddir)"
	[ -x "$DEMO_RECEIVER_BIN" ] || tl_bail "$DEMO_RECEIVER_BIN is not built (top_builddir=$top_builddir)"
	tl_setup
	# run before testlib's own cleanup; "(exit N)" hands it the status to keep
	# shellcheck disable=SC2154 # _demo_rc is set in the trap itself
	trap '_demo_rc=$?; demo__cleanup; (exit "$_demo_rc"); tl__cleanup' EXIT
}

# demo__start NAME PORT-CHECK COMMAND…: start COMMAND (its "@PORT@" words
# replaced by a free port) in the background, stdout in $_out, stderr in
# $_err; retried with another port when the port was taken meanwhile.  Sets
# _pid and _port.  PORT-CHECK: "port" (listening) or a URL path to GET.
demo__start() {
	_name=$1 _check=$2
	shift 2
	for _try in 1 2 3; do
		_port=$(tl_free_port)
		_cmd=
		for _w in "$@"; do
			case $_w in *@PORT@*) _w=$(printf '%s' "$_w" | sed "s/@PORT@/$_port/g") ;; esac
			_cmd="$_cmd '$(printf '%s' "$_w" | sed "s/'/'\\\\''/g")'"
		done
		eval "exec $_cmd" >"$_out" 2>"$_err" &
		_pid=$!
		DEMO_PIDS="$DEMO_PIDS $_pid"
		if demo__wait "$_name" "$_check" "$_port" "$_pid"; then
			return 0
		fi
		if [ "$_try" = 3 ] || ! grep -Eqi 'address already in use|could not bind|EADDRINUSE' "$_err"; then
			tl_diag "$_name:"
			tl_diag_file "$_err"
			tl_bail "$_name did not start"
		fi
		tl_diag "$_name: port $_port was taken meanwhile: trying another one"
	done
}

# demo__wait NAME CHECK PORT PID: 0 when up within 5 s, 1 when it exited
# (bails when it neither exits nor comes up)
demo__wait() {
	_dl=$(( $(tl_now_ms) + 5000 ))
	while :; do
		tl_alive "$4" || return 1
		if [ "$2" = port ]; then
			ss -Htln "sport = :$3" 2>/dev/null | grep -q . && return 0
		else
			_c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$3$2" 2>/dev/null)
			[ "$_c" = 200 ] && return 0
		fi
		[ "$(tl_now_ms)" -ge "$_dl" ] && tl_bail "$1 does not answer on port $3 within 5 s"
		sleep 0.05
	done
}

# shellcheck disable=SC2120 # the options are optional
demo_authz_start() {
	DEMO_N=$((DEMO_N + 1))
	DEMO_AUTHZ_OUT=$TL_DIR/demo-authz.$DEMO_N.out
	_out=$DEMO_AUTHZ_OUT _err=$TL_DIR/demo-authz.$DEMO_N.err
	# --latency delays the service's /healthz too: wait for the port
	demo__start chargegate-demo-authz port "$DEMO_AUTHZ_BIN" --listen "127.0.0.1:@PORT@" "$@"
	DEMO_AUTHZ_PID=$_pid
	DEMO_AUTHZ_URL=http://127.0.0.1:$_port/authorize
}

# shellcheck disable=SC2120 # the options are optional
demo_receiver_start() {
	DEMO_N=$((DEMO_N + 1))
	DEMO_RECEIVER_OUT=$TL_DIR/demo-receiver.$DEMO_N.out
	_out=$DEMO_RECEIVER_OUT _err=$TL_DIR/demo-receiver.$DEMO_N.err
	demo__start chargegate-demo-receiver /healthz "$DEMO_RECEIVER_BIN" --listen "127.0.0.1:@PORT@" "$@"
	DEMO_RECEIVER_PID=$_pid
	DEMO_RECEIVER_PORT=$_port
	DEMO_RECEIVER=http://127.0.0.1:$_port
}

demo_tarpit_start() {
	DEMO_N=$((DEMO_N + 1))
	_out=$TL_DIR/tarpit.$DEMO_N.out _err=$TL_DIR/tarpit.$DEMO_N.err
	demo__start "the tarpit" port perl "$top_srcdir/tests/lib/tarpit.pl" @PORT@
	DEMO_TARPIT=http://127.0.0.1:$_port
}

# demo_node_receiver_start: tests/webhooks/receiver.js, which keeps every
# callback's headers and raw body (GET /received)
demo_node_receiver_start() {
	DEMO_N=$((DEMO_N + 1))
	_out=$TL_DIR/node-receiver.$DEMO_N.out _err=$TL_DIR/node-receiver.$DEMO_N.err
	demo__start "the node receiver" /healthz node "${DEMO_WEBHOOKS_DIR:-$top_srcdir/tests/webhooks}/receiver.js" \
		127.0.0.1 @PORT@
	NODE_RECEIVER_PID=$_pid
	NODE_RECEIVER=http://127.0.0.1:$_port
}

demo_stop() {
	kill -TERM "$1" 2>/dev/null
	tl_wait_exit "$1" 5
	_left=
	for _dp in $DEMO_PIDS; do [ "$_dp" = "$1" ] || _left="$_left $_dp"; done
	DEMO_PIDS=$_left
}

demo_received() {
	curl -sS --max-time 10 -o "$TL_DIR/received.json" "${1:-$DEMO_RECEIVER}/received" 2>"$TL_DIR/curl.err" ||
		echo '[]' >"$TL_DIR/received.json"
}

demo_received_count() {
	demo_received "$@"
	tl_json '#' "$TL_DIR/received.json"
}

# demo_e2e_daemon [VAR=value…]: consumers on, the demo authorization service
# ($DEMO_AUTHZ_URL), loopback callbacks allowed, short timings; the
# assignments given win
# shellcheck disable=SC2120 # the settings are optional
demo_e2e_daemon() {
	tl_start_daemon CHARGEGATE_CONSUMERS_ENABLED=true \
		CHARGEGATE_AUTHORIZATION_URL="$DEMO_AUTHZ_URL" \
		CHARGEGATE_AUTHORIZATION_TIMEOUT=2s \
		CHARGEGATE_CALLBACK_TIMEOUT=2s \
		CHARGEGATE_CALLBACK_RETRY_SCHEDULE=200ms,400ms \
		CHARGEGATE_CALLBACK_ALLOW_PRIVATE_NETWORKS=true \
		CHARGEGATE_QUEUE_POLL_INTERVAL=100ms \
		CHARGEGATE_QUEUE_LEASE=5s \
		"$@"
}

# demo_request TOKEN CALLBACK_URL [STATION]: POST a request, sets DEMO_RID
# (empty unless the answer was 202)
demo_request() {
	tl_post /v1/charging-sessions \
		"{\"station_id\":\"${3:-$DEMO_STATION}\",\"driver_token\":$(tl_json_str "$1"),\"callback_url\":$(tl_json_str "$2")}"
	DEMO_RID=
	if [ "$TL_STATUS" = 202 ]; then
		DEMO_RID=$(tl_json request_id) || DEMO_RID=
	fi
}

# demo_decision_sql RID CALLBACK_URL: the SQL that writes an allowed decision
# for RID as another session (or an older version) would: the request row,
# decided, and its AuthorizationDecisionCallback in the outbox (no NOTIFY)
demo_decision_sql() {
	printf "%s\n" "
	insert into chargegate.charging_session_request (request_id, station_id, driver_token, callback_url, status, decision)
	values ('$1', '$DEMO_STATION', 'tok', '$2', 'decided', 'allowed');
	insert into chargegate.authorization_decision_callback_outbox (event_type, aggregate_id, payload)
	values ('AuthorizationDecisionCallback', '$1', jsonb_build_object('request_id', '$1', 'station_id', '$DEMO_STATION',
	        'driver_token', 'tok', 'status', 'allowed', 'callback_url', '$2'));"
}

demo_field() {
	tl_sql "select $2 from chargegate.charging_session_request where request_id::text = :'rid'" -v rid="$1"
}

# demo_wait_status RID STATUS SECONDS: poll the request's status (SQL) until it
# is STATUS; returns 1 when SECONDS pass first
demo__status_is() {
	[ "$(demo_field "$1" status)" = "$2" ]
}
demo_wait_status() {
	tl_poll "$3" demo__status_is "$1" "$2"
}

# demo_entries RID [FILE]: the receiver's entries (from demo_received's file,
# or FILE) whose body.request_id is RID, as a JSON array in $TL_DIR/entries.json
demo_entries() {
	perl -MJSON::PP -e '
		my ($rid, $file) = @ARGV;
		open(my $fh, "<:raw", $file) or die "$file: $!\n";
		local $/; my $all = decode_json(<$fh>);
		my @e = grep { ref $_->{body} eq "HASH" && ($_->{body}{request_id} // "") eq $rid } @$all;
		print JSON::PP->new->canonical->encode(\@e);
	' "$1" "${2:-$TL_DIR/received.json}" >"$TL_DIR/entries.json"
}

# demo_post_many N PARALLEL CALLBACK_URL BASE_URL…: POST N requests, PARALLEL at
# a time (one curl --parallel), round-robin over the BASE_URLs (each
# http://host:port), with driver tokens load-F … load-(F+N-1), F being
# $DEMO_POST_FIRST (default 1).  Appends "CODE REQUEST_ID" lines (REQUEST_ID
# "-" without a 202; CODE 000: no answer) to $TL_DIR/posts.txt.
demo_post_many() {
	_n=$1 _par=$2 _cb=$3
	shift 3
	_pd=$TL_DIR/posts
	mkdir -p "$_pd"
	_i=${DEMO_POST_FIRST:-1}
	_last=$((_i + _n - 1))
	while [ "$_i" -le "$_last" ]; do
		_k=$(( (_i - 1) % $# + 1 ))
		eval "_base=\${$_k}"
		# shellcheck disable=SC2154 # _base is set by the eval
		[ "$_i" -eq "${DEMO_POST_FIRST:-1}" ] || echo next
		cat <<CFG
url = "$_base/v1/charging-sessions"
header = "Content-Type: application/json"
header = "Expect:"
data-binary = "{\\"station_id\\":\\"$DEMO_STATION\\",\\"driver_token\\":\\"load-$_i\\",\\"callback_url\\":\\"$_cb\\"}"
output = "$_pd/$_i.body"
max-time = 15
write-out = "%{http_code} $_i\\n"
CFG
		_i=$((_i + 1))
	done >"$TL_DIR/posts.curlrc"
	curl -sS --no-progress-meter --parallel --parallel-max "$_par" -K "$TL_DIR/posts.curlrc" >"$TL_DIR/posts.codes" 2>>"$TL_DIR/posts.err"
	perl -e '
		my $dir = shift;
		while (<STDIN>) {
			my ($code, $i) = split;
			my $rid = "-";
			if ($code eq "202" && open(my $fh, "<", "$dir/$i.body")) {
				local $/; my $b = <$fh>;
				$rid = $1 if $b =~ /"request_id"\s*:\s*"([0-9a-fA-F-]{36})"/;
			}
			print "$code $rid\n";
		}
	' "$_pd" <"$TL_DIR/posts.codes" >>"$TL_DIR/posts.txt"
}

# demo_missing FILE: of the request ids in FILE (one a line), those that the
# receiver (demo_received's file) got no callback for, one a line
demo_missing() {
	perl -MJSON::PP -e '
		open(my $fh, "<:raw", $ARGV[1]) or die; local $/; my $all = decode_json(<$fh>); close $fh;
		my %seen = map { ((ref $_->{body} eq "HASH" ? $_->{body}{request_id} : "") // "" => 1) } @$all;
		open($fh, "<", $ARGV[0]) or die; local $/ = "\n";
		while (my $id = <$fh>) { chomp $id; print "$id\n" if length $id && !$seen{$id} }
	' "$1" "$TL_DIR/received.json"
}

# demo_duplicates: callbacks beyond the first per webhook-id and per request
# in the receiver's list: "N extra deliveries over M webhook-ids, K requests
# with more than one webhook-id"
demo_duplicates() {
	perl -MJSON::PP -e '
		open(my $fh, "<:raw", $ARGV[0]) or die; local $/; my $all = decode_json(<$fh>);
		my (%w, %r);
		for (@$all) { $w{$_->{webhook_id} // ""}++; $r{ref $_->{body} eq "HASH" ? $_->{body}{request_id} : ""}{$_->{webhook_id} // ""} = 1 }
		my ($extra, $ids) = (0, 0);
		for (values %w) { if ($_ > 1) { $extra += $_ - 1; $ids++ } }
		my $multi = grep { keys %{ $r{$_} } > 1 } keys %r;
		print "$extra extra deliveries over $ids webhook-ids, $multi requests with more than one webhook-id\n";
	' "$TL_DIR/received.json"
}

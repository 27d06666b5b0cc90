#!/bin/sh
# Configuration errors (DESIGN §6): unknown sections and keys and malformed
# values stop chargegated and chargegatectl at start with FILE:LINE: and the
# reason; a malformed environment override names its variable; the environment
# overrides the file; --help-config lists every documented key.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"

tl_setup

# run_daemon [VAR=value…] [-- ARGS…]: chargegated in the foreground, on a
# port of its own, stopped after 10 s if it does not exit by itself
run_daemon() {
	_env=
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		_env="$_env $1"
		shift
	done
	[ "${1:-}" = -- ] && shift
	# shellcheck disable=SC2086 # the assignments contain no blanks
	tl_run 10 env CHARGEGATE_HTTP_LISTEN="127.0.0.1:$(tl_free_port)" CHARGEGATE_ADMIN_LISTEN=off \
		CHARGEGATE_CONSUMERS_ENABLED=false $_env "$TL_DAEMON" "$@"
}

# rejected NAME NEEDLE: the last run failed (not by the time limit) and its
# stderr contains NEEDLE
rejected() {
	if ! tl_failed; then
		if [ "$TL_RC" -eq 0 ]; then why="it exited 0"; else why="it was still running after 10 s"; fi
		tl_not_ok "$1" "expected a start-up error, but $why; stderr:" "$(tail -n 5 "$TL_DIR/run.err")"
	elif ! grep -qF -- "$2" "$TL_DIR/run.err"; then
		tl_not_ok "$1" "exit status $TL_RC, but stderr does not contain '$2'; stderr:" \
			"$(tail -n 5 "$TL_DIR/run.err")"
	else
		tl_ok "$1"
	fi
}

# --- command line ------------------------------------------------------------------------
run_daemon -- --version
tl_is "$TL_RC" 0 "chargegated --version exits 0"
tl_like "$(cat "$TL_DIR/run.out" "$TL_DIR/run.err")" '[0-9]+\.[0-9]+\.[0-9]+' "--version prints a version number"
run_daemon -- --help
tl_is "$TL_RC" 0 "chargegated --help exits 0"
for opt in '-c, --config FILE' '--help-config' '-V, --version' '-h, --help'; do
	tl_check "--help describes $opt" grep -qF -- "$opt" "$TL_DIR/run.out"
done
run_daemon -- --no-such-option
rejected "an unknown option is rejected and named" --no-such-option

run_daemon -- --help-config
tl_is "$TL_RC" 0 "chargegated --help-config exits 0"
# every section.key the output mentions, either as INI ([section] + key =, maybe
# commented out) or spelt section.key
awk '
	{ line = $0; sub(/^[[:space:]#;]+/, "", line) }
	line ~ /^\[[A-Za-z0-9_]+\]/ { sec = line; sub(/^\[/, "", sec); sub(/\].*/, "", sec); next }
	line ~ /^[A-Za-z0-9_]+[[:space:]]*=/ { k = line; sub(/[[:space:]]*=.*/, "", k); print sec "." k }
	{ s = $0; while (match(s, /[a-z_]+\.[a-z_]+/)) { print substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH) } }
' "$TL_DIR/run.out" | sort -u >"$TL_DIR/keys"
for k in database.url http.listen authorization.url authorization.timeout callback.timeout \
	callback.retry_schedule callback.signing_secret callback.allow_private_networks \
	queue.lease queue.poll_interval queue.max_attempts queue.retention transport.kind \
	kafka.bootstrap_servers kafka.topic_prefix log.level log.format admin.listen \
	callback.failure_url; do
	tl_check "--help-config lists $k" grep -qx "$k" "$TL_DIR/keys"
done

# --- a valid file; the environment overrides it -------------------------------------------------
P1=$(tl_free_port)
GOOD=$TL_DIR/good.conf
cat >"$GOOD" <<EOF
# chargegate test configuration
; comments in both styles

[log]
level = debug
format = text

[http]
listen = 127.0.0.1:$P1

[queue]
lease = 30s
poll_interval = 250ms
EOF
SAVED_CONF=$TL_CONF
TL_CONF=$GOOD
if tl_start_daemon; then
	tl_ok "chargegated starts with a valid file"
	tl_http GET /healthz
	tl_status 200 "CHARGEGATE_HTTP_LISTEN overrides http.listen from the file"
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$P1/healthz")
	tl_is "$code" 000 "nothing listens on the file's http.listen"
	tl_stop_daemon
fi
TL_CONF=$SAVED_CONF

# --- files with errors: FILE:LINE: on stderr ------------------------------------------------------
# bad_file NAME LINE NEEDLE CONTENT: chargegated -c FILE fails with "FILE:LINE:"
# and NEEDLE on stderr; chargegatectl -c FILE migrate fails the same way
n=0
bad_file() {
	n=$((n + 1))
	f=$TL_DIR/bad$n.conf
	printf '%s\n' "$4" >"$f"
	run_daemon -- -c "$f"
	rejected "chargegated rejects $1 with $f:$2:" "$f:$2:"
	[ -n "$3" ] && { grep -qF -- "$3" "$TL_DIR/run.err" || tl_diag "(the message does not mention '$3')"; }
	tl_run 10 "$TL_CTL" -c "$f" migrate
	rejected "chargegatectl rejects $1 with $f:$2:" "$f:$2:"
}
bad_file "an unknown key" 3 no_such_key "[http]
listen = 127.0.0.1:8080
no_such_key = 1"
bad_file "an unknown section" 2 no_such_section "# comment
[no_such_section]
key = 1"
bad_file "a malformed duration" 3 soon "[queue]
poll_interval = 1s
lease = soon"
bad_file "a duration without a unit" 2 timeout "[authorization]
timeout = 3"
bad_file "a malformed boolean" 2 maybe "[callback]
allow_private_networks = maybe"
bad_file "a failure_url that is not an http URL" 3 "ftp://ops.example" "[callback]
timeout = 2s
failure_url = ftp://ops.example/failed"
bad_file "a malformed integer" 2 ten "[queue]
max_attempts = ten"
bad_file "an unknown log level" 4 loud "[http]

[log]
level = loud"
bad_file "a line that is not key = value" 2 "" "[http]
this is not a setting"
bad_file "an unterminated section header" 1 "" "[http
listen = 127.0.0.1:8080"
bad_file "a key outside any section" 1 "" "listen = 127.0.0.1:8080"

run_daemon -- -c "$TL_DIR/no-such.conf"
rejected "a missing config file is rejected and named" "$TL_DIR/no-such.conf"

# --- environment overrides with errors: the variable is named ----------------------------------------
for a in CHARGEGATE_LOG_LEVEL=loud CHARGEGATE_QUEUE_LEASE=soon CHARGEGATE_AUTHORIZATION_TIMEOUT=3 \
	CHARGEGATE_CALLBACK_ALLOW_PRIVATE_NETWORKS=maybe CHARGEGATE_QUEUE_MAX_ATTEMPTS=ten \
	CHARGEGATE_INGEST_BATCH_WAIT=fast; do
	var=${a%%=*}
	run_daemon "$a" -- -c "$TL_CONF"
	rejected "chargegated rejects $a and names $var" "$var"
done
tl_run 10 env CHARGEGATE_LOG_LEVEL=loud "$TL_CTL" -c "$TL_CONF" migrate
rejected "chargegatectl rejects CHARGEGATE_LOG_LEVEL=loud and names the variable" CHARGEGATE_LOG_LEVEL
run_daemon CHARGEGATE_LOG_LEVEL=loud -- -c "$GOOD"
rejected "a malformed override of a valid file value is rejected" CHARGEGATE_LOG_LEVEL

# --- admin.listen: a malformed one stops the start (a busy one does not: t_admin_page.sh) ------------------
run_daemon CHARGEGATE_ADMIN_LISTEN=no-port -- -c "$TL_CONF"
rejected "chargegated refuses an admin.listen that is not host:port and names the key" \
	'admin.listen: invalid listen address "no-port"'

# --- chargegatectl command line --------------------------------------------------------------------------
tl_run 10 "$TL_CTL" -c "$TL_CONF" no-such-command
rejected "chargegatectl rejects an unknown command and names it" no-such-command

tl_done

# shellcheck shell=sh
# testlib.sh: helpers for chargegate's integration tests (POSIX sh).
#
#   : "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
#   . "$top_srcdir/tests/lib/testlib.sh"
#   tl_setup                       temp dir, cleanup trap, cluster, migrate
#                                  (TL_MIGRATE=no before tl_setup: no migrate)
#   tl_start_daemon [VAR=value…]   chargegated on a free port, waits for /healthz
#   tl_start_role NAME [VAR=value…]  chargegated with some roles off (no API:
#                                  waits for its log line instead)
#   tl_http METHOD PATH [curl options…]   sets TL_STATUS, TL_HDRS, TL_BODY
#   tl_post PATH BODY [curl options…]     POST with Content-Type: application/json
#   tl_json PATH [FILE]            prints a JSON value (default FILE: $TL_BODY)
#   tl_sql SQL [psql options…]     psql -tAX; tl_count TABLE [WHERE…]
#   tl_ok/tl_not_ok/tl_is/tl_like/tl_check, tl_problem, tl_bad_request
#   tl_stop_daemon                 SIGTERM, expects exit status 0
#   tl_done                        summary; exit status 1 on any failure
#
# Output is TAP-like: "ok N - name" / "not ok N - name", diagnostics as "# …".
# Environment: top_srcdir, top_builddir (set by make check; default: the
# source tree), TL_KEEP=1 keeps the temporary directory, TL_START_TIMEOUT
# (seconds, default 10), TL_LOG_LEVEL sets CHARGEGATE_LOG_LEVEL,
# TL_DAEMON_ENV (blank-separated VAR=value words) goes to every chargegated
# before the test's own settings (t_kafka.sh runs the end-to-end suite with
# transport.kind = kafka through it).

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
# byte-order sorting and plain messages, whatever the caller's locale
LC_ALL=C
export LC_ALL

# shellcheck source=pgcluster.sh source-path=SCRIPTDIR disable=SC1091
. "$top_srcdir/tests/lib/pgcluster.sh"

TL_DAEMON=$top_builddir/src/chargegated
TL_CTL=$top_builddir/src/chargegatectl
TL_NAME=$(basename "$0" .sh)
TL_N=0
TL_PASS=0
TL_FAIL=0
TL_DIR=
TL_CONF=
TL_PGDIR=
TL_PGPORT=
TL_CLUSTERS=
TL_DAEMON_PID=
TL_DAEMON_PIDS=
TL_DAEMON_LOG=
TL_DAEMON_N=0
TL_BASE_URL=
TL_STATUS=
TL_HDRS=
TL_BODY=
TL_LAST_REQUEST=
TL_RC=

# --- output ---------------------------------------------------------------------

tl_diag() {
	printf '%s\n' "$*" | sed 's/^/# /'
}

# tl_diag_file FILE [LINES]: the tail of FILE as diagnostics
tl_diag_file() {
	[ -s "$1" ] || { tl_diag "($1 is empty)"; return 0; }
	tail -n "${2:-20}" "$1" | sed 's/^/#   /'
}

tl__daemon_tail() {
	[ -n "$TL_DAEMON_LOG" ] && [ -f "$TL_DAEMON_LOG" ] || return 0
	tl_diag "last lines of the daemon log $(basename "$TL_DAEMON_LOG"):"
	tl_diag_file "$TL_DAEMON_LOG" 20
}

tl_ok() {
	TL_N=$((TL_N + 1))
	TL_PASS=$((TL_PASS + 1))
	printf 'ok %s - %s\n' "$TL_N" "$1"
}

# tl_not_ok NAME [DIAGNOSTIC…]
tl_not_ok() {
	TL_N=$((TL_N + 1))
	TL_FAIL=$((TL_FAIL + 1))
	printf 'not ok %s - %s\n' "$TL_N" "$1"
	shift
	for _d in "$@"; do tl_diag "$_d"; done
	if [ -n "$TL_LAST_REQUEST" ]; then
		tl_diag "last request: $TL_LAST_REQUEST -> $TL_STATUS"
		if [ -s "$TL_BODY" ]; then
			tl_diag "response body: $(head -c 600 "$TL_BODY")"
		fi
	fi
	tl__daemon_tail
	return 1
}

# tl_is GOT EXPECTED NAME
tl_is() {
	if [ "$1" = "$2" ]; then
		tl_ok "$3"
	else
		tl_not_ok "$3" "expected: $2" "     got: $1"
	fi
}

# tl_isnt GOT UNEXPECTED NAME
tl_isnt() {
	if [ "$1" != "$2" ]; then
		tl_ok "$3"
	else
		tl_not_ok "$3" "expected anything but: $2"
	fi
}

# tl_like GOT EXTENDED-REGEX NAME
tl_like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		tl_ok "$3"
	else
		tl_not_ok "$3" "expected to match: $2" "                got: $1"
	fi
}

# tl_check NAME COMMAND…: ok when COMMAND succeeds
tl_check() {
	_name=$1
	shift
	if "$@"; then tl_ok "$_name"; else tl_not_ok "$_name" "failed: $*"; fi
}

tl_done() {
	echo "1..$TL_N"
	echo "# $TL_PASS passed, $TL_FAIL failed"
	if [ "$TL_FAIL" -ne 0 ] || [ "$TL_N" -eq 0 ]; then exit 1; fi
	exit 0
}

# tl_bail REASON: give up on the rest of the script (counts as a failure)
tl_bail() {
	tl_not_ok "$TL_NAME cannot go on: $1"
	printf 'Bail out! %s\n' "$1"
	tl_done
}

# --- time and processes ----------------------------------------------------------

tl_now_ms() {
	date +%s%3N
}

# tl_alive PID: the process exists and is not a zombie
tl_alive() {
	[ -r "/proc/$1/stat" ] || return 1
	_state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$_state" ] && [ "$_state" != Z ] && [ "$_state" != X ]
}

# tl_wait_exit PID SECONDS: sets TL_RC to PID's exit status; SIGKILL and
# TL_RC=137 when it is still running after SECONDS
tl_wait_exit() {
	_deadline=$(( $(tl_now_ms) + $2 * 1000 ))
	while tl_alive "$1"; do
		if [ "$(tl_now_ms)" -ge "$_deadline" ]; then
			kill -KILL "$1" 2>/dev/null
			break
		fi
		sleep 0.05
	done
	wait "$1"
	TL_RC=$?
}

# tl_free_port: a TCP port below the kernel's ephemeral range that no socket
# uses (listening or connected: a bind() can collide with the source port of
# an outgoing connection too) and that this test has not handed out before
tl_free_port() {
	_lo=10000
	_hi=$(awk '{ print $1 - 1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
	case $_hi in '' | *[!0-9]*) _hi=32767 ;; esac
	[ "$_hi" -gt $((_lo + 1000)) ] || _hi=32767
	_p=$(( _lo + ($$ * 7919 + $(date +%N | sed 's/^0*//;s/^$/0/') / 1000) % (_hi - _lo) ))
	while ss -Htan "sport = :$_p" 2>/dev/null | grep -q . ||
	      [ -e "/tmp/.s.PGSQL.$_p" ] ||
	      { [ -n "$TL_DIR" ] && grep -qx "$_p" "$TL_DIR/ports" 2>/dev/null; }; do
		_p=$((_p + 1))
		[ "$_p" -lt "$_hi" ] || _p=$_lo
	done
	[ -n "$TL_DIR" ] && echo "$_p" >>"$TL_DIR/ports"
	echo "$_p"
}

# tl__port_clash FILE: FILE says a bind() failed because the port was taken
tl__port_clash() {
	grep -Eqi 'address already in use|could not bind' "$1" 2>/dev/null
}

# --- setup and cleanup ---------------------------------------------------------------

tl__cleanup() {
	_rc=$?
	set +e
	for _pid in $TL_DAEMON_PIDS; do
		tl_alive "$_pid" && kill -TERM "$_pid" 2>/dev/null
	done
	for _pid in $TL_DAEMON_PIDS; do
		tl_alive "$_pid" && tl_wait_exit "$_pid" 10
	done
	for _c in $TL_CLUSTERS; do
		pgcluster_stop "$_c"
		[ -f "$_c/data/postmaster.pid" ] && pgcluster_kill "$_c"
	done
	if [ -n "$TL_DIR" ] && [ -d "$TL_DIR" ]; then
		if [ "${TL_KEEP:-0}" = 1 ]; then
			echo "# kept $TL_DIR"
		else
			rm -rf "$TL_DIR"
		fi
	fi
	exit "$_rc"
}

# Drop CHARGEGATE_* variables inherited from the caller so that a developer's
# environment cannot change what the tests see.
tl__clean_env() {
	for _v in $(env | sed -n 's/^\(CHARGEGATE_[A-Za-z0-9_]*\)=.*/\1/p'); do
		unset "$_v"
	done
}

tl_setup() {
	command -v curl >/dev/null 2>&1 || tl_bail "curl is not installed (run scripts/install-deps)"
	command -v psql >/dev/null 2>&1 || tl_bail "psql is not installed (run scripts/install-deps)"
	perl -MJSON::PP -e 1 2>/dev/null || tl_bail "perl with JSON::PP is not installed (run scripts/install-deps)"
	[ -x "$TL_DAEMON" ] || tl_bail "$TL_DAEMON is not built (top_builddir=$top_builddir)"
	[ -x "$TL_CTL" ] || tl_bail "$TL_CTL is not built (top_builddir=$top_builddir)"
	TL_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cg-$TL_NAME.XXXXXX") ||
		tl_bail "could not create a temporary directory in ${TMPDIR:-/tmp}"
	trap tl__cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	tl__clean_env
	TL_HDRS=$TL_DIR/response.headers
	TL_BODY=$TL_DIR/response.body
	TL_CONF=$TL_DIR/chargegate.conf
	: >"$TL_CONF"
	TL_PGDIR=$TL_DIR/pg
	TL_CLUSTERS=$TL_PGDIR
	# another process may take the port between the check and the bind: retry
	for _try in 1 2 3; do
		pgcluster_start "$TL_PGDIR" "$(tl_free_port)" >"$TL_DIR/pgcluster.out" 2>&1 && break
		if [ "$_try" = 3 ] || ! tl__port_clash "$TL_PGDIR/postgres.log"; then
			sed 's/^/# /' "$TL_DIR/pgcluster.out"
			tl_bail "could not start a PostgreSQL cluster in $TL_PGDIR"
		fi
	done
	TL_PGPORT=$PGPORT
	CHARGEGATE_DATABASE_URL=$CG_DATABASE_URL
	CHARGEGATE_SQLDIR=$top_srcdir/sql
	export CHARGEGATE_DATABASE_URL CHARGEGATE_SQLDIR
	if [ -n "${TL_LOG_LEVEL:-}" ]; then
		CHARGEGATE_LOG_LEVEL=$TL_LOG_LEVEL
		export CHARGEGATE_LOG_LEVEL
	fi
	tl_diag "temporary directory $TL_DIR, PostgreSQL on port $TL_PGPORT"
	if [ "${TL_MIGRATE:-yes}" = yes ]; then
		tl_migrate || tl_bail "chargegatectl migrate failed on a fresh database"
	fi
}

# tl_migrate [VAR=value…]: chargegatectl migrate; output in $TL_DIR/migrate.out
# shellcheck disable=SC2120 # the arguments are optional
tl_migrate() {
	env "$@" "$TL_CTL" -c "$TL_CONF" migrate >"$TL_DIR/migrate.out" 2>&1
	TL_RC=$?
	if [ "$TL_RC" -ne 0 ]; then
		tl_diag "chargegatectl migrate exited with status $TL_RC:"
		tl_diag_file "$TL_DIR/migrate.out"
		return 1
	fi
}

# tl_run SECONDS COMMAND…: run in the foreground with a time limit; stdout in
# $TL_DIR/run.out, stderr in $TL_DIR/run.err, exit status in TL_RC (124 when
# the limit was hit)
tl_run() {
	_limit=$1
	shift
	timeout -k 5 "$_limit" "$@" >"$TL_DIR/run.out" 2>"$TL_DIR/run.err"
	TL_RC=$?
}

# tl_failed: the last tl_run exited non-zero on its own (not by the time limit)
tl_failed() {
	[ "$TL_RC" -ne 0 ] && [ "$TL_RC" -ne 124 ] && [ "$TL_RC" -ne 137 ]
}

# --- the daemon ---------------------------------------------------------------------

# TL_DAEMON_READY: a shell command that succeeds once a started daemon is
# ready beyond /healthz (it sees TL_DAEMON_LOG); waited for up to
# TL_DAEMON_READY_TIMEOUT seconds (default 30).  t_kafka_e2e.sh waits so for
# the consumers' Kafka group assignments.
tl__daemon_ready() {
	[ -n "${TL_DAEMON_READY:-}" ] || return 0
	tl_poll "${TL_DAEMON_READY_TIMEOUT:-30}" env TL_DAEMON_LOG="$TL_DAEMON_LOG" sh -c "$TL_DAEMON_READY" ||
		tl_diag "the daemon was not ready after ${TL_DAEMON_READY_TIMEOUT:-30} s: $TL_DAEMON_READY"
}

# tl_start_daemon [VAR=value…]: start chargegated with CHARGEGATE_HTTP_LISTEN
# and CHARGEGATE_ADMIN_LISTEN (the status page) on free ports (an assignment
# given here wins), log to $TL_DIR/chargegated.N.log, and wait until /healthz
# answers 200.  Sets TL_DAEMON_PID, TL_DAEMON_LOG, TL_BASE_URL, TL_ADMIN_URL.  Records a failure with the log's
# tail and returns 1 when the daemon exits or does not answer in time.  A
# port taken by another process meanwhile is retried with another port.
# API-only by default (tests of the accepting side need no authorization
# service); end-to-end tests pass CHARGEGATE_CONSUMERS_ENABLED=true.
# shellcheck disable=SC2120 # the arguments are optional
tl_start_daemon() {
	_fixed=
	for _a in "$@"; do
		case $_a in CHARGEGATE_HTTP_LISTEN=*) _fixed=${_a#*=} ;; esac
	done
	_tries=3
	[ -n "$_fixed" ] && _tries=1
	tl__start_daemon "$@"
	while [ "$TL_RC" = clash ] && [ "$_tries" -gt 1 ]; do
		_tries=$((_tries - 1))
		tl_diag "$_listen was taken meanwhile: trying another port"
		tl__start_daemon "$@"
	done
	case $TL_RC in
	0)
		tl__daemon_ready
		return 0 ;;
	clash) tl_not_ok "chargegated starts and answers GET /healthz" \
		"could not listen on $_listen: address already in use" ;;
	timeout) tl_not_ok "chargegated starts and answers GET /healthz" \
		"no 200 from $TL_BASE_URL/healthz within ${TL_START_TIMEOUT:-10} s (last status: $_code)" ;;
	*) tl_not_ok "chargegated starts and answers GET /healthz" \
		"chargegated exited with status $TL_RC during start-up" ;;
	esac
	return 1
}

# one attempt of tl_start_daemon; TL_RC: 0, clash, timeout or the exit status
# shellcheck disable=SC2120 # the arguments are optional
tl__start_daemon() {
	_listen=${_fixed:-127.0.0.1:$(tl_free_port)}
	TL_BASE_URL=http://$_listen
	# the default admin.listen (127.0.0.1:8090) would collide between daemons
	_admin=127.0.0.1:$(tl_free_port)
	for _a in "$@"; do
		case $_a in CHARGEGATE_ADMIN_LISTEN=*) _admin=${_a#*=} ;; esac
	done
	# shellcheck disable=SC2034 # read by the test scripts
	TL_ADMIN_URL=http://$_admin
	TL_DAEMON_N=$((TL_DAEMON_N + 1))
	TL_DAEMON_LOG=$TL_DIR/chargegated.$TL_DAEMON_N.log
	# shellcheck disable=SC2086 # TL_DAEMON_ENV: blank-separated VAR=value words
	env CHARGEGATE_HTTP_LISTEN="$_listen" CHARGEGATE_ADMIN_LISTEN="$_admin" CHARGEGATE_CONSUMERS_ENABLED=false \
		${TL_DAEMON_ENV:-} "$@" \
		"$TL_DAEMON" -c "$TL_CONF" >"$TL_DAEMON_LOG" 2>&1 &
	TL_DAEMON_PID=$!
	TL_DAEMON_PIDS="$TL_DAEMON_PIDS $TL_DAEMON_PID"
	_deadline=$(( $(tl_now_ms) + ${TL_START_TIMEOUT:-10} * 1000 ))
	while :; do
		if ! tl_alive "$TL_DAEMON_PID"; then
			wait "$TL_DAEMON_PID"
			TL_RC=$?
			if [ "$TL_RC" -ne 0 ] && tl__port_clash "$TL_DAEMON_LOG"; then
				TL_RC=clash
			fi
			return 0
		fi
		_code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$TL_BASE_URL/healthz" 2>/dev/null)
		if [ "$_code" = 200 ]; then
			TL_RC=0
			return 0
		fi
		if [ "$(tl_now_ms)" -ge "$_deadline" ]; then
			TL_RC=timeout
			return 0
		fi
		sleep 0.05
	done
}

# tl_start_role NAME [VAR=value…]: start chargegated with only the roles the
# assignments leave on (e.g. CHARGEGATE_HTTP_ENABLED=false
# CHARGEGATE_CONSUMERS_ENABLED=false for a relay-only daemon), logging to
# $TL_DIR/NAME.log, and wait (TL_START_TIMEOUT) for its "started" line: a
# daemon without the API has no /healthz.  Sets NAME_pid; the daemon is
# stopped by the cleanup; no status page unless CHARGEGATE_ADMIN_LISTEN is
# given.  Records a failure and returns 1 when it does not start.
tl_start_role() {
	_rn=$1
	shift
	# shellcheck disable=SC2086 # TL_DAEMON_ENV: blank-separated VAR=value words
	env CHARGEGATE_HTTP_LISTEN="127.0.0.1:$(tl_free_port)" CHARGEGATE_ADMIN_LISTEN=off ${TL_DAEMON_ENV:-} "$@" \
		"$TL_DAEMON" -c "$TL_CONF" >"$TL_DIR/$_rn.log" 2>&1 &
	_rpid=$!
	eval "${_rn}_pid=$_rpid"
	TL_DAEMON_PIDS="$TL_DAEMON_PIDS $_rpid"
	if tl_poll "${TL_START_TIMEOUT:-10}" grep -qs 'chargegated .* started' "$TL_DIR/$_rn.log"; then
		return 0
	fi
	tl_not_ok "chargegated $_rn starts" "$(tail -n 5 "$TL_DIR/$_rn.log")"
	return 1
}

# tl_daemon_alive NAME: a test that the daemon still runs; when it does not,
# the diagnostics give its exit status or the signal that killed it
tl_daemon_alive() {
	if tl_alive "$TL_DAEMON_PID"; then
		tl_ok "$1"
		return 0
	fi
	wait "$TL_DAEMON_PID"
	TL_RC=$?
	if [ "$TL_RC" -gt 128 ]; then
		_how="it was killed by signal $((TL_RC - 128)) ($(kill -l "$((TL_RC - 128))" 2>/dev/null))"
	else
		_how="it exited with status $TL_RC"
	fi
	tl_not_ok "$1" "chargegated (pid $TL_DAEMON_PID) is gone: $_how"
}

# tl_stop_daemon [PID]: SIGTERM, then expect exit status 0 within 15 s
# shellcheck disable=SC2120 # the arguments are optional
tl_stop_daemon() {
	_pid=${1:-$TL_DAEMON_PID}
	[ -n "$_pid" ] || return 0
	kill -TERM "$_pid" 2>/dev/null
	tl_wait_exit "$_pid" 15
	_left=
	for _p in $TL_DAEMON_PIDS; do [ "$_p" = "$_pid" ] || _left="$_left $_p"; done
	TL_DAEMON_PIDS=$_left
	[ "$_pid" = "$TL_DAEMON_PID" ] && TL_DAEMON_PID=
	if [ "$TL_RC" -eq 0 ]; then
		tl_ok "chargegated drains and exits 0 on SIGTERM"
	elif [ "$TL_RC" -eq 137 ]; then
		tl_not_ok "chargegated drains and exits 0 on SIGTERM" "still running 15 s after SIGTERM: killed"
	else
		tl_not_ok "chargegated drains and exits 0 on SIGTERM" "exit status $TL_RC"
	fi
}

# --- HTTP ----------------------------------------------------------------------------

# tl_http METHOD PATH [curl options…]: request $TL_BASE_URL$PATH.  Sets
# TL_STATUS (000 when there was no answer); headers in $TL_HDRS, body in
# $TL_BODY.
tl_http() {
	_method=$1
	_path=$2
	shift 2
	TL_LAST_REQUEST="$_method $_path"
	: >"$TL_HDRS"
	: >"$TL_BODY"
	TL_STATUS=$(curl -sS -X "$_method" -o "$TL_BODY" -D "$TL_HDRS" -w '%{http_code}' \
		--max-time "${TL_HTTP_TIMEOUT:-10}" -H 'Expect:' "$@" "$TL_BASE_URL$_path" \
		2>"$TL_DIR/curl.err")
	[ -n "$TL_STATUS" ] || TL_STATUS=000
	if [ "$TL_STATUS" = 000 ]; then
		tl_diag "curl: $(cat "$TL_DIR/curl.err")"
	fi
	return 0
}

# tl__content_type CURL-OPTIONS…: the Content-Type header to add: none when
# the options set one (-H 'Content-Type: …'; -H 'Content-Type:' sends none)
tl__content_type() {
	for _a in "$@"; do
		case $_a in [Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Tt][Yy][Pp][Ee]:*) return 0 ;; esac
	done
	echo 'Content-Type: application/json'
}

# tl_post PATH BODY [curl options…]: POST BODY as application/json unless the
# options give their own Content-Type
tl_post() {
	_path=$1
	_data=$2
	shift 2
	_cth=$(tl__content_type "$@")
	tl_http POST "$_path" ${_cth:+-H "$_cth"} --data-binary "$_data" "$@"
}

# tl_post_file PATH FILE [curl options…]
tl_post_file() {
	_path=$1
	_file=$2
	shift 2
	_cth=$(tl__content_type "$@")
	tl_http POST "$_path" ${_cth:+-H "$_cth"} --data-binary "@$_file" "$@"
}

# tl_header NAME [FILE]: the value of the last NAME header (case-insensitive)
tl_header() {
	awk -v want="$1" '
		BEGIN { want = tolower(want) }
		{ sub(/\r$/, "") }
		/^HTTP\// { v = ""; found = 0; next }
		{
			i = index($0, ":")
			if (i > 0 && tolower(substr($0, 1, i - 1)) == want) {
				v = substr($0, i + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v); found = 1
			}
		}
		END { if (found) print v; else exit 1 }' "${2:-$TL_HDRS}"
}

# --- JSON (perl's core JSON::PP: no jq needed) -------------------------------------------

# tl_json PATH [FILE]: print the value at PATH of the JSON document in FILE
# (default $TL_BODY).  PATH is dot-separated: object members, array indexes,
# "*" (every element of an array: one line each), "#" (length of an array or
# object), "@keys" (an object's member names, sorted, comma-separated),
# "@type" (object|array|string|number|boolean|null); "" is the whole document.
# Strings print raw, null as "null", objects and arrays as canonical JSON.
# Exit status 1 when PATH does not exist, 2 when FILE is not JSON.
tl_json() {
	perl -MJSON::PP -e '
		use strict; use warnings;
		my ($path, $file) = @ARGV;
		open(my $fh, "<:raw", $file) or do { print STDERR "tl_json: $file: $!\n"; exit 3 };
		local $/; my $text = <$fh>;
		my $js = JSON::PP->new->utf8->allow_nonref->canonical;
		my $doc = eval { $js->decode($text) };
		if ($@) { print STDERR "tl_json: not JSON: $@"; exit 2 }
		sub type_of {
			my ($v) = @_;
			return "null" unless defined $v;
			return "boolean" if JSON::PP::is_bool($v);
			return "object" if ref $v eq "HASH";
			return "array" if ref $v eq "ARRAY";
			return $js->encode($v) =~ /^"/ ? "string" : "number";
		}
		sub walk {
			my ($v, @segs) = @_;
			return ($v) unless @segs;
			my $s = shift @segs;
			if ($s eq "*") {
				die "missing\n" unless ref $v eq "ARRAY";
				return map { walk($_, @segs) } @$v;
			}
			if ($s eq "#") {
				return walk(scalar(@$v), @segs) if ref $v eq "ARRAY";
				return walk(scalar(keys %$v), @segs) if ref $v eq "HASH";
				die "missing\n";
			}
			if ($s eq "\@keys") {
				die "missing\n" unless ref $v eq "HASH";
				return walk(join(",", sort keys %$v), @segs);
			}
			return walk(type_of($v), @segs) if $s eq "\@type";
			if (ref $v eq "HASH") {
				die "missing\n" unless exists $v->{$s};
				return walk($v->{$s}, @segs);
			}
			if (ref $v eq "ARRAY" && $s =~ /^[0-9]+$/) {
				die "missing\n" unless $s < @$v;
				return walk($v->[$s], @segs);
			}
			die "missing\n";
		}
		my @r = eval { walk($doc, grep { length } split(/\./, $path)) };
		exit 1 if $@;
		binmode(STDOUT, ":utf8");
		for my $v (@r) {
			if (!defined $v) { print "null\n" }
			elsif (JSON::PP::is_bool($v)) { print(($v ? "true" : "false"), "\n") }
			elsif (ref $v) { print $js->encode($v), "\n" }
			else { print "$v\n" }
		}
	' "$1" "${2:-$TL_BODY}"
}

# tl_json_str STRING: STRING as a JSON string literal (ASCII, escaped)
tl_json_str() {
	perl -MJSON::PP -e 'print JSON::PP->new->ascii->allow_nonref->encode($ARGV[0])' -- "$1"
}

# tl_repeat CHAR COUNT
tl_repeat() {
	# linear: awk's "s = s c" copies the string each time (minutes for 2 MiB)
	head -c "$2" /dev/zero | tr '\0' "$1"
}

# --- PostgreSQL ------------------------------------------------------------------------------

# tl_sql SQL [psql options…]: run SQL (read from stdin, so -v variables work:
# :'name'), print unaligned tuples
tl_sql() {
	_q=$1
	shift
	printf '%s\n' "$_q" | psql -tAX -q -v ON_ERROR_STOP=1 "$@"
}

# tl_count TABLE [WHERE-CLAUSE [psql options…]]: rows in chargegate.TABLE
tl_count() {
	_table=$1
	_where=${2:-true}
	[ $# -ge 2 ] && shift
	shift
	tl_sql "select count(*) from chargegate.$_table where $_where" "$@"
}

# tl_npm_ci DIR WHAT: npm ci in DIR (its package-lock.json pins WHAT); an
# assertion either way, and a bail-out when it fails
tl_npm_ci() {
	if (cd "$1" && npm ci --no-audit --no-fund --loglevel=error) >"$TL_DIR/npm.out" 2>&1; then
		tl_ok "npm ci installs $2 into $1/node_modules"
	else
		tl_not_ok "npm ci installs $2 into $1/node_modules" "npm ci failed:"
		tl_diag_file "$TL_DIR/npm.out"
		tl_bail "$2 cannot be installed"
	fi
}

# tl_lock_table TABLE SECONDS: another session holds an ACCESS EXCLUSIVE lock
# on chargegate.TABLE for SECONDS, in the background (its pid in TL_LOCKER);
# returns once the lock is granted, bails when it is not within 5 s.
# tl_table_locked TABLE: another session holds that lock now
tl_table_locked() {
	[ "$(tl_sql "select count(*) from pg_locks l join pg_class c on c.oid = l.relation
	             where c.relname = '$1' and l.mode = 'AccessExclusiveLock' and l.granted")" = 1 ]
}
tl_lock_table() {
	psql -qX -c "begin; lock table chargegate.$1; select pg_sleep($2); commit;" >/dev/null 2>&1 &
	TL_LOCKER=$!
	tl_poll 5 tl_table_locked "$1" || tl_bail "the lock on $1 was not taken"
}

# --- assertions about answers -------------------------------------------------------------

# tl_status EXPECTED NAME
tl_status() {
	if [ "$TL_STATUS" = "$1" ]; then
		tl_ok "$2"
	else
		tl_not_ok "$2" "expected HTTP status $1, got $TL_STATUS"
	fi
}

# tl__problem_errors STATUS [FIELDS]: print what is wrong with the last answer
# as an RFC 9457 problem document with that status (nothing when it is right).
# With FIELDS (comma-separated, sorted; "*": any) it must also carry an
# "errors" list naming exactly those fields, each with a "detail" string.
tl__problem_errors() {
	_ct=$(tl_header Content-Type) || _ct=
	perl -MJSON::PP -e '
		use strict; use warnings;
		my ($want, $fields, $status, $ct, $file) = @ARGV;
		my @e;
		push @e, "HTTP status $status, expected $want" if $status ne $want;
		push @e, "Content-Type is \"$ct\", expected application/problem+json"
			unless $ct =~ m{^application/problem\+json\s*(;|$)}i;
		open(my $fh, "<:raw", $file) or die "$file: $!\n";
		local $/; my $text = <$fh>;
		my $js = JSON::PP->new->utf8->allow_nonref;
		my $doc = eval { $js->decode($text) };
		sub kind {
			my ($v) = @_;
			return "null" unless defined $v;
			return "boolean" if JSON::PP::is_bool($v);
			return ref $v eq "HASH" ? "an object" : ref $v eq "ARRAY" ? "an array"
				: $js->encode($v) =~ /^"/ ? "a string" : "a number";
		}
		if ($@ || ref $doc ne "HASH") {
			push @e, "the body is not a JSON object: " . substr($text, 0, 200);
		} else {
			for my $m (qw(type title detail)) {
				my $k = exists $doc->{$m} ? kind($doc->{$m}) : "missing";
				push @e, "member \"$m\" is $k, expected a string" if $k ne "a string";
			}
			my $k = exists $doc->{status} ? kind($doc->{status}) : "missing";
			if ($k ne "a number") { push @e, "member \"status\" is $k, expected a number" }
			elsif ($doc->{status} != $want) { push @e, "member \"status\" is $doc->{status}, expected $want" }
			if ($fields ne "") {
				my $errs = $doc->{errors};
				if (ref $errs ne "ARRAY") {
					push @e, "member \"errors\" is not an array";
				} else {
					my @got = sort map { ref $_ eq "HASH" && defined $_->{field} ? $_->{field} : "(no field)" } @$errs;
					my $got = join(",", @got);
					if ($fields eq "*") { push @e, "\"errors\" is empty" unless @got }
					elsif ($got ne $fields) { push @e, "errors name the fields [$got], expected [$fields]" }
					for my $x (@$errs) {
						next if ref $x eq "HASH" && kind($x->{detail}) eq "a string" && length $x->{detail};
						push @e, "an error has no \"detail\" string: " . $js->canonical->encode($x);
					}
				}
			}
		}
		binmode(STDOUT, ":utf8");
		print "$_\n" for @e;
	' "$1" "${2:-}" "$TL_STATUS" "$_ct" "$TL_BODY"
}

# tl__result NAME ERRORS: ok when ERRORS is empty, else not ok with one
# diagnostic per line of ERRORS
tl__result() {
	if [ -z "$2" ]; then
		tl_ok "$1"
		return 0
	fi
	_name=$1
	_old_ifs=$IFS
	IFS='
'
	set -f
	# shellcheck disable=SC2086 # one diagnostic per line
	set -- "$_name" $2
	set +f
	IFS=$_old_ifs
	tl_not_ok "$@"
}

# tl_problem STATUS NAME: the last answer is a problem document with STATUS
tl_problem() {
	tl__result "$2" "$(tl__problem_errors "$1")"
}

# tl_bad_request NAME FIELDS: a 400 problem document whose errors list names
# exactly FIELDS (comma-separated, sorted), each with a non-empty detail
# string; FIELDS "*" accepts any non-empty list
tl_bad_request() {
	tl__result "$1" "$(tl__problem_errors 400 "$2")"
}

# tl_poll SECONDS COMMAND…: run COMMAND every 0.1 s until it succeeds;
# returns 1 when SECONDS pass first
tl_poll() {
	_pd=$(( $(tl_now_ms) + $1 * 1000 ))
	shift
	while :; do
		"$@" && return 0
		[ "$(tl_now_ms)" -ge "$_pd" ] && return 1
		sleep 0.1
	done
}

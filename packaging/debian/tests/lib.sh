# shellcheck shell=sh disable=SC2034,SC2154 # testlib.sh variables
# lib.sh: checks of the installed chargegate package, shared by the
# autopkgtest (debian/tests/daemon) and tests/integration/t_deb_package.sh.
# Source tests/lib/testlib.sh first; output is testlib's "ok"/"not ok".
#
#   dt_setup                a temporary directory and the cleanup trap
#   dt_check_files          binaries, files, permissions, user, unit
#   dt_start_cluster        a throwaway PostgreSQL cluster (pgcluster.sh)
#   dt_daemon_roundtrip     migrate; the installed daemon as user chargegate
#                           accepts a request; sd_notify; reload; stop
#   dt_cleanup              stops what dt_* started, then testlib's cleanup
#
# The daemon runs through setpriv(1), which execs, rather than runuser(1),
# which stays as the parent and SIGKILLs its child 2 s after forwarding
# SIGTERM: the test must see the daemon's own drain and exit status.

DT_USER=chargegate
DT_CONF=/etc/chargegate/chargegate.conf
DT_SQLDIR=/usr/share/chargegate/sql
DT_UNIT=/lib/systemd/system/chargegate.service
DT_LISTENERS=

dt_cleanup() {
	_dt_rc=$?
	set +e
	for _p in $DT_LISTENERS; do kill "$_p" 2>/dev/null; done
	(exit "$_dt_rc")
	tl__cleanup
}

dt_setup() {
	TL_DIR=$(mktemp -d "${AUTOPKGTEST_TMP:-${TMPDIR:-/tmp}}/cg-$TL_NAME.XXXXXX") ||
		tl_bail "could not create a temporary directory"
	# the daemon (user chargegate) must reach $TL_DIR/notify
	chmod 711 "$TL_DIR"
	: >"$TL_DIR/.start"
	trap dt_cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	tl__clean_env
	TL_HDRS=$TL_DIR/response.headers
	TL_BODY=$TL_DIR/response.body
	tl_diag "temporary directory $TL_DIR"
}

# dt_stat PATH: "owner:group mode"
dt_stat() {
	stat -c '%U:%G %a' "$1" 2>&1
}

# dt_has_override PATH: dpkg-statoverride manages PATH
dt_has_override() {
	dpkg-statoverride --list "$1" >/dev/null 2>&1
}

dt_check_files() {
	_v=$(/usr/bin/chargegated --version 2>&1)
	tl_like "$_v" '^chargegated [0-9]+\.[0-9]+' "chargegated --version prints the version ($_v)"
	_v=$(/usr/bin/chargegatectl version 2>&1)
	tl_like "$_v" '^chargegatectl [0-9]+\.[0-9]+' "chargegatectl version prints the version"

	_pw=$(getent passwd "$DT_USER")
	if [ -z "$_pw" ]; then
		tl_not_ok "the package created the system user $DT_USER"
	else
		_uid=$(echo "$_pw" | cut -d: -f3)
		_home=$(echo "$_pw" | cut -d: -f6)
		_shell=$(echo "$_pw" | cut -d: -f7)
		tl_check "the user $DT_USER is a system user (uid $_uid)" [ "$_uid" -lt 1000 ]
		tl_is "$_home" /var/lib/chargegate "the home of $DT_USER is /var/lib/chargegate"
		tl_like "$_shell" '/(nologin|false)$' "the user $DT_USER cannot log in ($_shell)"
		tl_is "$(id -gn "$DT_USER")" "$DT_USER" "the primary group of $DT_USER is $DT_USER"
	fi
	if dt_has_override /var/lib/chargegate; then
		tl_ok "/var/lib/chargegate has a dpkg-statoverride: its permissions are the administrator's # SKIP"
	else
		tl_is "$(dt_stat /var/lib/chargegate)" "chargegate:chargegate 750" \
			"/var/lib/chargegate exists, owned by chargegate, mode 750"
	fi

	tl_check "$DT_CONF is a conffile of chargegate" \
		sh -c "dpkg-query -W -f='\${Conffiles}\n' chargegate | grep -q '^ $DT_CONF '"
	if dt_has_override "$DT_CONF"; then
		tl_ok "$DT_CONF has a dpkg-statoverride: its permissions are the administrator's # SKIP"
	else
		tl_is "$(dt_stat "$DT_CONF")" "root:chargegate 640" "$DT_CONF is mode 640, owned by root:chargegate"
	fi

	tl_check "the migrations are installed in $DT_SQLDIR" [ -f "$DT_SQLDIR/001_init.sql" ]
	# every SQL file of the source is installed -- those older than this
	# test, that is: the tree may change while the packages are built
	for _d in functions views; do
		[ -d "$top_srcdir/sql/$_d" ] || continue
		_missing=
		for _f in $(find "$top_srcdir/sql/$_d" -name '*.sql' ! -newer "$TL_DIR/.start" | sort); do
			[ -f "$DT_SQLDIR/$_d/$(basename "$_f")" ] || _missing="$_missing $(basename "$_f")"
		done
		tl_is "${_missing:-none}" none "every file of sql/$_d is installed in $DT_SQLDIR/$_d"
	done
	for _m in man8/chargegated.8 man1/chargegatectl.1 man5/chargegate.conf.5; do
		tl_check "the man page $(basename "$_m") is installed" [ -f "/usr/share/man/$_m.gz" ]
	done
	tl_check "the systemd unit is installed as $DT_UNIT" [ -f "$DT_UNIT" ]
	if command -v systemd-analyze >/dev/null 2>&1; then
		_man=yes
		command -v man >/dev/null 2>&1 || _man=no
		if systemd-analyze verify --man="$_man" "$DT_UNIT" >"$TL_DIR/verify.out" 2>&1; then
			tl_ok "systemd-analyze verify accepts the installed unit"
		else
			tl_not_ok "systemd-analyze verify accepts the installed unit" "$(cat "$TL_DIR/verify.out")"
		fi
	else
		tl_ok "systemd-analyze verify of the unit # SKIP systemd-analyze is not installed"
	fi
	if dpkg-query -W -f='${Status}\n' chargegate-kafka 2>/dev/null | grep -q ' installed$'; then
		tl_check "chargegate-kafka installs the Kafka module" \
			sh -c 'ls /usr/lib/*/chargegate/*.so >/dev/null 2>&1'
	fi
}

dt_start_cluster() {
	TL_PGDIR=$TL_DIR/pg
	TL_CLUSTERS=$TL_PGDIR
	pgcluster_start "$TL_PGDIR" >"$TL_DIR/pgcluster.out" 2>&1 || {
		tl_diag_file "$TL_DIR/pgcluster.out"
		tl_bail "could not start a PostgreSQL cluster in $TL_PGDIR"
	}
	TL_PGPORT=$PGPORT
	CHARGEGATE_DATABASE_URL=$CG_DATABASE_URL
	export CHARGEGATE_DATABASE_URL
	tl_diag "PostgreSQL on port $TL_PGPORT"
}

# dt_listen ADDRESS FILE: receive sd_notify datagrams on ADDRESS (a path, or
# @name for the abstract namespace) in the background; each datagram becomes
# one line of FILE (newlines as spaces).  FILE exists once the socket is bound.
dt_listen() {
	perl -MSocket -MIO::Handle -e '
		my ($addr, $file) = @ARGV;
		socket(my $s, AF_UNIX, SOCK_DGRAM, 0) or die "socket: $!\n";
		my $abstract = $addr =~ s/^@/\0/;
		bind($s, pack_sockaddr_un($addr)) or die "bind: $!\n";
		chmod 0666, $addr unless $abstract;
		open(my $out, ">", "$file.tmp") or die "$file: $!\n";
		$out->autoflush(1);
		rename("$file.tmp", $file) or die "rename: $!\n";
		while (defined recv($s, my $buf, 4096, 0)) {
			$buf =~ s/\n+$//;
			$buf =~ s/\n/ /g;
			print $out "$buf\n";
		}
	' "$1" "$2" 2>>"$TL_DIR/listener.err" &
	DT_LISTENERS="$DT_LISTENERS $!"
	tl_poll 5 test -f "$2" || tl_diag "the sd_notify listener did not start: $(cat "$TL_DIR/listener.err")"
}

# dt_notified FILE LINE COUNT: FILE has COUNT lines equal to LINE (at least)
dt_notified() {
	[ "$(grep -cx -- "$2" "$1" 2>/dev/null)" -ge "$3" ]
}

# dt_expect_notify FILE LINE COUNT NAME: wait up to 5 s for it
dt_expect_notify() {
	if tl_poll 5 dt_notified "$1" "$2" "$3"; then
		tl_ok "$4"
	else
		tl_not_ok "$4" "expected $3 x \"$2\"; received:" "$(cat "$1" 2>/dev/null)"
	fi
}

dt_daemon_roundtrip() {
	# migrate with the installed SQL, as root, with the installed config
	if env -u CHARGEGATE_SQLDIR /usr/bin/chargegatectl -c "$DT_CONF" migrate >"$TL_DIR/migrate.out" 2>&1; then
		tl_ok "chargegatectl migrate applies the installed migrations to a fresh database"
	else
		tl_not_ok "chargegatectl migrate applies the installed migrations to a fresh database" \
			"$(cat "$TL_DIR/migrate.out")"
	fi
	tl_check "chargegatectl migrate again is a no-op that succeeds" \
		sh -c "env -u CHARGEGATE_SQLDIR /usr/bin/chargegatectl migrate >'$TL_DIR/migrate2.out' 2>&1"
	_st=$(env -u CHARGEGATE_SQLDIR /usr/bin/chargegatectl status 2>&1)
	tl_like "$_st" '^schema version: [1-9][0-9]* ' "chargegatectl status reads the default config and reports the schema"

	# as README.Debian says: the daemon logs in as its own role, granted chargegate_app (and _reader)
	tl_check "a login role for the daemon is granted chargegate_app and chargegate_reader" \
		psql -qX -v ON_ERROR_STOP=1 -c "create role chargegate login; grant chargegate_app, chargegate_reader to chargegate"
	CHARGEGATE_DATABASE_URL="host=127.0.0.1 port=$TL_PGPORT user=chargegate dbname=postgres"
	export CHARGEGATE_DATABASE_URL

	# the installed daemon, as the chargegate user, with the installed config
	TL_DAEMON=$TL_DIR/chargegated-as-$DT_USER
	printf '#!/bin/sh\nexec setpriv --reuid=%s --regid=%s --init-groups -- /usr/bin/chargegated "$@"\n' \
		"$DT_USER" "$DT_USER" >"$TL_DAEMON"
	chmod 755 "$TL_DAEMON"
	TL_CONF=$DT_CONF
	mkdir "$TL_DIR/notify"
	chown "$DT_USER" "$TL_DIR/notify"
	_sock=$TL_DIR/notify/socket
	_log=$TL_DIR/notify/messages
	dt_listen "$_sock" "$_log"

	# the API and the relays only: the consumers would need an authorization
	# service, and this test is about the package, not the flow
	tl_start_daemon NOTIFY_SOCKET="$_sock" CHARGEGATE_CONSUMERS_ENABLED=false || tl_bail "the installed chargegated did not start as $DT_USER"
	tl_ok "the installed chargegated runs as $DT_USER with $DT_CONF and answers /healthz"
	tl_is "$(ps -o user= -p "$TL_DAEMON_PID" | tr -d ' ')" "$DT_USER" "the daemon process belongs to $DT_USER"
	dt_expect_notify "$_log" READY=1 1 "the daemon tells systemd READY=1 once it listens"

	tl_post /v1/charging-sessions '{"station_id": "123e4567-e89b-12d3-a456-426614174000",
 "driver_token": "validDriverToken123",
 "callback_url": "https://cpo.example.com/callbacks/start"}'
	tl_status 202 "POST /v1/charging-sessions with the documented body answers 202"
	_rid=$(tl_json request_id 2>/dev/null) || _rid=
	tl_like "$_rid" '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' "the answer carries a request_id"
	tl_is "$(tl_sql "select count(*) from chargegate.charging_session_request where request_id::text = :'rid'" \
		-v rid="$_rid" 2>&1)" 1 "the accepted request is stored in chargegate.charging_session_request"

	kill -HUP "$TL_DAEMON_PID"
	dt_expect_notify "$_log" RELOADING=1 1 "SIGHUP: the daemon tells systemd RELOADING=1"
	dt_expect_notify "$_log" READY=1 2 "SIGHUP: then READY=1 again once reloaded"
	tl_http GET /healthz
	tl_status 200 "the daemon still answers after a reload"

	tl_stop_daemon
	dt_expect_notify "$_log" STOPPING=1 1 "SIGTERM: the daemon tells systemd STOPPING=1"

	# once more with an abstract socket name, as systemd may use
	_abs=@chargegate-test-$$
	dt_listen "$_abs" "$TL_DIR/notify/abstract"
	tl_start_daemon NOTIFY_SOCKET="$_abs" CHARGEGATE_CONSUMERS_ENABLED=false || tl_bail "the installed chargegated did not start again"
	dt_expect_notify "$TL_DIR/notify/abstract" READY=1 1 "READY=1 reaches an abstract NOTIFY_SOCKET (@name)"
	tl_stop_daemon
	_st=$(env -u CHARGEGATE_SQLDIR /usr/bin/chargegatectl status 2>&1)
	tl_like "$_st" 'requests accepted in the last hour, by status now' "chargegatectl status works with the daemon's role"
	CHARGEGATE_DATABASE_URL=$CG_DATABASE_URL
}

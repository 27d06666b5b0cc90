#!/bin/sh
# The Debian packages work as installed: scripts/build-deb builds chargegate
# (and chargegate-kafka when the tree builds the module) from a clean copy of
# the tree; "dpkg -i" creates the system user and gives the conffile mode 640
# root:chargegate; the installed chargegatectl migrates a throwaway cluster;
# the installed daemon, run as user chargegate with the installed config,
# accepts the request of DESIGN §3, stores it, notifies systemd and drains;
# the alert rules, their tests and the dashboard are in
# /usr/share/chargegate/monitoring and the runbook they point to in
# /usr/share/doc/chargegate; reinstalling keeps a modified conffile and a
# dpkg-statoverride; purging removes the user, /etc/chargegate and the binaries.
#
# Runs only with CHARGEGATE_TEST_DEB=1 (scripts/test sets it for its last
# step).  Needs root and dpkg: skipped (exit 77) otherwise, and when chargegate, its
# user or /etc/chargegate already exist on this machine (the test would
# purge them).  CHARGEGATE_DEBS=DIR installs the .debs of DIR instead of
# building them.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=packaging/debian/tests/lib.sh disable=SC1091
. "$top_srcdir/packaging/debian/tests/lib.sh"

skip() {
	echo "1..0 # SKIP $*"
	exit 77
}

# It builds packages for minutes: make check runs it only when asked, as
# scripts/test does once (not in each of its builds)
[ "${CHARGEGATE_TEST_DEB:-}" = 1 ] || skip "set CHARGEGATE_TEST_DEB=1 to build, install and purge the packages"
[ "$(id -u)" -eq 0 ] || skip "needs root (installs and purges packages)"
if ! command -v dpkg >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
	skip "dpkg is not available"
fi
for p in chargegate chargegate-kafka; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || st=
	case $st in '' | not-installed) ;; *) skip "$p is on this machine already ($st): not replacing it" ;; esac
done
getent passwd chargegate >/dev/null && skip "a user chargegate exists already: the test would remove it"
getent group chargegate >/dev/null && skip "a group chargegate exists already: the test would remove it"
[ -e /etc/chargegate ] && skip "/etc/chargegate exists already: the test would remove it"
command -v curl >/dev/null 2>&1 || skip "curl is not installed (run scripts/install-deps)"
command -v psql >/dev/null 2>&1 || skip "psql is not installed (run scripts/install-deps)"

INSTALLED=
DEBS_GIVEN=${CHARGEGATE_DEBS:-} # dt_setup drops CHARGEGATE_* variables

# purge what this test installed, whatever happened
# shellcheck disable=SC2317 # called by the EXIT trap
t_cleanup() {
	_t_rc=$?
	set +e
	if [ -n "$INSTALLED" ]; then
		# shellcheck disable=SC2086
		dpkg --purge $INSTALLED >/dev/null 2>&1
	fi
	(exit "$_t_rc")
	dt_cleanup
}

dt_setup
trap t_cleanup EXIT

# --- build ------------------------------------------------------------------------
if [ -n "$DEBS_GIVEN" ]; then
	DEBS=$DEBS_GIVEN
	tl_diag "installing the packages of $DEBS"
else
	DEBS=$TL_DIR/dist
	tl_diag "scripts/build-deb --output $DEBS (a few minutes)"
	if "$top_srcdir/scripts/build-deb" --output "$DEBS" >"$TL_DIR/build-deb.log" 2>&1; then
		tl_ok "scripts/build-deb builds the packages, and lintian passes them"
	else
		tl_diag_file "$TL_DIR/build-deb.log" 40
		tl_bail "scripts/build-deb failed"
	fi
fi
MAIN=$(find "$DEBS" -maxdepth 1 -name 'chargegate_*.deb' | head -n 1)
KAFKA=$(find "$DEBS" -maxdepth 1 -name 'chargegate-kafka_*.deb' | head -n 1)
[ -n "$MAIN" ] || tl_bail "no chargegate_*.deb in $DEBS"
[ -n "$KAFKA" ] || tl_diag "no chargegate-kafka package (built without the Kafka module)"

# --- install ----------------------------------------------------------------------
if DEBIAN_FRONTEND=noninteractive dpkg -i "$MAIN" ${KAFKA:+"$KAFKA"} </dev/null >"$TL_DIR/dpkg-i.log" 2>&1; then
	tl_ok "dpkg -i installs $(basename "$MAIN")${KAFKA:+ and $(basename "$KAFKA")}"
else
	tl_diag_file "$TL_DIR/dpkg-i.log" 30
	INSTALLED="chargegate-kafka chargegate"
	tl_bail "dpkg -i failed"
fi
INSTALLED="${KAFKA:+chargegate-kafka }chargegate"

dt_check_files

# the shipped monitoring (issue 16): rules, their tests, the dashboard, and
# the runbook their runbook_url points to, uncompressed
MONDIR=/usr/share/chargegate/monitoring
missing=
for f in chargegate-alerts.yml chargegate-alerts.test.yml chargegate-dashboard.json; do
	[ -f "$MONDIR/$f" ] || missing="$missing $f"
done
tl_is "${missing:-none}" none "the alert rules, their tests and the dashboard are installed in $MONDIR"
runbooks=$(sed -n 's/^[[:space:]]*runbook_url:[[:space:]]*"\{0,1\}\([^"#]*\)#.*/\1/p' "$MONDIR/chargegate-alerts.yml" | sort -u)
tl_is "$runbooks" /usr/share/doc/chargegate/operations.md "every alert's runbook_url names the installed operations.md"
tl_check "the runbook is installed, uncompressed, where the alerts point" [ -f /usr/share/doc/chargegate/operations.md ]
if command -v promtool >/dev/null 2>&1; then
	tl_check "the installed alert rules pass their unit tests" \
		sh -c "cd $MONDIR && promtool test rules chargegate-alerts.test.yml >/dev/null 2>&1"
fi
dt_start_cluster
dt_daemon_roundtrip

# --- reinstall: the conffile and a statoverride are the administrator's ---------------
CONF=/etc/chargegate/chargegate.conf
echo "# local change by t_deb_package" >>"$CONF"
dpkg-statoverride --update --add root root 0600 "$CONF"
if DEBIAN_FRONTEND=noninteractive dpkg -i "$MAIN" </dev/null >"$TL_DIR/dpkg-i2.log" 2>&1; then
	tl_ok "dpkg -i of the same package again succeeds (postinst is idempotent)"
else
	tl_not_ok "dpkg -i of the same package again succeeds (postinst is idempotent)" "$(tail -n 20 "$TL_DIR/dpkg-i2.log")"
fi
tl_check "reinstalling keeps the administrator's change to $CONF" grep -qx '# local change by t_deb_package' "$CONF"
tl_is "$(dt_stat "$CONF")" "root:root 600" "reinstalling keeps the permissions set by dpkg-statoverride"
dpkg-statoverride --remove "$CONF"
tl_check "the user chargegate survives a reinstall" sh -c 'getent passwd chargegate >/dev/null'

# --- purge ---------------------------------------------------------------------------------
# shellcheck disable=SC2086
if dpkg --purge $INSTALLED </dev/null >"$TL_DIR/dpkg-purge.log" 2>&1; then
	tl_ok "dpkg --purge $INSTALLED succeeds"
else
	tl_not_ok "dpkg --purge $INSTALLED succeeds" "$(tail -n 20 "$TL_DIR/dpkg-purge.log")"
fi
INSTALLED=
tl_is "$(dpkg-query -W -f='${db:Status-Status}' chargegate 2>/dev/null || echo not-installed)" not-installed \
	"chargegate is gone from dpkg's database"
tl_check "purge removes the user chargegate" sh -c '! getent passwd chargegate >/dev/null'
tl_check "purge removes the group chargegate" sh -c '! getent group chargegate >/dev/null'
tl_check "purge removes /etc/chargegate" [ ! -e /etc/chargegate ]
tl_check "purge removes /var/lib/chargegate" [ ! -e /var/lib/chargegate ]
tl_check "purge removes /usr/bin/chargegated" [ ! -e /usr/bin/chargegated ]
tl_check "purge removes the systemd unit" [ ! -e /lib/systemd/system/chargegate.service ]

tl_done

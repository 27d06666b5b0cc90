#!/bin/sh
# pgTAP tests of the SQL schema and functions: the `make check` entry point.
#
# Starts a throwaway PostgreSQL cluster, installs pgtap (and dblink, for the
# tests that need a second session), applies the schema and runs pg_prove on
# every tests/pgtap/*.sql.  Exits with pg_prove's status.
#
# Environment (set by `make check`): top_srcdir, top_builddir — absolute paths.
#   top_srcdir=$PWD top_builddir=$PWD sh tests/pgtap/run.sh
set -u
# Byte-order file sorting everywhere; the test files are UTF-8.
LC_ALL=C PGCLIENTENCODING=UTF8
export LC_ALL PGCLIENTENCODING

: "${top_srcdir:?top_srcdir must be set (absolute path of the source tree)}"
: "${top_builddir:?top_builddir must be set (absolute path of the build tree)}"

if ! command -v pg_prove >/dev/null 2>&1; then
	echo "pgtap: pg_prove not found; install libtap-parser-sourcehandler-pgtap-perl" >&2
	exit 1
fi

. "$top_srcdir/tests/lib/pgcluster.sh"

tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/chargegate-pgtap.XXXXXX") || exit 1
cleanup() {
	pgcluster_stop "$tmpdir/pg"
	rm -rf "$tmpdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pgcluster_start "$tmpdir/pg" || exit 1

psql -X -q -v ON_ERROR_STOP=1 \
	-c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION dblink' >/dev/null || exit 1

ctl="$top_builddir/src/chargegatectl"
[ -x "$ctl" ] || { echo "pgtap: $ctl is not built (make first)" >&2; exit 99; }
CHARGEGATE_DATABASE_URL="$CG_DATABASE_URL" CHARGEGATE_SQLDIR="$top_srcdir/sql" \
	"$ctl" migrate >"$tmpdir/migrate.out" 2>&1 || {
	cat "$tmpdir/migrate.out" >&2
	echo "pgtap: chargegatectl migrate failed" >&2
	exit 1
}

# Sorted, so the order is the same everywhere.
tests=$(ls "$top_srcdir"/tests/pgtap/*.sql)
# shellcheck disable=SC2086
pg_prove --ext .sql $tests
status=$?
exit $status

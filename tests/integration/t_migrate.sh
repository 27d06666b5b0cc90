#!/bin/sh
# chargegatectl migrate applies sql/ in one transaction, records each version
# once, is idempotent and safe to run concurrently; chargegated refuses to start
# on a schema that is behind and says to run chargegatectl migrate.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"

TL_MIGRATE=no
tl_setup

# daemon_refuses WHAT: chargegated exits 1 at start and names chargegatectl migrate
daemon_refuses() {
	tl_run 15 env CHARGEGATE_HTTP_LISTEN="127.0.0.1:$(tl_free_port)" CHARGEGATE_CONSUMERS_ENABLED=false \
		"$TL_DAEMON" -c "$TL_CONF"
	tl_is "$TL_RC" 1 "chargegated exits 1 $1" || tl_diag_file "$TL_DIR/run.err"
	if grep -q 'chargegatectl migrate' "$TL_DIR/run.err"; then
		tl_ok "the refusal $1 tells to run chargegatectl migrate"
	else
		tl_not_ok "the refusal $1 tells to run chargegatectl migrate" "stderr was:"
		tl_diag_file "$TL_DIR/run.err"
	fi
}

# versions [psql options]: the recorded versions, one line, in order
versions() {
	tl_sql "select string_agg(version::text, ',' order by version) from chargegate.schema_version" "$@"
}

daemon_refuses "on a database without the schema"

# --- first run --------------------------------------------------------------------------
tl_check "migrate succeeds on an empty database" tl_migrate
tl_diag "first run said:" "$(cat "$TL_DIR/migrate.out")"
tl_check "migrate prints what it did" test -s "$TL_DIR/migrate.out"
N=$(tl_count schema_version) || N=0
FILES=$(for f in "$top_srcdir"/sql/[0-9]*.sql; do basename "$f" .sql; done)
tl_is "$(versions)" "$(echo "$FILES" | sed 's/^0*//; s/_.*//' | paste -sd, -)" \
	"migrate recorded every numbered file of sql/, in order"
LAST=$(echo "$FILES" | tail -n 1)
tl_check "and its output names the last of them ($LAST)" grep -q "$LAST" "$TL_DIR/migrate.out"
tl_is "$(tl_sql "select count(distinct version) from chargegate.schema_version")" "$N" \
	"every version is recorded once"
tl_is "$(tl_count schema_version "name is null or applied_at is null")" 0 \
	"every version has a name and an applied_at"
for t in schema_version charging_session_request charging_session_request_outbox idempotency_key; do
	tl_is "$(tl_sql "select to_regclass('chargegate.$t') is not null")" t "migrate created chargegate.$t"
done
V1=$(versions)
A1=$(tl_sql "select max(applied_at) from chargegate.schema_version")

# --- second run -------------------------------------------------------------------------
tl_check "migrate succeeds again on a current database" tl_migrate
tl_diag "second run said:" "$(cat "$TL_DIR/migrate.out")"
if grep -Eiq 'nothing to do|up[- ]to[- ]date|already|no migrations? to apply' "$TL_DIR/migrate.out"; then
	tl_ok "the second run says there is nothing to do"
else
	tl_not_ok "the second run says there is nothing to do" "it said: $(cat "$TL_DIR/migrate.out")"
fi
tl_is "$(versions)|$(tl_sql "select max(applied_at) from chargegate.schema_version")" "$V1|$A1" \
	"the second run applied nothing"

# --- the daemon runs on the migrated schema ---------------------------------------------------
if tl_start_daemon; then
	tl_http GET /readyz
	tl_status 200 "GET /readyz answers 200 on a current schema"
	tl_stop_daemon
fi

# --- concurrent runs on a fresh database ------------------------------------------------------------
tl_sql "create database cg_concurrent"
URL2="host=127.0.0.1 port=$TL_PGPORT user=postgres dbname=cg_concurrent"
pids=
for i in 1 2 3; do
	env CHARGEGATE_DATABASE_URL="$URL2" timeout 60 "$TL_CTL" -c "$TL_CONF" migrate \
		>"$TL_DIR/concurrent.$i.out" 2>&1 &
	pids="$pids $!"
done
i=0
failed=
for p in $pids; do
	i=$((i + 1))
	wait "$p" || failed="$failed $i"
done
if [ -z "$failed" ]; then
	tl_ok "three concurrent migrate runs all succeed"
else
	tl_not_ok "three concurrent migrate runs all succeed" "run(s)$failed failed:"
	for i in $failed; do tl_diag_file "$TL_DIR/concurrent.$i.out"; done
fi
tl_is "$(versions -d cg_concurrent)" "$V1" "concurrent runs record the same versions as one run"
tl_is "$(tl_sql "select count(*) - count(distinct version) from chargegate.schema_version" -d cg_concurrent)" 0 \
	"concurrent runs record every version once"

# --- one transaction: a failing migration leaves nothing behind ---------------------------------------
last=$(find "$top_srcdir/sql" -maxdepth 1 -name '*.sql' | sort | tail -n 1)
lastnum=$(basename "$last" | sed -n 's/^\([0-9][0-9]*\).*/\1/p')
if [ -n "$lastnum" ]; then
	cp -R "$top_srcdir/sql" "$TL_DIR/sql-broken"
	chmod -R u+w "$TL_DIR/sql-broken"
	next=$(printf "%0${#lastnum}d" $(( $(echo "$lastnum" | sed 's/^0*//;s/^$/0/') + 1 )))
	broken=${next}_broken_for_test.sql
	printf '%s\n' "create table chargegate.broken_marker (x int);" "select 1/0;" \
		>"$TL_DIR/sql-broken/$broken"
	tl_sql "create database cg_broken"
	URL3="host=127.0.0.1 port=$TL_PGPORT user=postgres dbname=cg_broken"
	tl_run 60 env CHARGEGATE_DATABASE_URL="$URL3" CHARGEGATE_SQLDIR="$TL_DIR/sql-broken" \
		"$TL_CTL" -c "$TL_CONF" migrate
	tl_check "migrate fails when a migration fails" tl_failed
	if grep -qs "$next" "$TL_DIR/run.out" "$TL_DIR/run.err"; then
		tl_ok "the failure names the failing migration"
	else
		tl_not_ok "the failure names the failing migration" "output:" \
			"$(cat "$TL_DIR/run.out" "$TL_DIR/run.err")"
	fi
	tl_is "$(tl_sql "select to_regnamespace('chargegate') is null
		or to_regclass('chargegate.charging_session_request') is null" -d cg_broken)" t \
		"a failed migrate run rolls back every migration of the run"
else
	tl_diag "sql/ migrations are not numbered ($(basename "$last")): one-transaction check skipped"
fi

# --- errors ----------------------------------------------------------------------------------------
tl_run 30 env CHARGEGATE_SQLDIR=/nonexistent/chargegate-sql "$TL_CTL" -c "$TL_CONF" migrate
tl_check "migrate fails on a missing SQL directory" tl_failed
tl_check "the error names the missing directory" grep -qs /nonexistent/chargegate-sql "$TL_DIR/run.err" "$TL_DIR/run.out"
tl_run 30 env CHARGEGATE_DATABASE_URL="host=127.0.0.1 port=$(tl_free_port) user=postgres connect_timeout=5" \
	"$TL_CTL" -c "$TL_CONF" migrate
tl_check "migrate fails on an unreachable database" tl_failed
tl_check "that failure is explained on stderr" test -s "$TL_DIR/run.err"

# --- a schema whose wiring differs from the build's (src/queue/topology.c) ---------------------
tl_sql "begin; delete from chargegate.subscription where name = 'retry_scheduler'; commit;" >/dev/null
daemon_refuses "when a built-in subscription is missing"
tl_like "$(cat "$TL_DIR/run.err")" 'expects the built-in subscription retry_scheduler of topic callback_delivery' \
	"  and the refusal names it"
tl_run 30 "$TL_CTL" -c "$TL_CONF" migrate
tl_is "$(tl_sql "select topic from chargegate.subscription where name = 'retry_scheduler' and builtin")" callback_delivery \
	"chargegatectl migrate puts it back"

# --- a schema that is behind -------------------------------------------------------------------------
tl_sql "delete from chargegate.schema_version"
daemon_refuses "when no migration is recorded"

tl_done

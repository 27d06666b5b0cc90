#!/bin/sh
# DESIGN §3: doc/api.yaml is a usable OpenAPI 3.1 description of the API the
# daemon serves.
#   - An independent validator, @redocly/cli lint (pinned in tests/api),
#     finds no error and no warning (redocly.yaml: its rules and why).
#   - Each response example is replayed against a live daemon (API keys
#     required) by tests/api/contract.mjs: documented status, Content-Type,
#     Location, WWW-Authenticate, Allow, Retry-After, the body against the
#     documented schema (ajv, JSON Schema 2020-12) and the problem type.
#     The database is put in each state the examples name: refusing a row
#     (500), locked by another session (503 database-timeout,
#     writes-blocked), stopped (503 database-unavailable).
#   - Every example ran, and 200, 202, 400, 401, 404, 405, 413, 415, 422,
#     500 and 503 were each answered as documented.
# Skipped, with a diagnostic, only when node or npm is missing
# (scripts/install-deps installs them).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
	echo "# SKIP: node and npm are needed for @redocly/cli and ajv (tests/api);"
	echo "#       run scripts/install-deps (Debian's nodejs and npm packages)"
	exit 77
fi

tl_setup

SPEC=$top_srcdir/doc/api.yaml
STATUSES=200,202,400,401,404,405,413,415,422,500,503
# the checker and its node_modules: in the source tree when it is writable
# (installed once, reused), else in the temporary directory
API=$top_srcdir/tests/api
if [ ! -w "$API" ]; then
	mkdir "$TL_DIR/api"
	cp "$API/package.json" "$API/package-lock.json" "$API/contract.mjs" "$TL_DIR/api/"
	API=$TL_DIR/api
fi
if ! [ -x "$API/node_modules/.bin/redocly" ] || ! (cd "$API" && node -e 'require("ajv/dist/2020")' >/dev/null 2>&1); then
	tl_npm_ci "$API" "@redocly/cli, ajv and yaml"
fi

# --- the description on its own ---------------------------------------------------------
if (cd "$top_srcdir" && "$API/node_modules/.bin/redocly" lint --format=stylish --config redocly.yaml "$SPEC") \
	>"$TL_DIR/lint.out" 2>&1 && ! grep -q ' warning ' "$TL_DIR/lint.out"; then
	tl_ok "redocly lint: doc/api.yaml is valid OpenAPI 3.1, no errors, no warnings"
else
	tl_not_ok "redocly lint: doc/api.yaml is valid OpenAPI 3.1, no errors, no warnings" "redocly lint says:"
	tl_diag_file "$TL_DIR/lint.out" 40
fi

# --- the daemon against it ----------------------------------------------------------------
# key NAME: a new API key on stdout
key() {
	tl_run 10 "$TL_CTL" -c "$TL_CONF" api-key create "$1"
	[ "$TL_RC" = 0 ] || tl_bail "chargegatectl api-key create $1 failed: $(cat "$TL_DIR/run.err")"
	cat "$TL_DIR/run.out"
}
KEY=$(key contract) || exit 1
OTHER_KEY=$(key other) || exit 1
tl_start_daemon CHARGEGATE_HTTP_API_KEYS=required CHARGEGATE_DATABASE_QUERY_TIMEOUT=1s ||
	tl_bail "chargegated did not start"

# contract MODE ARGS…: run contract.mjs, one test per line it prints
contract() {
	(cd "$API" && node contract.mjs "$@" --spec "$SPEC" --state "$TL_DIR/contract.json") \
		>"$TL_DIR/contract.out" 2>>"$TL_DIR/contract.err"
	_rc=$?
	_tab=$(printf '\t')
	while IFS=$_tab read -r _verdict _name _why; do
		case $_verdict in
		ok) tl_ok "$_name" ;;
		"not ok") tl_not_ok "$_name" "$_why" ;;
		*) tl_diag "$_verdict" ;;
		esac
	done <"$TL_DIR/contract.out"
	if [ "$_rc" -ne 0 ]; then
		tl_not_ok "contract.mjs $1 runs" "exit status $_rc:"
		tl_diag_file "$TL_DIR/contract.err"
	fi
}
run() {
	contract run --base "$TL_BASE_URL" --key "$KEY" --other-key "$OTHER_KEY" "$@"
}

# a DBA's constraint the daemon knows nothing of: the example's driver_token is refused
tl_sql "alter table chargegate.charging_session_request add constraint contract_refuses
	check (driver_token <> 'refusedByDatabase') not valid" >/dev/null ||
	tl_bail "could not add the refusing constraint"
run --given running --given database-refuses-row

# another session holds the requests' table until it is cancelled
PGAPPNAME=contract-lock psql -qX -c "begin; lock table chargegate.charging_session_request; select pg_sleep(60); commit;" \
	>/dev/null 2>&1 &
LOCKER=$!
# shellcheck disable=SC2317 # called through tl_poll
locked() {
	[ "$(tl_sql "select count(*) from pg_locks l join pg_class c on c.oid = l.relation
		where c.relname = 'charging_session_request' and l.mode = 'AccessExclusiveLock' and l.granted")" = 1 ]
}
tl_poll 5 locked || tl_bail "the lock on charging_session_request was not taken"
run --given database-locked
tl_sql "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'contract-lock'" >/dev/null
wait "$LOCKER"

pgcluster_stop "$TL_PGDIR"
# shellcheck disable=SC2317 # called through tl_poll
not_ready() { tl_http GET /readyz; [ "$TL_STATUS" = 503 ]; }
tl_poll 5 not_ready || tl_diag "/readyz is still $TL_STATUS 5 s after the database stopped"
run --given database-stopped

contract summary --statuses "$STATUSES"
tl_daemon_alive "the daemon runs on"
tl_stop_daemon

tl_done

# shellcheck shell=sh
# Throwaway PostgreSQL clusters for tests and the quickstart.
#
#   . tests/lib/pgcluster.sh
#   pgcluster_start DIR [PORT]   initdb (once) into DIR and start it on PORT
#                                (a free port when omitted); sets PGHOST,
#                                PGPORT, PGUSER, PGDATABASE and CG_DATABASE_URL
#   pgcluster_stop DIR           fast shutdown
#   pgcluster_kill DIR           immediate shutdown (simulates a crash)
#
# PostgreSQL refuses to run as root, so as root the cluster belongs to an
# unprivileged user ($CG_PG_USER, default "chargegate-test"), created here.

CG_PG_USER=${CG_PG_USER:-chargegate-test}
CG_PG_BINDIR=${CG_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

pgcluster__as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$CG_PG_USER" -- "$@"
	else
		"$@"
	fi
}

pgcluster__ensure_user() {
	[ "$(id -u)" -eq 0 ] || return 0
	id "$CG_PG_USER" >/dev/null 2>&1 && return 0
	useradd --system --no-create-home --shell /usr/sbin/nologin "$CG_PG_USER" ||
		{ echo "pgcluster: could not create user $CG_PG_USER" >&2; return 1; }
}

# A port nobody listens on, from a range that avoids well-known services.
pgcluster_free_port() {
	_p=$(( 20000 + ($$ * 7 + $(date +%N | sed 's/^0*//;s/^$/0/') / 1000) % 20000 ))
	while ss -Htln "sport = :$_p" 2>/dev/null | grep -q . ||
	      [ -e "/tmp/.s.PGSQL.$_p" ]; do
		_p=$((_p + 1))
	done
	echo "$_p"
}

pgcluster_start() {
	_dir=$1
	_port=${2:-}
	[ -n "$CG_PG_BINDIR" ] && [ -x "$CG_PG_BINDIR/initdb" ] ||
		{ echo "pgcluster: PostgreSQL server binaries not found (install postgresql-15)" >&2; return 1; }
	pgcluster__ensure_user || return 1
	mkdir -p "$_dir"
	if [ "$(id -u)" -eq 0 ]; then
		chown "$CG_PG_USER" "$_dir"
		# the owner must be able to reach the directory
		_d=$(dirname "$_dir")
		while [ "$_d" != / ]; do chmod o+x "$_d" 2>/dev/null || true; _d=$(dirname "$_d"); done
	fi
	if [ ! -f "$_dir/data/PG_VERSION" ]; then
		pgcluster__as_owner "$CG_PG_BINDIR/initdb" -D "$_dir/data" -A trust -U postgres \
			--nosync -E UTF8 --locale=C >"$_dir/initdb.log" 2>&1 ||
			{ echo "pgcluster: initdb failed, see $_dir/initdb.log:" >&2; tail -n 20 "$_dir/initdb.log" >&2; return 1; }
	fi
	[ -n "$_port" ] || _port=$(pgcluster_free_port)
	pgcluster__as_owner "$CG_PG_BINDIR/pg_ctl" -D "$_dir/data" -l "$_dir/postgres.log" -w -t 60 \
		-o "-p $_port -k $_dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_preload_libraries=pg_stat_statements ${CG_PG_OPTIONS:-}" \
		start >/dev/null ||
		{ echo "pgcluster: could not start PostgreSQL, see $_dir/postgres.log:" >&2; tail -n 20 "$_dir/postgres.log" >&2; return 1; }
	echo "$_port" >"$_dir/port"
	PGHOST=127.0.0.1 PGPORT=$_port PGUSER=postgres PGDATABASE=postgres
	export PGHOST PGPORT PGUSER PGDATABASE
	CG_DATABASE_URL="host=127.0.0.1 port=$_port user=postgres dbname=postgres"
	export CG_DATABASE_URL
}

pgcluster_stop() {
	[ -f "$1/data/postmaster.pid" ] || return 0
	pgcluster__as_owner "$CG_PG_BINDIR/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1 || true
}

pgcluster_kill() {
	[ -f "$1/data/postmaster.pid" ] || return 0
	pgcluster__as_owner "$CG_PG_BINDIR/pg_ctl" -D "$1/data" -m immediate -w stop >/dev/null 2>&1 || true
}

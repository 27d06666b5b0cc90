#!/bin/sh
# The short form of the chaos run (tests/chaos/chaos.sh): two daemons under
# load, kill -9 every 3 s, a PostgreSQL crash-restart, a flapping receiver
# and a tarpit; nothing lost, nothing decided twice, duplicates keep their
# webhook-id.  tests/chaos/run is the long form (at least 100 kills).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
CHAOS_SECONDS=${CHAOS_SECONDS:-30} CHAOS_KILL_EVERY=${CHAOS_KILL_EVERY:-3} CHAOS_PG_EVERY=${CHAOS_PG_EVERY:-14} \
	exec sh "$top_srcdir/tests/chaos/chaos.sh"

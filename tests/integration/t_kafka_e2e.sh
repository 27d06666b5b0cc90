#!/bin/sh
# The end-to-end suite (tests/integration/t_e2e_*.sh) once more with
# transport.kind = kafka, against librdkafka's mock cluster: every script
# runs unchanged, its daemons get the Kafka settings through TL_DAEMON_ENV
# (tests/lib/testlib.sh), each script with topics of its own.  Before a
# script talks to a fresh daemon, TL_DAEMON_READY waits until every consumer
# of that daemon has its partitions: joining a consumer group takes a few
# seconds (the coordinator's initial rebalance delay), which the suite's
# latency checks would otherwise count.  The mock broker answers an idle
# fetch only after fetch.wait.max.ms (measured: about half of it added to
# every hop), so consumers wait 10 ms here instead of chargegate's 100 ms.  One result per script; a failing
# script's output follows as diagnostics.  Skipped (exit 77) in builds
# without the Kafka module.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"

MODULE=$top_builddir/src/kafka/.libs/kafka.so
MOCK=$top_builddir/tests/kafka/cg-kafka-mock
if [ ! -f "$MODULE" ] || [ ! -x "$MOCK" ]; then
	echo "1..0 # SKIP chargegate was built without the Kafka module (./configure --enable-kafka)"
	exit 77
fi

# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"

tl_setup
"$MOCK" 3 >"$TL_DIR/mock.out" 2>"$TL_DIR/mock.err" &
MOCK_PID=$!
trap '_rc=$?; kill -TERM "$MOCK_PID" 2>/dev/null; (exit "$_rc"); tl__cleanup' EXIT
tl_poll 10 test -s "$TL_DIR/mock.out" || tl_bail "the mock cluster printed no bootstrap address"
BOOT=$(head -n 1 "$TL_DIR/mock.out")
tl_diag "mock cluster at $BOOT"

# ready once every consumer the daemon started has been assigned partitions
TL_DAEMON_READY='started=$(grep -c "kafka consumer: group " "$TL_DAEMON_LOG")
assigned=$(grep "kafka consumer: assigned" "$TL_DAEMON_LOG" | grep -o "subscription=[a-z_]*" | sort -u | wc -l)
[ "$started" -gt 0 ] && [ "$assigned" -ge "$started" ]'
export TL_DAEMON_READY

SCRIPTS=$(ls "$top_srcdir"/tests/integration/t_e2e_*.sh 2>/dev/null)
[ -n "$SCRIPTS" ] || tl_bail "no end-to-end scripts (tests/integration/t_e2e_*.sh) found"
for script in $SCRIPTS; do
	name=$(basename "$script" .sh)
	out=$TL_DIR/$name.out
	TL_DAEMON_ENV="CHARGEGATE_TRANSPORT_KIND=kafka CHARGEGATE_KAFKA_BOOTSTRAP_SERVERS=$BOOT
		CHARGEGATE_KAFKA_TOPIC_PREFIX=$name. CHARGEGATE_KAFKA_MODULE=$MODULE
		CHARGEGATE_KAFKA_PROPERTY_PRODUCER_MESSAGE_TIMEOUT_MS=3000
		CHARGEGATE_KAFKA_PROPERTY_CONSUMER_FETCH_WAIT_MAX_MS=10" \
		timeout -k 10 600 sh "$script" >"$out" 2>&1
	rc=$?
	summary=$(grep '^# [0-9]* passed, [0-9]* failed' "$out" | tail -n 1 | sed 's/^# //')
	if [ "$rc" -eq 0 ]; then
		tl_ok "$name with transport.kind = kafka ($summary)"
	elif [ "$rc" -eq 77 ]; then
		tl_ok "$name with transport.kind = kafka # SKIP the script skipped itself"
	else
		tl_not_ok "$name with transport.kind = kafka (exit status $rc; ${summary:-no summary})" \
			"its failures:"
		grep -A 8 '^not ok\|^Bail out' "$out" | head -n 60 | sed 's/^/#   /'
	fi
done
tl_done

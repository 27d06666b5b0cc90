#!/bin/sh
# The Kafka transport (transport.kind = kafka, ./configure --enable-kafka)
# end to end against librdkafka's mock cluster (tests/kafka/cg-kafka-mock:
# three brokers on loopback speaking the real protocol):
#   - the daemon refuses to start without the module, or with a bad
#     kafka.property.*, and says why (librdkafka's own message);
#   - requests of each decision are delivered end to end through Kafka;
#   - kcat finds the request id as key, the event_id/event_type headers and
#     the payload on {prefix}charging_session_request;
#   - a handler that fails is retried without losing or skipping a message
#     (cg-queue-worker --transport kafka --fail-every N: every event handled
#     exactly once, the failures through the PostgreSQL retry storage);
#   - kill -9 of the daemon under load loses no accepted request.
# Skipped (exit 77) in builds without the Kafka module.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"

MODULE=$top_builddir/src/kafka/.libs/kafka.so
MOCK=$top_builddir/tests/kafka/cg-kafka-mock
WORKER=$top_builddir/tests/queue/cg-queue-worker
if [ ! -f "$MODULE" ] || [ ! -x "$MOCK" ]; then
	echo "1..0 # SKIP chargegate was built without the Kafka module (./configure --enable-kafka)"
	exit 77
fi

# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

PREFIX=cgtest.
N=200			# requests posted while the daemon is killed
KILL_AT=60		# requests in the database when it is killed

command -v kcat >/dev/null 2>&1 || tl_bail "kcat is not installed (scripts/install-deps installs it)"
demo_setup

# --- the mock cluster ------------------------------------------------------------------------
"$MOCK" 3 >"$TL_DIR/mock.out" 2>"$TL_DIR/mock.err" &
MOCK_PID=$!
DEMO_PIDS="$DEMO_PIDS $MOCK_PID"	# stopped with the demo services
tl_poll 10 test -s "$TL_DIR/mock.out" || tl_bail "the mock cluster printed no bootstrap address"
BOOT=$(head -n 1 "$TL_DIR/mock.out")
tl_like "$BOOT" '^127\.0\.0\.1:[0-9]+(,127\.0\.0\.1:[0-9]+){2}$' "the mock cluster runs 3 brokers on loopback"

KAFKA_ENV="CHARGEGATE_TRANSPORT_KIND=kafka CHARGEGATE_KAFKA_BOOTSTRAP_SERVERS=$BOOT
	CHARGEGATE_KAFKA_TOPIC_PREFIX=$PREFIX CHARGEGATE_KAFKA_MODULE=$MODULE
	CHARGEGATE_KAFKA_PROPERTY_PRODUCER_MESSAGE_TIMEOUT_MS=3000"

# refused VAR=value…: chargegated exits 1 at start (config file $REFUSE_CONF,
# default the test's); its stderr is in run.err
refused() {
	# shellcheck disable=SC2086 # word splitting wanted
	tl_run 30 env CHARGEGATE_HTTP_LISTEN="127.0.0.1:$(tl_free_port)" CHARGEGATE_AUTHORIZATION_URL=http://127.0.0.1:9/ \
		$KAFKA_ENV "$@" "$TL_DAEMON" -c "${REFUSE_CONF:-$TL_CONF}"
	[ "$TL_RC" -eq 1 ]
}

# refusal NAME PATTERN VAR=value…
refusal() {
	_name=$1 _pat=$2
	shift 2
	if refused "$@" && grep -Eq -- "$_pat" "$TL_DIR/run.err"; then
		tl_ok "$_name"
	else
		tl_not_ok "$_name" "exit status $TL_RC; expected 1 and stderr matching: $_pat" "stderr was:"
		tl_diag_file "$TL_DIR/run.err"
	fi
}

# --- refusals at start -----------------------------------------------------------------------------
refusal "without the module, transport.kind = kafka is refused and the message says how to get it" \
	'Kafka module.*--enable-kafka.*chargegate-kafka' CHARGEGATE_KAFKA_MODULE="$TL_DIR/no-such-kafka.so"
refusal "an unknown kafka.property is refused with librdkafka's message" \
	'kafka\.property\.no\.such\.property: No such configuration property' \
	CHARGEGATE_KAFKA_PROPERTY_NO_SUCH_PROPERTY=1
printf '[kafka]\nproperty.socket.timeout.ms = soon\n' >"$TL_DIR/bad-property.conf"
REFUSE_CONF=$TL_DIR/bad-property.conf
refusal "a malformed kafka.property value in the file is refused with librdkafka's message" \
	'kafka\.property\.socket\.timeout\.ms: .*[Ii]nvalid value'
REFUSE_CONF=
refusal "a property chargegate sets itself is refused (offsets are committed after the transaction)" \
	'enable\.auto\.commit.*committed only after' CHARGEGATE_KAFKA_PROPERTY_ENABLE_AUTO_COMMIT=true

# --- a failing handler: retried through PostgreSQL, nothing lost or skipped ------------------------
# (before the daemon runs: the worker's relay must see every outbox row)
W=300
tl_sql "create schema chargegate_test;
	create table chargegate_test.handled (subscription text not null, event_id uuid not null);
	insert into chargegate.charging_session_request_outbox (event_type, aggregate_id, payload)
	select 'StartChargingSessionRequestCommand', gen_random_uuid(), jsonb_build_object('n', g)
	  from generate_series(1, $W) g" >/dev/null || tl_bail "could not prepare the worker's outbox rows"
tl_run 120 env CHARGEGATE_KAFKA_MODULE="$MODULE" "$WORKER" --db "$CG_DATABASE_URL" --transport kafka --kafka "$BOOT" \
	--kafka-prefix cgworker. --subscription wtest --topic charging_session_request --poll 200 --record \
	--relay --fail-every 7 --exit-idle 4000
tl_is "$TL_RC|$(cat "$TL_DIR/run.out")" "0|handled $W relayed $W" \
	"cg-queue-worker over Kafka relays $W rows and handles $W messages, every 7th failing once" ||
	tl_diag_file "$TL_DIR/run.err"
tl_is "$(tl_sql "select count(*) || '|' || count(distinct event_id) from chargegate_test.handled where subscription = 'wtest'")" \
	"$W|$W" "every event was handled exactly once (failures retried, none skipped)"
tl_is "$(tl_sql "select count(*) from chargegate.subscription_batch where subscription = 'wtest'")" 0 \
	"the retries of the failed messages (PostgreSQL retry storage) are all settled"
tl_is "$(tl_count charging_session_request_outbox 'published_at is null')|$(tl_count outbox_lease)" "0|0" \
	"every outbox row is marked published after its delivery report; no lease is left"
tl_run 30 timeout -s INT 8 env CHARGEGATE_KAFKA_MODULE="$MODULE" "$WORKER" --db "$CG_DATABASE_URL" --transport kafka \
	--kafka "$BOOT" --kafka-prefix cgworker. --subscription wtest --topic charging_session_request --record
tl_is "$(cat "$TL_DIR/run.out")" "handled 0 relayed 0" \
	"a new consumer of the group gets nothing again: offsets were committed after each settle"

# --- the four decisions end to end through Kafka ---------------------------------------------------------
RULES=$TL_DIR/rules
cat >"$RULES" <<'RULES'
allow    *  validDriverToken123
deny     *  stolenToken   BLOCKED
unknown  *  flakyToken
default  not_allowed
RULES
demo_authz_start --rules "$RULES"
demo_receiver_start
LISTEN=127.0.0.1:$(tl_free_port)
# shellcheck disable=SC2086 # word splitting wanted
kafka_daemon() { demo_e2e_daemon $KAFKA_ENV CHARGEGATE_HTTP_LISTEN="$LISTEN" "$@"; }
kafka_daemon || tl_bail "chargegated did not start with transport.kind = kafka"
tl_check "the daemon runs the kafka transport" grep -q 'transport kafka' "$TL_DAEMON_LOG"
CB=$DEMO_RECEIVER/cb

RIDS=
for t in validDriverToken123 stolenToken flakyToken someoneElse; do
	demo_request "$t" "$CB"
	tl_status 202 "$t: the request is accepted"
	RIDS="$RIDS $DEMO_RID"
done
RID_INV=$(tl_sql "select gen_random_uuid()")
tl_sql "begin;
	insert into chargegate.charging_session_request (request_id, station_id, driver_token, callback_url)
	values (:'rid', :'st', 'validDriverToken123', :'cb');
	insert into chargegate.charging_session_request_outbox (event_type, aggregate_id, payload)
	values ('StartChargingSessionRequestCommand', :'rid',
		jsonb_build_object('request_id', :'rid', 'station_id', 'not-a-uuid',
				   'driver_token', 'validDriverToken123', 'callback_url', :'cb'));
	select pg_notify('chargegate_charging_session_request_outbox', '');
	commit;" -v rid="$RID_INV" -v st="$DEMO_STATION" -v cb="$CB" >/dev/null
RIDS="$RIDS $RID_INV"

set -- allowed not_allowed unknown not_allowed invalid
for rid in $RIDS; do
	dec=$1
	shift
	if demo_wait_status "$rid" delivered 30; then
		tl_ok "$dec: the request ends delivered"
	else
		tl_not_ok "$dec: the request ends delivered" "status after 30 s: $(demo_field "$rid" status)"
	fi
	tl_is "$(demo_field "$rid" "decision || '|' || callback_attempts")" "$dec|1" "$dec: decision $dec, one attempt"
	demo_received
	demo_entries "$rid"
	tl_is "$(tl_json '#' "$TL_DIR/entries.json")|$(tl_json 0.body.status "$TL_DIR/entries.json")" "1|$dec" \
		"$dec: the receiver got one callback with the decision"
done
tl_is "$(tl_sql "select decision_reason from chargegate.charging_session_request where driver_token = 'stolenToken'")" \
	BLOCKED "not_allowed: the reason travels through Kafka"

# --- what Kafka holds: keys, headers, payloads (kcat) ----------------------------------------------------------
set -- $RIDS
RID=$1
kread() {
	timeout 30 kcat -b "$BOOT" -C -t "$PREFIX$1" -e -q -f '%k %h %s\n' >"$TL_DIR/kcat.$1" 2>"$TL_DIR/kcat.err"
}
kread charging_session_request
EV=$(tl_sql "select event_id from chargegate.charging_session_request_outbox where aggregate_id::text = :'rid'" -v rid="$RID")
LINE=$(grep "^$RID " "$TL_DIR/kcat.charging_session_request")
tl_like "$LINE" "^$RID event_id=$EV,event_type=StartChargingSessionRequestCommand \\{.*\"request_id\": \"$RID\"" \
	"kcat: ${PREFIX}charging_session_request has the request id as key, event_id/event_type headers and the payload"
tl_like "$LINE" '"driver_token": "validDriverToken123"' "kcat: the payload is the outbox row's JSON"
tl_is "$(awk '{print $1}' "$TL_DIR/kcat.charging_session_request" | grep -c -- "$RID_INV")" 1 \
	"kcat: the command written with SQL was published once"
kread authorization_decision_callback
tl_like "$(grep "^$RID " "$TL_DIR/kcat.authorization_decision_callback")" \
	"^$RID event_id=[0-9a-f-]{36},event_type=AuthorizationDecisionCallback \\{" \
	"kcat: ${PREFIX}authorization_decision_callback carries the decision, keyed by request id"
kread callback_delivery
tl_like "$(grep "^$RID " "$TL_DIR/kcat.callback_delivery")" "^$RID event_id=[0-9a-f-]{36},event_type=CallbackDeliverySucceeded " \
	"kcat: ${PREFIX}callback_delivery carries the delivery outcome, keyed by request id"
published() {
	[ "$(tl_sql "select (select count(*) from chargegate.outbox_lease)
		+ (select count(*) from chargegate.charging_session_request_outbox where published_at is null)
		+ (select count(*) from chargegate.authorization_decision_callback_outbox where published_at is null)
		+ (select count(*) from chargegate.callback_delivery_outbox where published_at is null)")" = 0 ]
}
tl_check "every outbox row is marked published, no lease is left" tl_poll 10 published

# --- kill -9 under load --------------------------------------------------------------------------------------------
FIRST=$TL_DAEMON_PID
demo_post_many "$N" 16 "$CB" "http://$LISTEN" &
POSTER=$!
if tl_poll 60 sh -c "[ \$(psql -tAX -c 'select count(*) from chargegate.charging_session_request') -ge $((KILL_AT + 5)) ]"; then
	tl_ok "$KILL_AT requests are accepted before the kill"
else
	tl_not_ok "$KILL_AT requests are accepted before the kill" "only $(tl_count charging_session_request) after 60 s"
fi
kill -KILL "$FIRST"
wait "$FIRST" 2>/dev/null
TL_DAEMON_PIDS=$(echo "$TL_DAEMON_PIDS" | tr ' ' '\n' | grep -vx "$FIRST" | tr '\n' ' ')
tl_diag "killed chargegated with SIGKILL: $(tl_count charging_session_request) requests in the database," \
	"$(tl_count charging_session_request "status = 'delivered'") delivered, $(tl_count outbox_lease) outbox leases"
kafka_daemon || tl_bail "the second chargegated did not start"
wait "$POSTER"
awk '$1 == 202 { print $2 }' "$TL_DIR/posts.txt" | sort -u >"$TL_DIR/accepted.txt"
ACCEPTED=$(wc -l <"$TL_DIR/accepted.txt" | tr -d ' ')
tl_check "requests were accepted around the kill (got $ACCEPTED)" test "$ACCEPTED" -ge "$KILL_AT"
psql -q -v ON_ERROR_STOP=1 -c 'create table public.accepted (request_id uuid primary key)' \
	-c "\\copy public.accepted from '$TL_DIR/accepted.txt'" >/dev/null
not_delivered() {
	tl_sql "select count(*) from public.accepted a left join chargegate.charging_session_request r using (request_id)
		 where r.status is distinct from 'delivered'"
}
all_delivered() { [ "$(not_delivered)" = 0 ]; }
if tl_poll 120 all_delivered; then
	tl_ok "kill -9 under load: every accepted request ends delivered ($ACCEPTED)"
else
	tl_not_ok "kill -9 under load: every accepted request ends delivered ($ACCEPTED)" "$(not_delivered) are not, after 120 s:" \
		"$(tl_sql "select coalesce(r.status, 'MISSING') || ' ' || count(*) from public.accepted a
			     left join chargegate.charging_session_request r using (request_id)
			     group by coalesce(r.status, 'MISSING')")"
fi
demo_received
demo_missing "$TL_DIR/accepted.txt" >"$TL_DIR/missing.txt"
tl_is "$(wc -l <"$TL_DIR/missing.txt" | tr -d ' ')" 0 "kill -9 under load: the receiver got a callback for every accepted request"
tl_diag "duplicates: $(demo_duplicates)"
tl_is "$(tl_sql "select count(*) from chargegate.subscription_batch where state = 'dead'")" 0 "no dead letters"

tl_stop_daemon
tl_done

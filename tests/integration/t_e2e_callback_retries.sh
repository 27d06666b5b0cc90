#!/bin/sh
# End to end, DESIGN §5: callback failures are retried on
# callback.retry_schedule with the same webhook-id; a receiver failing twice
# gets the decision on the third attempt; a dead receiver ends
# delivery_failed after exactly 1 + len(schedule) attempts and nothing more;
# 410 Gone is final after one attempt; 429/503 with Retry-After delay the
# next attempt by at least that long, capped by callback.max_retry_after;
# a redirect is a failure, not followed; an answer later than
# callback.timeout is a timeout.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

SCHEDULE=100ms,300ms
ATTEMPTS=3		# 1 + len(SCHEDULE)
MAX_RETRY_AFTER_MS=1500
CALLBACK_TIMEOUT_MS=700

demo_setup
echo 'deny * stolenToken BLOCKED' >"$TL_DIR/rules"
demo_authz_start --default allowed --rules "$TL_DIR/rules"
demo_receiver_start --fail-first 2
FLAKY=$DEMO_RECEIVER
demo_receiver_start --status 410
GONE=$DEMO_RECEIVER
demo_receiver_start --status 503 --retry-after 1
BUSY=$DEMO_RECEIVER
demo_receiver_start --status 429 --retry-after 3600
SLOW=$DEMO_RECEIVER
demo_receiver_start --status 302
MOVED=$DEMO_RECEIVER
demo_receiver_start --delay 1500
LATE=$DEMO_RECEIVER
DEAD=http://127.0.0.1:$(tl_free_port)
demo_e2e_daemon CHARGEGATE_CALLBACK_RETRY_SCHEDULE=$SCHEDULE CHARGEGATE_CALLBACK_TIMEOUT=${CALLBACK_TIMEOUT_MS}ms \
	CHARGEGATE_CALLBACK_MAX_RETRY_AFTER=${MAX_RETRY_AFTER_MS}ms || tl_bail "chargegated did not start"

# all at once: the cases run side by side
demo_request stolenToken "$FLAKY/cb"; RID_FLAKY=$DEMO_RID
demo_request validDriverToken123 "$DEAD/cb"; RID_DEAD=$DEMO_RID
demo_request validDriverToken123 "$GONE/cb"; RID_GONE=$DEMO_RID
demo_request validDriverToken123 "$BUSY/cb"; RID_BUSY=$DEMO_RID
demo_request validDriverToken123 "$SLOW/cb"; RID_SLOW=$DEMO_RID
demo_request validDriverToken123 "$MOVED/cb"; RID_MOVED=$DEMO_RID
demo_request validDriverToken123 "$LATE/cb"; RID_LATE=$DEMO_RID
tl_check "seven requests are accepted" test -n "$RID_FLAKY" -a -n "$RID_DEAD" -a -n "$RID_GONE" -a -n "$RID_BUSY" \
	-a -n "$RID_SLOW" -a -n "$RID_MOVED" -a -n "$RID_LATE"

# attempts RID: "attempt:final:error_class" for each recorded attempt, in order
attempts() {
	tl_sql "select string_agg(attempt || ':' || final || ':' || coalesce(error_class, '-'), ' ' order by attempt, id)
		  from chargegate.callback_delivery_attempt where request_id::text = :'rid'" -v rid="$1"
}
# gaps FILE: the milliseconds between consecutive entries of a receiver
gaps() {
	perl -MJSON::PP -e '
		open(my $fh, "<:raw", $ARGV[0]) or die; local $/;
		my @t = sort { $a <=> $b } map { $_->{received_at_ms} } @{ decode_json(<$fh>) };
		print join(" ", map { $t[$_] - $t[$_ - 1] } 1 .. $#t), "\n";
	' "$1"
}
# gaps_at_least MIN GAPS…: every gap is MIN or more
gaps_at_least() {
	_min=$1
	shift
	[ $# -gt 0 ] || return 1
	for _g in "$@"; do [ "$_g" -ge "$_min" ] || return 1; done
}
gaps_below() {
	_max=$1
	shift
	for _g in "$@"; do [ "$_g" -lt "$_max" ] || return 1; done
}
status_line() {
	tl_http GET "/v1/charging-sessions/$1"
	echo "$TL_STATUS|$(tl_json status)|$(tl_json decision)|$(tl_json callback_attempts)"
}

# --- a receiver failing twice ----------------------------------------------------------------
if demo_wait_status "$RID_FLAKY" delivered 10; then
	tl_ok "failing twice: the request ends delivered"
else
	tl_not_ok "failing twice: the request ends delivered" "status: $(demo_field "$RID_FLAKY" status)"
fi
tl_is "$(status_line "$RID_FLAKY")" "200|delivered|not_allowed|3" "failing twice: GET shows delivered after 3 callback attempts"
tl_is "$(attempts "$RID_FLAKY")" "1:false:http_500 2:false:http_500 3:true:-" \
	"failing twice: attempts 1 and 2 failed with http_500, attempt 3 succeeded and was final"
demo_received "$FLAKY"
demo_entries "$RID_FLAKY"
E=$TL_DIR/entries.json
tl_is "$(tl_json '*.answered' "$E" | paste -sd, -)" "500,500,200" "failing twice: the receiver answered 500, 500, 200"
tl_is "$(tl_json '*.webhook_id' "$E" | sort -u | wc -l | tr -d ' ')" 1 "failing twice: all three attempts carry the same webhook-id"
tl_is "$(tl_json '*.body' "$E" | sort -u | wc -l | tr -d ' ')|$(tl_json 2.body.status "$E")|$(tl_json 2.body.reason "$E")" \
	"1|not_allowed|BLOCKED" "failing twice: every attempt carries the same body, with the decision and its reason"
tl_is "$(tl_json 0.webhook_id "$E")" \
	"$(tl_sql "select distinct webhook_id from chargegate.callback_delivery_attempt where request_id::text = :'rid'" -v rid="$RID_FLAKY")" \
	"failing twice: the webhook-id is the one recorded with the attempts"
# shellcheck disable=SC2046 # one gap per word
set -- $(gaps "$E")
if [ $# -eq 2 ] && [ "$1" -ge 80 ] && [ "$2" -ge 240 ]; then
	tl_ok "failing twice: the retries follow the schedule $SCHEDULE (-20 % jitter at most)"
else
	tl_not_ok "failing twice: the retries follow the schedule $SCHEDULE (-20 % jitter at most)" "gaps between attempts: $* ms"
fi

# --- nothing listening -------------------------------------------------------------------------------
if demo_wait_status "$RID_DEAD" delivery_failed 10; then
	tl_ok "dead receiver: the request ends delivery_failed"
else
	tl_not_ok "dead receiver: the request ends delivery_failed" "status: $(demo_field "$RID_DEAD" status)"
fi
tl_is "$(attempts "$RID_DEAD")" "1:false:connect 2:false:connect 3:true:connect" \
	"dead receiver: exactly $ATTEMPTS attempts (1 + len(schedule)), the last one final"
tl_is "$(tl_sql "select count(*) filter (where next_attempt_at is not null) || '/' || count(*)
		   from chargegate.callback_delivery_attempt where request_id::text = :'rid'" -v rid="$RID_DEAD")" \
	"2/3" "dead receiver: the non-final attempts name the next attempt's time"

# --- 410 Gone ------------------------------------------------------------------------------------------
if demo_wait_status "$RID_GONE" delivery_failed 10; then
	tl_ok "410: the request ends delivery_failed"
else
	tl_not_ok "410: the request ends delivery_failed" "status: $(demo_field "$RID_GONE" status)"
fi
tl_is "$(attempts "$RID_GONE")" "1:true:http_410" "410: one attempt, final, error class http_410"
tl_is "$(status_line "$RID_GONE")" "200|delivery_failed|allowed|1" "410: GET shows delivery_failed after 1 attempt"

# --- Retry-After -----------------------------------------------------------------------------------------
for rid in "$RID_BUSY" "$RID_SLOW"; do
	demo_wait_status "$rid" delivery_failed 15 ||
		tl_diag "request $rid: status $(demo_field "$rid" status) after 15 s"
done
tl_is "$(attempts "$RID_BUSY")" "1:false:http_503 2:false:http_503 3:true:http_503" \
	"503 + Retry-After: $ATTEMPTS attempts, then delivery_failed"
demo_received "$BUSY"
demo_entries "$RID_BUSY"
# shellcheck disable=SC2046
set -- $(gaps "$E")
if [ $# -eq 2 ] && gaps_at_least 1000 "$@"; then
	tl_ok "503 + Retry-After: 1: no retry earlier than 1 s after the previous attempt (schedule $SCHEDULE)"
else
	tl_not_ok "503 + Retry-After: 1: no retry earlier than 1 s after the previous attempt (schedule $SCHEDULE)" \
		"gaps between attempts: $* ms"
fi
# webhook-timestamp is fresh on each attempt (§5): here attempts are over 1 s apart
tl_is "$(perl -MJSON::PP -e '
	open(my $fh, "<:raw", $ARGV[0]) or die; local $/; my @e = @{ decode_json(<$fh>) };
	my @bad = grep { abs($_->{webhook_timestamp} - int($_->{received_at_ms} / 1000)) > 2 } @e;
	my $up = 1; $up &&= $e[$_]{webhook_timestamp} > $e[$_ - 1]{webhook_timestamp} for 1 .. $#e;
	print scalar(@e), " attempts, ", scalar(@bad), " stale, ", ($up ? "increasing" : "not increasing"), "\n";
' "$E")" "3 attempts, 0 stale, increasing" "503 + Retry-After: webhook-timestamp is fresh on each attempt"
tl_is "$(tl_sql "select count(*) from chargegate.callback_delivery_attempt
		   where request_id::text = :'rid' and not final
		     and next_attempt_at < created_at + interval '900 milliseconds'" \
		-v rid="$RID_BUSY")" 0 "503 + Retry-After: 1: next_attempt_at is about 1 s after each failure"
tl_is "$(attempts "$RID_SLOW")" "1:false:http_429 2:false:http_429 3:true:http_429" \
	"429 + Retry-After: 3600: $ATTEMPTS attempts, then delivery_failed"
demo_received "$SLOW"
demo_entries "$RID_SLOW"
# shellcheck disable=SC2046
set -- $(gaps "$E")
# (the upper bound only tells a capped delay from the 3600 s asked for; it
# leaves room for a loaded machine)
if [ $# -eq 2 ] && gaps_at_least $((MAX_RETRY_AFTER_MS - 50)) "$@" && gaps_below $((MAX_RETRY_AFTER_MS + 8000)) "$@"; then
	tl_ok "429 + Retry-After: 3600: the delay is capped by callback.max_retry_after (${MAX_RETRY_AFTER_MS}ms)"
else
	tl_not_ok "429 + Retry-After: 3600: the delay is capped by callback.max_retry_after (${MAX_RETRY_AFTER_MS}ms)" \
		"gaps between attempts: $* ms"
fi

# --- a redirect is a failure and is not followed; a slow receiver times out ---------------------------
for rid in "$RID_MOVED" "$RID_LATE"; do
	demo_wait_status "$rid" delivery_failed 15 ||
		tl_diag "request $rid: status $(demo_field "$rid" status) after 15 s"
done
tl_is "$(attempts "$RID_MOVED")" "1:false:http_302 2:false:http_302 3:true:http_302" \
	"302: a failure each time (redirects are never followed), then delivery_failed"
tl_is "$(attempts "$RID_LATE")" "1:false:timeout 2:false:timeout 3:true:timeout" \
	"an answer later than callback.timeout (${CALLBACK_TIMEOUT_MS}ms) is a timeout each time, then delivery_failed"
tl_is "$(tl_sql "select count(*) from chargegate.callback_delivery_attempt where request_id::text = :'rid'
		   and latency_ms between $((CALLBACK_TIMEOUT_MS - 20)) and $((CALLBACK_TIMEOUT_MS + 1000))" -v rid="$RID_LATE")" 3 \
	"each timed-out attempt took about callback.timeout"

# --- and then nothing more -----------------------------------------------------------------------------------
# settled: every outbox row is published and every subscription of its topic
# that takes its event type (subscription.event_types) has handled it (any transport: handled_event is written with the handler's
# own writes).  Then nothing is left that could make another attempt: a retry
# scheduled after a final failure would be a row still pending, or published
# and handled, its attempt recorded.
settled_state() {
	tl_sql "with rows as (
		    select 'charging_session_request_outbox' as outbox, event_id, event_type, published_at
		      from chargegate.charging_session_request_outbox
		    union all select 'authorization_decision_callback_outbox', event_id, event_type, published_at
		      from chargegate.authorization_decision_callback_outbox
		    union all select 'callback_delivery_outbox', event_id, event_type, published_at from chargegate.callback_delivery_outbox
		    union all select 'callback_retry_outbox', event_id, event_type, published_at from chargegate.callback_retry_outbox)
		  select (select count(*) from rows where published_at is null) || ' unpublished, '
		         || (select count(*) from rows r
		               join chargegate.outbox o on o.name = r.outbox
		               join chargegate.subscription s on s.topic = o.topic
		              where r.published_at is not null
		                and (s.event_types is null or r.event_type = any (s.event_types))
		                and not exists (select 1 from chargegate.handled_event h
		                                 where h.subscription = s.name and h.event_id = r.event_id)) || ' unhandled'"
}
# shellcheck disable=SC2317 # called through tl_poll
settled() { [ "$(settled_state)" = "0 unpublished, 0 unhandled" ]; }
before=$(tl_count callback_delivery_attempt)
if tl_poll 20 settled; then
	tl_ok "the pipeline settles: every event published and handled by every subscription"
else
	tl_not_ok "the pipeline settles: every event published and handled by every subscription" "$(settled_state)"
fi
tl_is "$(tl_count callback_delivery_attempt)" "$before" "no attempt follows a final one"
tl_is "$(tl_count callback_retry_outbox "published_at is null")" 0 "no retry is left pending"
demo_received "$GONE"
tl_is "$(tl_json '#' "$TL_DIR/received.json")" 1 "410: the receiver was called exactly once"
tl_is "$(demo_received_count "$FLAKY")|$(demo_received_count "$BUSY")|$(demo_received_count "$SLOW")|$(demo_received_count "$MOVED")|$(demo_received_count "$LATE")" "3|3|3|3|3" \
	"the other receivers were called exactly $ATTEMPTS times each"

tl_stop_daemon
tl_done

#!/bin/sh
# The shipped monitoring (packaging/monitoring/, issue 16) works with the
# daemon as it is: the alert rules pass "promtool check rules" and their
# unit tests; the Grafana dashboard is valid JSON with PromQL that parses;
# every alert has its runbook section in doc/operations.md; and every
# metric name the rules and the dashboard use is in the /metrics scrape of
# a live daemon that has delivered a callback, retried a failed one, timed
# out an authorization call and given up a failure notice to
# callback.failure_url -- with those events counted -- whose exposition
# passes "promtool check metrics".  A daemon without relays
# shows the request it cannot relay as an outbox backlog with an age, and
# its pools without connections while the database is stopped.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

MON=$top_srcdir/packaging/monitoring
RULES=$MON/chargegate-alerts.yml
DASHBOARD=$MON/chargegate-dashboard.json
RUNBOOK=$top_srcdir/doc/operations.md

command -v promtool >/dev/null 2>&1 || tl_bail "promtool is not installed (run scripts/install-deps)"
command -v jq >/dev/null 2>&1 || tl_bail "jq is not installed (run scripts/install-deps)"

demo_setup

# --- the files on their own --------------------------------------------------------

if promtool check rules "$RULES" >"$TL_DIR/check-rules.out" 2>&1; then
	tl_ok "promtool check rules accepts chargegate-alerts.yml"
else
	tl_not_ok "promtool check rules accepts chargegate-alerts.yml"
	tl_diag_file "$TL_DIR/check-rules.out"
fi
# promtool finds rule_files relative to the test file
if (cd "$MON" && promtool test rules chargegate-alerts.test.yml) >"$TL_DIR/test-rules.out" 2>&1; then
	tl_ok "promtool test rules: every alert fires and stays quiet as its unit tests say"
else
	tl_not_ok "promtool test rules: every alert fires and stays quiet as its unit tests say"
	tl_diag_file "$TL_DIR/test-rules.out"
fi

# alert_names: the alert names of the rules file, one a line
alert_names() {
	sed -n 's/^[[:space:]]*-[[:space:]]*alert:[[:space:]]*\([A-Za-z0-9_]*\).*/\1/p' "$RULES"
}
# every alert has a unit test that expects it to fire
untested=
for a in $(alert_names); do
	grep -Eq "alertname:[[:space:]]*$a\$" "$MON/chargegate-alerts.test.yml" || untested="$untested $a"
done
tl_is "${untested:-none}" none "every alert has unit tests in chargegate-alerts.test.yml"

# rule_exprs: each rule's expr on one line (block scalars joined)
rule_exprs() {
	perl -ne '
		if (/^(\s*)expr:\s*\|\s*$/) { $ind = length($1); $e = ""; $in = 1; next; }
		if ($in) {
			if (/^(\s*)\S/ && length($1) > $ind) { chomp; s/^\s+//; $e .= " $_"; next; }
			print "$e\n"; $in = 0;
		}
		print "$1\n" if /^\s*expr:\s*(\S.*)$/;
		END { print "$e\n" if $in; }
	' "$RULES"
}

json_valid() {
	jq -e . "$1" >/dev/null
}
tl_check "the dashboard is valid JSON" json_valid "$DASHBOARD"
tl_is "$(jq -r '.schemaVersion >= 36' "$DASHBOARD")" true "the dashboard's schemaVersion is 36 or later"
tl_is "$(jq -r '[.templating.list[] | select(.type == "datasource" and .query == "prometheus")] | length' "$DASHBOARD")" 1 \
	"the dashboard has a Prometheus data source variable"
tl_is "$(jq -r '[.panels[] | select(.type != "row") | select(.datasource.uid != "${datasource}")] | length' "$DASHBOARD")" 0 \
	"every dashboard panel uses the data source variable"

# dashboard_exprs: the dashboard's PromQL, one a line, with Grafana's
# variables replaced by what they stand for
dashboard_exprs() {
	# shellcheck disable=SC2016 # Grafana's variables, not the shell's
	jq -r '.. | objects | select(has("expr")) | .expr' "$DASHBOARD" |
		sed 's/\$__rate_interval/5m/g; s/\$instance/.*/g'
}

# the dashboard's queries parse: promtool checks them as recording rules
{
	echo "groups:"
	echo "  - name: dashboard"
	echo "    rules:"
	i=0
	dashboard_exprs | while IFS= read -r e; do
		i=$((i + 1))
		printf '      - record: dashboard:expr%d\n        expr: %s\n' "$i" "$(printf '%s' "$e" | jq -Rs .)"
	done
} >"$TL_DIR/dashboard-rules.yml"
if promtool check rules "$TL_DIR/dashboard-rules.yml" >"$TL_DIR/check-dashboard.out" 2>&1; then
	tl_ok "every PromQL expression of the dashboard parses"
else
	tl_not_ok "every PromQL expression of the dashboard parses"
	tl_diag_file "$TL_DIR/check-dashboard.out"
fi

# the runbook: one subsection per alert, named as the alert, and each
# alert's runbook_url points at it
missing=
for a in $(alert_names); do
	grep -Eq "^### $a\$" "$RUNBOOK" || missing="$missing $a"
done
tl_is "${missing:-none}" none "doc/operations.md has a runbook subsection named after each alert"
badurl=$(perl -ne '
	$a = $1 if /^\s*-\s*alert:\s*(\S+)/;
	if (/^\s*runbook_url:\s*"?([^"\s]+)"?/) {
		my ($u, $want) = ($1, "operations.md#" . lc $a);
		print "$a ($u) " unless $u =~ /\Q$want\E$/;
	}' "$RULES")
tl_is "${badurl:-none}" none "each alert's runbook_url points to its runbook subsection"
tl_is "$(alert_names | wc -l)" "$(grep -c 'runbook_url:' "$RULES")" "every alert has a runbook_url"

# --- names against a live scrape -----------------------------------------------------

# metric_names: the metric names in the PromQL on stdin, one a line: quoted
# strings, range durations, offsets and grouping clauses dropped, then
# every identifier followed by "{", ")", the end, or a blank and anything but
# "(" (a function or an aggregation), that is not a keyword
metric_names() {
	perl -ne '
		s/"(?:[^"\\]|\\.)*"//g;
		s/\[[^\]]*\]//g;
		s/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)//g;
		s/\boffset\s+\S+//g;
		while (/\b([A-Za-z_:][A-Za-z0-9_:]*)(?=\s*[{)]|\s*$|\s+[^\s(])/g) {
			my $n = $1;
			next if $n =~ /^(?:and|or|unless|bool|by|without|on|ignoring|group_left|group_right|offset|inf|nan)$/i;
			print "$n\n";
		}
	' | sort -u
}

demo_authz_start --default allowed --fail-first 1 --fail-mode hang
demo_receiver_start
CB=$DEMO_RECEIVER/cb
demo_receiver_start --fail-first 1
CB_FAIL_FIRST=$DEMO_RECEIVER/cb
# 410 Gone ends a callback and a failure notice at their first attempt
demo_receiver_start --status 410
GONE=$DEMO_RECEIVER
demo_e2e_daemon CHARGEGATE_AUTHORIZATION_TIMEOUT=300ms CHARGEGATE_CALLBACK_FAILURE_URL="$GONE/failed" ||
	tl_bail "chargegated did not start"

SCRAPE=$TL_DIR/metrics.txt
scrape() {
	curl -sS --max-time 10 -o "$SCRAPE" "$TL_BASE_URL/metrics" 2>"$TL_DIR/curl.err"
}
# sample NAME{LABELS}: the value of one series of the last scrape ("" if absent)
sample() {
	awk -v s="$1" '$1 == s { print $2 }' "$SCRAPE"
}

# the first request: its authorization call hangs (unknown after the
# timeout), its first callback gets a 500, the retry is delivered
demo_request validDriverToken123 "$CB_FAIL_FIRST"
rid1=$DEMO_RID
demo_wait_status "$rid1" delivered 15 || tl_not_ok "request 1 is delivered" "status: $(demo_field "$rid1" status)"
demo_request validDriverToken123 "$CB"
rid2=$DEMO_RID
demo_wait_status "$rid2" delivered 15 || tl_not_ok "request 2 is delivered" "status: $(demo_field "$rid2" status)"
tl_is "$(demo_field "$rid1" "decision || '|' || callback_attempts")|$(demo_field "$rid2" "decision || '|' || callback_attempts")" \
	"unknown|2|allowed|1" "the traffic: a timed-out authorization and a retried callback, then a clean request"

# the third request's receiver is gone: delivery_failed, and the notice of
# it to callback.failure_url is refused as well (what
# ChargegateFailureNoticeGivenUp reads)
demo_request validDriverToken123 "$GONE/cb"
rid3=$DEMO_RID
demo_wait_status "$rid3" delivery_failed 15 || tl_not_ok "request 3 ends delivery_failed" "status: $(demo_field "$rid3" status)"
notice_given_up() {
	scrape && [ "$(sample 'chargegate_failure_notifications_total{result="given_up"}')" = 1 ]
}
tl_poll 15 notice_given_up || tl_not_ok "the failure notice of request 3 is given up within 15 s" \
	"$(grep '^chargegate_failure_notifications' "$SCRAPE" | tr '\n' ' ')"
# the queue figures are read every few seconds: wait for the first reading
figures_read() {
	scrape && [ -n "$(sample 'chargegate_subscription_oldest_age_seconds{subscription="notification"}')" ]
}
tl_poll 15 figures_read || tl_not_ok "the queue figures appear in /metrics within 15 s"

if promtool check metrics <"$SCRAPE" >"$TL_DIR/check-metrics.out" 2>&1; then
	tl_ok "promtool check metrics finds nothing to lint in the exposition"
else
	tl_not_ok "promtool check metrics finds nothing to lint in the exposition"
	tl_diag_file "$TL_DIR/check-metrics.out"
fi

# scraped: the metric names with a sample in the scrape
sed -n 's/^\([A-Za-z_:][A-Za-z0-9_:]*\)[{ ].*/\1/p' "$SCRAPE" | sort -u >"$TL_DIR/scraped.txt"
# "up" is Prometheus's own
rule_exprs | metric_names | grep -vx up >"$TL_DIR/rule-names.txt"
dashboard_exprs | metric_names | grep -vx up >"$TL_DIR/dashboard-names.txt"
tl_check "the rules use metrics (the name parser finds them)" [ "$(wc -l <"$TL_DIR/rule-names.txt")" -ge 10 ]
tl_is "$(comm -23 "$TL_DIR/rule-names.txt" "$TL_DIR/scraped.txt" | tr '\n' ' ')" "" \
	"every metric the alert rules use is exported by the daemon"
tl_is "$(comm -23 "$TL_DIR/dashboard-names.txt" "$TL_DIR/scraped.txt" | tr '\n' ' ')" "" \
	"every metric the dashboard uses is exported by the daemon"

# the events are counted, under the labels the rules select
tl_is "$(sample 'chargegate_authorization_failures_total{cause="timeout"}')|$(sample 'chargegate_authorization_decisions_total{decision="unknown"}')|$(sample 'chargegate_authorization_decisions_total{decision="allowed"}')|$(sample 'chargegate_authorization_duration_seconds_count{}')" \
	"1|1|2|3" "authorization: one timeout, one unknown and two allowed decisions, three calls timed"
tl_is "$(sample 'chargegate_callback_attempts_total{outcome="delivered"}')|$(sample 'chargegate_callback_attempts_total{outcome="failed"}')|$(sample 'chargegate_callback_failures_total{error_class="http_5xx"}')|$(sample 'chargegate_callback_failures_total{error_class="http_4xx"}')|$(sample 'chargegate_callback_duration_seconds_count{}')" \
	"2|2|1|1|4" "callbacks: two delivered, two failed (http_5xx, then the 410 as http_4xx), four attempts timed"
tl_is "$(sample 'chargegate_failure_notifications_total{result="given_up"}')|$(sample 'chargegate_failure_notifications_total{result="delivered"}')|$(sample 'chargegate_failure_notifications_total{result="failed"}')|$(sample 'chargegate_failure_notifications_skipped_total{}')" \
	"1|0|0|0" "failure notices: the one of the request whose receiver is gone is given up, none delivered, none skipped"
API_POOL=$(sample 'chargegate_database_pool_size{pool="api"}')
tl_check "the API pool's size is on /metrics (${API_POOL:-absent})" test -n "$API_POOL"
tl_is "$(sample 'chargegate_database_connections{pool="api"}')" "$API_POOL" \
	"the API pool has all its connections open"

# every outbox and subscription of the database has its gauges
nogauge=
for o in $(tl_sql "select name from chargegate.outbox order by 1"); do
	[ -n "$(sample "chargegate_outbox_oldest_pending_age_seconds{outbox=\"$o\"}")" ] || nogauge="$nogauge $o"
done
for s in $(tl_sql "select name from chargegate.subscription order by 1"); do
	[ -n "$(sample "chargegate_subscription_messages{subscription=\"$s\",state=\"dead\"}")" ] || nogauge="$nogauge $s"
done
tl_is "${nogauge:-none}" none "every outbox and subscription of the database has its backlog gauges"
tl_stop_daemon

# --- a backlog shows --------------------------------------------------------------------

# without relays a request stays in its outbox: pending, and getting older
demo_e2e_daemon CHARGEGATE_RELAY_ENABLED=false || tl_bail "chargegated without relays did not start"
demo_request validDriverToken123 "$CB"
tl_status 202 "a request is accepted by a daemon without relays"
backlog_shown() {
	scrape &&
		[ "$(sample 'chargegate_outbox_pending{outbox="charging_session_request_outbox"}')" = 1 ] &&
		awk -v a="$(sample 'chargegate_outbox_oldest_pending_age_seconds{outbox="charging_session_request_outbox"}')" \
			'BEGIN { exit !(a > 0) }'
}
if tl_poll 25 backlog_shown; then
	tl_ok "the unrelayed request shows as one pending outbox row with an age"
else
	tl_not_ok "the unrelayed request shows as one pending outbox row with an age" \
		"$(grep '^chargegate_outbox' "$SCRAPE" | tr '\n' ' ')"
fi

# --- the database goes away, and comes back ------------------------------------------------

# what ChargegateDatabaseUnavailable reads: the pools lose their connections,
# a POST is counted as unavailable (503); all come back with the database
db_gone() {
	scrape && [ "$(sample 'chargegate_database_connections{pool="api"}')|$(sample 'chargegate_database_connections{pool="queue"}')" = "0|0" ]
}
pgcluster_stop "$TL_PGDIR"
if tl_poll 10 db_gone; then
	tl_ok "with the database stopped, the pools show no connection"
else
	tl_not_ok "with the database stopped, the pools show no connection" "$(grep '^chargegate_database_connections' "$SCRAPE" | tr '\n' ' ')"
fi
demo_request validDriverToken123 "$CB"
tl_is "$TL_STATUS|$(scrape && sample 'chargegate_requests_total{outcome="unavailable"}')" "503|1" \
	"a POST meanwhile is answered 503 and counted as unavailable"
pgcluster_start "$TL_PGDIR" "$TL_PGPORT" >"$TL_DIR/pgcluster.out" 2>&1 || tl_bail "PostgreSQL did not start again"
db_back() {
	scrape && [ -n "$API_POOL" ] && [ "$(sample 'chargegate_database_connections{pool="api"}')" = "$API_POOL" ]
}
tl_check "with the database back, the API pool reconnects" tl_poll 15 db_back
tl_stop_daemon

tl_done

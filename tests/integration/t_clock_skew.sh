#!/bin/sh
# DESIGN §2.5: several hosts share one database, and their clocks are never
# quite the database's.  Every time the database compares with now() is the
# database's own: the daemon sends delays, not times.  A daemon whose clock
# is an hour ahead of the database, or an hour behind, still retries a
# failed callback after its retry schedule (1 s, ±20 %), not an hour later
# and not at once.  The skew comes from Debian's faketime (the daemon's wall
# clock only; its monotonic clock, which drives its timers, stays true).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1

demo_setup
[ -r "$FAKETIME_LIB" ] || tl_bail "$FAKETIME_LIB is missing (install the faketime package: scripts/install-deps)"
demo_authz_start --default allowed
demo_receiver_start --fail-first 1

for skew in +1h -1h; do
	CASE="a daemon whose clock is $skew off"
	# ASan wants its runtime first among the libraries; faketime must come first to work
	demo_e2e_daemon LD_PRELOAD="$FAKETIME_LIB" FAKETIME="$skew" FAKETIME_DONT_FAKE_MONOTONIC=1 \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		CHARGEGATE_CALLBACK_RETRY_SCHEDULE=1s || tl_bail "chargegated under faketime did not start"
	skewed=$(awk '{ print $1 }' "$TL_DAEMON_LOG" | head -n 1 | cut -c1-13)
	tl_isnt_now() { [ "$skewed" != "$(date -u +%Y-%m-%dT%H)" ]; }
	tl_check "$CASE: (faketime works: its log says $skewed)" tl_isnt_now
	demo_request validDriverToken123 "$DEMO_RECEIVER/cb"
	rid=$DEMO_RID
	if demo_wait_status "$rid" delivered 15; then
		tl_ok "$CASE: the request ends delivered after one failed attempt"
	else
		tl_not_ok "$CASE: the request ends delivered after one failed attempt" "status: $(demo_field "$rid" status)"
	fi
	demo_received
	demo_entries "$rid"
	gap=$(perl -MJSON::PP -e '
		open(my $fh, "<:raw", $ARGV[0]) or die; local $/; my $e = decode_json(<$fh>);
		print @$e == 2 ? $e->[1]{received_at_ms} - $e->[0]{received_at_ms} : "attempts: " . scalar(@$e);
	' "$TL_DIR/entries.json")
	case $gap in
	*[!0-9]* | '') tl_not_ok "$CASE: the retry comes after the 1 s schedule, by the receiver's clock" "$gap" ;;
	*) if [ "$gap" -ge 700 ] && [ "$gap" -le 3000 ]; then
		tl_ok "$CASE: the retry comes after the 1 s schedule, by the receiver's clock (${gap} ms)"
	else
		tl_not_ok "$CASE: the retry comes after the 1 s schedule, by the receiver's clock" "${gap} ms"
	fi ;;
	esac
	tl_is "$(tl_sql "select round(extract(epoch from next_attempt_at - created_at))::int
	                   from chargegate.callback_delivery_attempt where request_id::text = :'rid' and attempt = 1" -v rid="$rid")" 1 \
		"$CASE: the attempt record's next_attempt_at is 1 s after it, by the database's clock"
	tl_stop_daemon
	curl -sS -X DELETE -o /dev/null "$DEMO_RECEIVER/received"
done

tl_done

#!/bin/sh
# The libFuzzer targets of tests/fuzz/, built with clang under ASan+UBSan
# and each run for FUZZ_SECONDS (default 10) from its seed corpus
# (tests/fuzz/corpus/TARGET; what it finds is kept in a copy, not in the
# source tree).  A crash, leak, timeout or a broken invariant (abort) is a
# failure: the diagnostics give the input, to replay with the binary and
# turn into a regression test.  fuzz_pgarray round-trips through a
# PostgreSQL cluster started here.
#
# Part of scripts/test (CHARGEGATE_TEST_FUZZ=1, run once, like the Debian
# package test); skipped otherwise.  Longer runs: FUZZ_SECONDS=600, or see
# tests/fuzz/README.md.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"

if [ "${CHARGEGATE_TEST_FUZZ:-0}" != 1 ]; then
	echo "1..0 # SKIP the fuzz targets run once from scripts/test (CHARGEGATE_TEST_FUZZ=1)"
	exit 77
fi

SECS=${FUZZ_SECONDS:-10}
TARGETS="validate json authz_answer retry_after urladdr signing config http pgarray bearer"
CC_FUZZ=${CC_FUZZ:-clang}
command -v "$CC_FUZZ" >/dev/null 2>&1 || tl_bail "$CC_FUZZ is not installed (scripts/install-deps installs clang)"

TL_MIGRATE=no tl_setup
out=$TL_DIR/fuzz
mkdir -p "$out/obj"
FLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
CFLAGS_ALL="$FLAGS -I$top_srcdir/src -I$top_builddir $(pkg-config --cflags json-c libcurl libevent libpq libcrypto)"
LIBS="$(pkg-config --libs json-c libcurl libevent libpq libcrypto) -lm"
SRCS="infra/log infra/alloc infra/json infra/url infra/uuid infra/fields infra/addrpolicy infra/signing infra/config infra/pgarray
	infra/httpparse infra/httpclient infra/clock infra/apikey infra/redact request/validate authorization/answer"

objs=
for s in $SRCS; do
	o=$out/obj/$(echo "$s" | tr / _).o
	# shellcheck disable=SC2086 # word lists
	$CC_FUZZ $CFLAGS_ALL -fsanitize=fuzzer-no-link -c "$top_srcdir/src/$s.c" -o "$o" 2>>"$out/build.log" ||
		tl_bail "could not compile src/$s.c with $CC_FUZZ: $(tail -n 5 "$out/build.log")"
	objs="$objs $o"
done

CHARGEGATE_FUZZ_DATABASE_URL=$CG_DATABASE_URL
export CHARGEGATE_FUZZ_DATABASE_URL

# fuzz_one T: runs target T for SECS seconds; its output in $out/T.log, its
# exit status in $out/T.rc
fuzz_one() {
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$out/fuzz_$1" -max_total_time="$SECS" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$out/artifacts_$1/" "$out/corpus_$1" "$top_srcdir/tests/fuzz/corpus/$1" \
		>"$out/$1.log" 2>&1
	echo $? >"$out/$1.rc"
}

# two targets at a time: the runs are CPU-bound and the machine has two
# cores, so the whole step takes half the time for the same fuzzing per target
started=
n=0
for t in $TARGETS; do
	bin=$out/fuzz_$t
	# shellcheck disable=SC2086 # word lists
	if ! $CC_FUZZ $CFLAGS_ALL -fsanitize=fuzzer "$top_srcdir/tests/fuzz/fuzz_$t.c" $objs $LIBS -o "$bin" \
		2>>"$out/build.log"; then
		tl_not_ok "fuzz_$t builds" "$(tail -n 10 "$out/build.log")"
		continue
	fi
	mkdir -p "$out/corpus_$t" "$out/artifacts_$t"
	fuzz_one "$t" &
	started="$started $t"
	n=$((n + 1))
	[ $((n % 2)) -ne 0 ] || wait
done
wait

for t in $started; do
	rc=$(cat "$out/$t.rc" 2>/dev/null || echo '?')
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log" | tail -n 1)
	finding=$(ls "$out/artifacts_$t" 2>/dev/null | head -n 1)
	if [ "$rc" = 0 ] && [ -z "$finding" ]; then
		tl_ok "fuzz_$t: ${runs:-?} inputs in ${SECS} s under ASan+UBSan, no finding"
	else
		tl_not_ok "fuzz_$t: no finding in ${SECS} s" "exit status $rc, ${runs:-?} inputs; finding: ${finding:-none}" \
			"input (base64): $( [ -n "$finding" ] && base64 -w0 "$out/artifacts_$t/$finding")" \
			"$(grep -E 'ERROR|SUMMARY|runtime error|#[0-9] ' "$out/$t.log" | head -n 15)"
	fi
done
tl_done

#!/bin/sh
# The folder layout is the architecture (DESIGN §9): infra/ below queue/
# below the three contexts, which never include each other and talk only
# through topics; the Kafka module sits beside queue/ on infra/; ctl/ is
# chargegatectl's own; admin/ (the status page) reads the database through
# SQL functions and knows only infra/.  Every #include "DIR/..." in src/ must respect that.
# Exit 0 when it does, 1 (naming each offending line) when it does not.
if [ -z "$top_srcdir" ]; then
	top_srcdir=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
fi
cd "$top_srcdir/src" || exit 1

# allowed DIR: the directories a file in DIR may include from
allowed() {
	case $1 in
	infra) echo "infra" ;;
	queue) echo "infra queue" ;;
	request | authorization | notification) echo "infra queue $1" ;;
	kafka) echo "infra queue kafka" ;;
	ctl) echo "infra ctl" ;;
	admin) echo "infra admin" ;;
	*) echo "" ;;
	esac
}

status=0
checked=0
for f in */*.c */*.h; do
	dir=${f%%/*}
	ok=$(allowed "$dir")
	if [ -z "$ok" ]; then
		echo "check_layers: $f is in src/$dir/, which is not a layer of DESIGN §9"
		status=1
		continue
	fi
	checked=$((checked + 1))
	# "DIR/file.h" includes only: autoconfig.h and system headers are not layers
	grep -n '^#include "[a-z_]*/' "$f" | while IFS= read -r line; do
		inc=${line#*\"}
		inc=${inc%\"*}
		to=${inc%%/*}
		case " $ok " in
		*" $to "*) ;;
		*) echo "check_layers: src/$f:${line%%:*}: $dir/ may not include $inc (allowed: $ok)"; echo x >>"${TMPDIR:-/tmp}/check_layers.$$" ;;
		esac
	done
done
if [ -s "${TMPDIR:-/tmp}/check_layers.$$" ]; then
	status=1
fi
rm -f "${TMPDIR:-/tmp}/check_layers.$$"
[ "$checked" -gt 50 ] || { echo "check_layers: only $checked files checked: has the layout changed?"; status=1; }
[ "$status" -eq 0 ] && echo "check_layers: $checked files in src/*/ include only what their layer may"
exit "$status"

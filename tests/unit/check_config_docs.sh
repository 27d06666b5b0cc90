#!/bin/sh
# Every key of the configuration table (src/infra/config.c) must be
# documented in doc/chargegate.conf.5 and present in the packaged
# packaging/chargegate.conf, and those may not name keys the table lacks
# (in the spirit of pgbouncer's optscan.sh).  Exit 0 on success, 1 on
# failure, printing what is missing.

if [ -z "$top_srcdir" ]; then
	top_srcdir=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
fi

src="$top_srcdir/src/infra/config.c"
man="$top_srcdir/doc/chargegate.conf.5"
conf="$top_srcdir/packaging/chargegate.conf"

for f in "$src" "$man" "$conf"; do
	if [ ! -r "$f" ]; then
		echo "check_config_docs: cannot read $f"
		exit 1
	fi
done

# Table entries start with CF_<TYPE>("section", "key", ...
table_keys=$(sed -n 's/^[[:space:]]*CF_[A-Z]*("\([a-z_]*\)", *"\([a-z_]*\)".*/\1.\2/p' "$src" | sort)
if [ -z "$table_keys" ]; then
	echo "check_config_docs: found no keys in $src: has the table layout changed?"
	exit 1
fi

# section.key for every "key = ..." or "#key = ..." line of the packaged file
conf_keys=$(awk '
	/^[[:space:]]*\[[a-z_]+\][[:space:]]*$/ {
		section = $0
		gsub(/[][[:space:]]/, "", section)
		next
	}
	/^[#;]?[a-z_]+[[:space:]]*=/ {
		key = $0
		sub(/^[#;]?/, "", key)
		sub(/[[:space:]]*=.*/, "", key)
		print section "." key
	}' "$conf" | sort)

# ".B section.key" headings of the KEYS section of the man page
man_keys=$(sed -n 's/^\.B \([a-z_]*\.[a-z_]*\)$/\1/p' "$man" | sort)

status=0
for key in $table_keys; do
	if ! printf '%s\n' "$man_keys" | grep -qx "$key"; then
		echo "missing from doc/chargegate.conf.5: $key"
		status=1
	fi
	if ! printf '%s\n' "$conf_keys" | grep -qx "$key"; then
		echo "missing from packaging/chargegate.conf: $key"
		status=1
	fi
done
for key in $man_keys; do
	if ! printf '%s\n' "$table_keys" | grep -qx "$key"; then
		echo "documented in doc/chargegate.conf.5 but not a key: $key"
		status=1
	fi
done
for key in $conf_keys; do
	if ! printf '%s\n' "$table_keys" | grep -qx "$key"; then
		echo "in packaging/chargegate.conf but not a key: $key"
		status=1
	fi
done

if [ $status -eq 0 ]; then
	echo "check_config_docs: all $(printf '%s\n' "$table_keys" | wc -l | tr -d ' ') keys documented"
fi
exit $status

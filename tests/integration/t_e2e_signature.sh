#!/bin/sh
# DESIGN §5: callback signatures verified by an independent implementation,
# the npm "standardwebhooks" package (tests/webhooks), over the exact bytes
# received: with callback.signing_secret, and during a key rotation
# (callback.previous_signing_secret set: both signatures are sent and each
# verifies with its own secret).  Skipped, with a diagnostic, only when npm
# is not installed (scripts/install-deps installs it).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
	echo "# SKIP: node and npm are needed to verify signatures with the npm standardwebhooks package;"
	echo "#       run scripts/install-deps (Debian's nodejs and npm packages)"
	exit 77
fi

demo_setup

# the verifier and its node_modules: in the source tree when it is writable
# (installed once, reused), else in the temporary directory
WH=$top_srcdir/tests/webhooks
if [ ! -w "$WH" ]; then
	mkdir "$TL_DIR/webhooks"
	cp "$WH/package.json" "$WH/package-lock.json" "$WH/verify.js" "$WH/receiver.js" "$TL_DIR/webhooks/"
	WH=$TL_DIR/webhooks
fi
DEMO_WEBHOOKS_DIR=$WH
if ! (cd "$WH" && node -e 'require("standardwebhooks").Webhook' >/dev/null 2>&1); then
	tl_npm_ci "$WH" standardwebhooks
fi
tl_is "$(cd "$WH" && node -p 'typeof new (require("standardwebhooks").Webhook)("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").verify')" \
	function "the standardwebhooks package exports Webhook with verify()"

new_secret() {
	echo "whsec_$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
}
S_OLD=$(new_secret)
S_NEW=$(new_secret)
S_WRONG=$(new_secret)

demo_authz_start --default allowed
demo_node_receiver_start

# deliver NAME [VAR=value…]: a daemon with those settings, one request to the
# node receiver; leaves its recorded callbacks in $TL_DIR/received.json
deliver() {
	_name=$1
	shift
	demo_e2e_daemon "$@" || tl_bail "chargegated did not start"
	demo_request validDriverToken123 "$NODE_RECEIVER/hook"
	if [ -n "$DEMO_RID" ] && demo_wait_status "$DEMO_RID" delivered 10; then
		tl_ok "$_name: the callback is delivered"
	else
		tl_not_ok "$_name: the callback is delivered" "status: $(demo_field "$DEMO_RID" status)"
	fi
	tl_stop_daemon
	curl -sS --max-time 10 -o "$TL_DIR/all.json" "$NODE_RECEIVER/received"
	# only this request's callback
	perl -MJSON::PP -e '
		open(my $fh, "<:raw", $ARGV[0]) or die; local $/; my $all = decode_json(<$fh>);
		my @e = grep { (eval { decode_json(MIME::Base64::decode_base64($_->{body_base64})) } // {})->{request_id} eq $ARGV[1] } @$all;
		print encode_json(\@e);
	' -MMIME::Base64 "$TL_DIR/all.json" "$DEMO_RID" >"$TL_DIR/received.json"
}

verify() {
	(cd "$WH" && node verify.js "$TL_DIR/received.json" "$@") 2>"$TL_DIR/verify.err"
}

# --- one secret -------------------------------------------------------------------------------
deliver "one secret" CHARGEGATE_CALLBACK_SIGNING_SECRET="$S_OLD"
tl_is "$(tl_json '#' "$TL_DIR/received.json")" 1 "one secret: the receiver got one callback"
WID=$(tl_sql "select webhook_id from chargegate.callback_delivery_attempt where request_id::text = :'rid'" -v rid="$DEMO_RID")
OUT=$(verify "$S_OLD" "$S_WRONG")
tl_like "$OUT" "^$WID signatures=1 all=ok,No_matching_signature_found each=1 body=allowed\$" \
	"one secret: standardwebhooks verifies the signature with the secret and refuses another secret"
tl_diag "verify.js: $OUT"
tl_check "one secret: a tampered body is refused" sh -c "! printf '%s' '$OUT' | grep -q TAMPERED_ACCEPTED"

# --- key rotation --------------------------------------------------------------------------------
deliver "rotation" CHARGEGATE_CALLBACK_SIGNING_SECRET="$S_NEW" CHARGEGATE_CALLBACK_PREVIOUS_SIGNING_SECRET="$S_OLD"
tl_is "$(tl_json '#' "$TL_DIR/received.json")" 1 "rotation: the receiver got one callback"
SIG=$(tl_json 0.headers.webhook-signature "$TL_DIR/received.json")
tl_like "$SIG" '^v1,[A-Za-z0-9+/]{43}= v1,[A-Za-z0-9+/]{43}=$' "rotation: two signatures, space-separated"
OUT=$(verify "$S_NEW" "$S_OLD" "$S_WRONG")
tl_diag "verify.js: $OUT"
tl_like "$OUT" ' signatures=2 all=ok,ok,No_matching_signature_found ' \
	"rotation: the callback verifies with the new secret and with the old one, not with a third"
tl_like "$OUT" ' each=(1,2|2,1) ' "rotation: each signature verifies with exactly its own secret"
tl_check "rotation: a tampered body is refused" sh -c "! printf '%s' '$OUT' | grep -q TAMPERED_ACCEPTED"

# --- after the rotation: the old secret is gone ------------------------------------------------------
deliver "after the rotation" CHARGEGATE_CALLBACK_SIGNING_SECRET="$S_NEW"
OUT=$(verify "$S_NEW" "$S_OLD")
tl_diag "verify.js: $OUT"
tl_like "$OUT" ' signatures=1 all=ok,No_matching_signature_found each=1 body=allowed$' \
	"after the rotation: one signature, verified by the new secret only"

tl_done

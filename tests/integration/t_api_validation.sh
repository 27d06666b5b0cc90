#!/bin/sh
# POST /v1/charging-sessions rejects every kind of bad input of DESIGN §3 over
# real HTTP with the right status and an RFC 9457 problem document, and an
# invalid request writes nothing.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"

tl_setup
tl_start_daemon || tl_bail "chargegated did not start"

API=/v1/charging-sessions
SID='"123e4567-e89b-12d3-a456-426614174000"'
TOK='"validDriverToken123"'
URL='"https://cpo.example.com/callbacks/start"'

# body STATION_ID DRIVER_TOKEN CALLBACK_URL (each already a JSON value)
body() {
	printf '{"station_id":%s,"driver_token":%s,"callback_url":%s}' "$1" "$2" "$3"
}

# invalid NAME FIELDS BODY: POST BODY, expect 400 naming exactly FIELDS
invalid() {
	tl_post "$API" "$3"
	tl_bad_request "$1" "$2"
}

# Every rule of the members is a pure function, tested input by input in
# tests/unit/test_validate.c and test_json.c; here each kind of error is
# checked once over HTTP: the status, the problem document, the field named.

# --- one bad value per member, and the boundary values that make a body large ------
TOK256=\"$(tl_repeat a 256)\"
PREFIX=https://cpo.example.com/
URL2048=\"$PREFIX$(tl_repeat x $((2048 - ${#PREFIX})))\"
invalid "a station_id that is not a UUID is rejected" station_id "$(body '"not-a-uuid"' "$TOK" "$URL")"
invalid "a driver_token of 256 characters is rejected" driver_token "$(body "$SID" "$TOK256" "$URL")"
invalid "a callback_url with user information is rejected" callback_url \
	"$(body "$SID" "$TOK" '"https://user:secret@cpo.example.com/callbacks/start"')"
invalid "a 255-character driver_token is valid (only station_id is named)" station_id \
	"$(body '"x"' "\"$(tl_repeat a 255)\"" "$URL")"
invalid "a 2048-byte callback_url is valid (only station_id is named)" station_id "$(body '"x"' "$TOK" "$URL2048")"

# --- several errors at once: one per invalid member ------------------------------------
invalid "an empty object names all three members" callback_url,driver_token,station_id '{}'
invalid "three members of the wrong type give three errors" callback_url,driver_token,station_id \
	"$(body 123 true '{"url":"https://cpo.example.com/"}')"

# --- bodies that are not a JSON object, or not JSON: one error, field "body" ----------------
invalid "a JSON array is rejected" body "[$(body "$SID" "$TOK" "$URL")]"
invalid "trailing bytes after the object are rejected" body "$(body "$SID" "$TOK" "$URL") trailing"
invalid "JSON nested 8000 deep is rejected" body "$(tl_repeat '[' 8000)$(tl_repeat ']' 8000)"
invalid "invalid UTF-8 in a member is rejected" '*' "$(body "$SID" "\"tok$(printf '\377\376')en\"" "$URL")"
invalid "an encoded surrogate in a member nobody reads is rejected" body \
	"{\"station_id\":$SID,\"driver_token\":$TOK,\"callback_url\":$URL,\"x\":\"$(printf '\355\240\200')\"}"

# --- 413: a body over 16 KiB ---------------------------------------------------------------
# padded FILE SIZE: a valid request of exactly SIZE bytes (an unknown member pads it)
padded() {
	_head="{\"station_id\":$SID,\"driver_token\":$TOK,\"callback_url\":$URL,\"pad\":\""
	_fill=$(( $2 - ${#_head} - 2 ))
	printf '%s%s"}' "$_head" "$(tl_repeat x "$_fill")" >"$1"
}
padded "$TL_DIR/16k+1.json" 16385
tl_is "$(wc -c <"$TL_DIR/16k+1.json" | tr -d ' ')" 16385 "the oversized test body is 16 KiB + 1 byte"
tl_post_file "$API" "$TL_DIR/16k+1.json"
tl_problem 413 "a body of 16 KiB + 1 byte is answered 413"
tl_post_file "$API" "$TL_DIR/16k+1.json" -H 'Transfer-Encoding: chunked'
tl_problem 413 "a chunked body of 16 KiB + 1 byte is answered 413"
padded "$TL_DIR/20k.json" 20000
tl_post_file "$API" "$TL_DIR/20k.json" -H 'Transfer-Encoding: chunked'
tl_problem 413 "a chunked body of 20000 bytes is answered 413"

# --- 415: the content type must be application/json -------------------------------------
VALID=$(body "$SID" "$TOK" "$URL")
for ct in 'Content-Type:' 'Content-Type: text/plain' \
	'Content-Type: application/x-www-form-urlencoded' 'Content-Type: application/jsonx' \
	'Content-Type: text/json' 'Content-Type: multipart/form-data; boundary=x'; do
	tl_post "$API" "$VALID" -H "$ct"
	tl_problem 415 "a valid body sent with '$ct' is answered 415"
done
tl_post "$API" '{}' -H 'Content-Type: application/json; charset=utf-8'
tl_bad_request "application/json with a charset parameter is accepted as JSON" \
	callback_url,driver_token,station_id
tl_post "$API" '{}' -H 'Content-Type: Application/JSON'
tl_bad_request "the media type is compared case-insensitively" callback_url,driver_token,station_id

# --- 405 and 404 ---------------------------------------------------------------------------
for m in PUT DELETE PATCH; do
	tl_http "$m" "$API" -H 'Content-Type: application/json' --data-binary "$VALID"
	tl_problem 405 "$m $API is answered 405"
	allow=$(tl_header Allow) || allow='(no Allow header)'
	tl_like "$allow" '(^|[ ,])POST([ ,]|$)' "the 405 for $m names POST in its Allow header"
done
for p in / /nope /v1 /v1/charging-session /v1/charging-sessions/00000000-0000-0000-0000-000000000000 \
	/v1/charging-sessions/123e4567-e89b-12d3-a456-426614174000 /v1/charging-sessions/not-a-uuid \
	/v1/charging-sessions/123e4567-e89b-12d3-a456-426614174000/extra; do
	tl_http GET "$p"
	tl_problem 404 "GET $p is answered 404"
done
tl_post /v1/charging-session "$VALID"
tl_problem 404 "POST to a misspelt collection is answered 404"

# --- nothing was written ------------------------------------------------------------------------
tl_http GET /healthz
tl_status 200 "the daemon is still healthy after all invalid requests"
tl_is "$(tl_count charging_session_request)" 0 "no request row was written by an invalid request"
tl_is "$(tl_count charging_session_request_outbox)" 0 "no outbox row was written by an invalid request"
tl_is "$(tl_count idempotency_key)" 0 "no idempotency key was written by an invalid request"

# --- the limit itself: a body of exactly 16 KiB is accepted -------------------------------------
padded "$TL_DIR/16k.json" 16384
tl_is "$(wc -c <"$TL_DIR/16k.json" | tr -d ' ')" 16384 "the largest test body is exactly 16 KiB"
tl_post_file "$API" "$TL_DIR/16k.json"
tl_status 202 "a valid body of exactly 16 KiB is accepted"
tl_is "$(tl_count charging_session_request)" 1 "the 16 KiB request wrote one request row"

tl_stop_daemon
tl_done

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

# --- station_id -----------------------------------------------------------------
for s in '"not-a-uuid"' '""' '"123e4567e89b12d3a456426614174000"' \
	'"{123e4567-e89b-12d3-a456-426614174000}"' \
	'"urn:uuid:123e4567-e89b-12d3-a456-426614174000"' \
	'"123e4567-e89b-12d3-a456-42661417400"' \
	'"123e4567-e89b-12d3-a456-4266141740000"' \
	'"123e456-7e89b-12d3-a456-426614174000"' \
	'"123e4567-e89b-12d3-a456-42661417400g"' \
	'" 123e4567-e89b-12d3-a456-426614174000"' \
	'"123e4567-e89b-12d3-a456-426614174000 "' \
	'"123e4567-e89b-12d3-a456-426614174000\n"' \
	'"123e4567-e89b-12d3-a456-426614174000\u0000"' \
	'123' 'null' 'true' '["123e4567-e89b-12d3-a456-426614174000"]' \
	'{"id":"123e4567-e89b-12d3-a456-426614174000"}'; do
	invalid "station_id $s is rejected" station_id "$(body "$s" "$TOK" "$URL")"
done

# --- driver_token: 1-255 characters 0x21-0x7E ------------------------------------
TOK255=\"$(tl_repeat a 255)\"
TOK256=\"$(tl_repeat a 256)\"
for t in '""' "$TOK256" '"abc def"' '"abc\tdef"' '"t\u00f6ken"' "\"t$(printf '\303\266')ken\"" \
	'"abc\u007f"' '"abc\u0000def"' '"abc\u0001"' '"abc\n"' \
	'12345' 'null' 'false' '["validDriverToken123"]' '{}'; do
	invalid "driver_token $(printf '%s' "$t" | cut -c1-40) is rejected" driver_token \
		"$(body "$SID" "$t" "$URL")"
done

# --- callback_url: absolute http(s), a host, at most 2048 bytes, no user-info -----
PREFIX=https://cpo.example.com/
URL2048=\"$PREFIX$(tl_repeat x $((2048 - ${#PREFIX})))\"
URL2049=\"$PREFIX$(tl_repeat x $((2049 - ${#PREFIX})))\"
for u in '"ftp://cpo.example.com/callbacks/start"' '"cpo.example.com/callbacks/start"' \
	'"/callbacks/start"' '"https://"' '"https:///callbacks/start"' '"http://"' \
	'"https://user:secret@cpo.example.com/callbacks/start"' \
	'"https://user@cpo.example.com/callbacks/start"' \
	'"javascript:alert(1)"' '"mailto:ops@cpo.example.com"' '"file:///etc/passwd"' \
	'"https://cpo.example.com/<script>"' '"https://cpo.example.com/a\\\\b"' '"https://cpo.example.com/{x}"' \
	'"https://cpo.example.com/a|b"' '"https://cpo.example.com/a^b"' '"https://cpo.example.com/\"q\""' \
	'""' "$URL2049" '42' 'null' 'true' '["https://cpo.example.com/"]' '{}'; do
	invalid "callback_url $(printf '%s' "$u" | cut -c1-50) is rejected" callback_url \
		"$(body "$SID" "$TOK" "$u")"
done

# --- valid boundary values next to an invalid member: only that member is named ---
ALLPRINTABLE=$(tl_json_str "$(awk 'BEGIN { for (i = 33; i < 127; i++) printf "%c", i }')")
invalid "a 255-character driver_token is valid" station_id "$(body '"x"' "$TOK255" "$URL")"
invalid "a driver_token of every printable ASCII character is valid" station_id \
	"$(body '"x"' "$ALLPRINTABLE" "$URL")"
invalid "a 2048-byte callback_url is valid" station_id "$(body '"x"' "$TOK" "$URL2048")"
invalid "an upper-case station_id is valid" driver_token \
	"$(body '"123E4567-E89B-12D3-A456-426614174000"' '""' "$URL")"
invalid "an http callback_url with port and query is valid" driver_token \
	"$(body "$SID" '""' '"http://cpo.example.com:8080/cb?x=1&y=2"')"

# --- missing members and wrong types: one error per invalid member ------------------
invalid "an empty object names all three members" callback_url,driver_token,station_id '{}'
invalid "a body with only station_id names the two missing members" callback_url,driver_token \
	"{\"station_id\":$SID}"
invalid "a missing callback_url is named" callback_url "{\"station_id\":$SID,\"driver_token\":$TOK}"
invalid "a missing station_id is named" station_id "{\"driver_token\":$TOK,\"callback_url\":$URL}"
invalid "three members of the wrong type give three errors" callback_url,driver_token,station_id \
	"$(body 123 true '{"url":"https://cpo.example.com/"}')"
invalid "three null members give three errors" callback_url,driver_token,station_id \
	"$(body null null null)"
invalid "unknown members do not hide missing ones" callback_url,driver_token,station_id \
	'{"stationId":"123e4567-e89b-12d3-a456-426614174000","token":"x"}'

# --- bodies that are not a JSON object: one error, field "body" -----------------------
for b in '[]' "[$(body "$SID" "$TOK" "$URL")]" '"a string"' '42' 'null' 'true'; do
	invalid "the non-object body $b is rejected" body "$b"
done
DEEP=$(tl_repeat '[' 8000)$(tl_repeat ']' 8000)
for b in '{"station_id":' '{station_id: "x"}' "{'station_id':'x'}" '' '   ' \
	"$(body "$SID" "$TOK" "$URL") trailing" "$(body "$SID" "$TOK" "$URL"){}" \
	"{\"station_id\":$SID,\"driver_token\":$TOK,\"callback_url\":$URL," "$DEEP"; do
	invalid "the malformed JSON $(printf '%s' "$b" | cut -c1-40) is rejected" body "$b"
done
invalid "invalid UTF-8 in a string is rejected" '*' \
	"$(body "$SID" "\"tok$(printf '\377\376')en\"" "$URL")"
invalid "a lone UTF-16 surrogate escape is rejected" '*' "$(body "$SID" '"tok\ud800en"' "$URL")"
# in a member nobody reads, too
invalid "an overlong UTF-8 form in an unknown member is rejected" body \
	"{\"station_id\":$SID,\"driver_token\":$TOK,\"callback_url\":$URL,\"x\":\"$(printf '\300\257')\"}"
invalid "an encoded surrogate in an unknown member is rejected" body \
	"{\"station_id\":$SID,\"driver_token\":$TOK,\"callback_url\":$URL,\"x\":\"$(printf '\355\240\200')\"}"
invalid "a code point above U+10FFFF in an unknown member is rejected" body \
	"{\"station_id\":$SID,\"driver_token\":$TOK,\"callback_url\":$URL,\"x\":\"$(printf '\364\220\200\200')\"}"

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

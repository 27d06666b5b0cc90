#!/bin/sh
# Databases that ran an earlier version heal (migration 007 and every
# `chargegatectl migrate` after it): work that version stranded reaches its
# subscriptions, and nothing else moves.
#   - a command still on its topic, published before the authorization
#     subscription existed: re-queued for it;
#   - a command whose trail retention already removed (request accepted, no
#     outbox row, no message, no audit): written again;
#   - a decision whose trail is gone before any callback was attempted:
#     written again;
#   - work in flight and finished requests: untouched.
# Then a daemon delivers every one of them.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib/testlib.sh source-path=SCRIPTDIR/../.. disable=SC1091
. "$top_srcdir/tests/lib/testlib.sh"
# shellcheck source=tests/lib/demo.sh disable=SC1091
. "$top_srcdir/tests/lib/demo.sh"

demo_setup
demo_authz_start --default allowed
demo_receiver_start
CB=$DEMO_RECEIVER/cb

A=00000000-0000-4000-8000-00000000000a
B=00000000-0000-4000-8000-00000000000b
C=00000000-0000-4000-8000-00000000000c
D=00000000-0000-4000-8000-00000000000d
E=00000000-0000-4000-8000-00000000000e

# --- what an earlier version left: schema at version 6, stranded work -------------------
tl_sql "
	insert into chargegate.charging_session_request (request_id, station_id, driver_token, callback_url, status,
	                                                 decision, created_at)
	select r, '$DEMO_STATION', 'tok-' || right(r::text, 1), '$CB', s, d, now() - interval '2 h'
	  from (values ('$A'::uuid, 'accepted', null), ('$B', 'accepted', null), ('$C', 'decided', 'allowed'),
	               ('$D', 'accepted', null), ('$E', 'delivered', 'allowed')) v(r, s, d);
	-- A: its command published an hour ago, before the subscription was created, so no batch
	with o as (
	    insert into chargegate.charging_session_request_outbox (event_type, aggregate_id, payload, published_at)
	    values ('StartChargingSessionRequestCommand', '$A',
	            jsonb_build_object('request_id', '$A', 'station_id', '$DEMO_STATION', 'driver_token', 'tok-a',
	                               'callback_url', '$CB'), now() - interval '1 h')
	    returning event_id, event_type, aggregate_id, payload, created_at, published_at)
	insert into chargegate.topic_message (topic, event_id, event_type, aggregate_id, payload, created_at, published_at)
	select 'charging_session_request', event_id, event_type, aggregate_id, payload, created_at, published_at from o;
	-- D: its command still waits for the relay
	insert into chargegate.charging_session_request_outbox (event_type, aggregate_id, payload)
	values ('StartChargingSessionRequestCommand', '$D',
	        jsonb_build_object('request_id', '$D', 'station_id', '$DEMO_STATION', 'driver_token', 'tok-d',
	                           'callback_url', '$CB'));
	-- the consumers created their subscriptions only now
	update chargegate.subscription set created_at = now() where builtin;
	-- back to version 6: no built-in column, the old retention index
	drop view chargegate.stranded_messages;
	alter table chargegate.subscription drop column builtin;
	create index idempotency_key_created_at_idx on chargegate.idempotency_key (created_at);
	-- and from before 008: no API keys
	alter table chargegate.idempotency_key drop constraint idempotency_key_pkey;
	alter table chargegate.idempotency_key drop column api_key_id;
	alter table chargegate.idempotency_key add constraint idempotency_key_pkey primary key (key);
	alter table chargegate.charging_session_request drop column api_key_id;
	drop function chargegate.api_key_snapshot(bigint[]);
	drop table chargegate.api_key;
	-- and 009
	drop index chargegate.charging_session_request_finished_idx;
	-- 010 (roles) and 011 (a constraint) run again as they are; 012 and 013
	drop view chargegate.open_circuits;
	drop table chargegate.destination_circuit;
	delete from chargegate.subscription where name = 'failure_notice';
	alter table chargegate.subscription drop column event_types;
	drop table chargegate.failure_notice_attempt;
	delete from chargegate.schema_version where version > 6;
" >/dev/null || tl_bail "could not set up the version-6 database"
tl_is "$(tl_sql "select max(version) from chargegate.schema_version")" 6 "(the database is at version 6)"

# --- the upgrade -----------------------------------------------------------------------
tl_migrate
tl_is "$TL_RC" 0 "chargegatectl migrate upgrades it"
tl_check "migrate applies 007" grep -q 'applied migration 007_builtin_subscriptions.sql' "$TL_DIR/migrate.out"
tl_check "and says what it re-queued" grep -q 're-queued 1 stranded messages for subscription authorization' \
	"$TL_DIR/migrate.out"
tl_check "and what it wrote again" grep -q 'written again: 1 lost StartChargingSessionRequestCommand and 1 lost AuthorizationDecisionCallback' \
	"$TL_DIR/migrate.out"
tl_is "$(tl_sql "select string_agg(name, ',' order by name) from chargegate.subscription where builtin")" \
	"authorization,failure_notice,notification,notification_retry,request_status_decisions,request_status_deliveries,retry_scheduler" \
	"the built-in subscriptions are marked"
tl_is "$(tl_sql "select count(*) from chargegate.subscription_batch b join chargegate.topic_message m
                  on m.id = any (b.message_ids) where b.subscription = 'authorization' and m.aggregate_id = '$A'")" 1 \
	"A's stranded command is re-queued for the authorization subscription"
tl_is "$(tl_count charging_session_request_outbox "aggregate_id = '$B' and published_at is null")" 1 \
	"B's lost command is written again"
tl_is "$(tl_count authorization_decision_callback_outbox "aggregate_id = '$C' and published_at is null and payload->>'status' = 'allowed'")" 1 \
	"C's lost decision is written again, with its decision"
tl_is "$(tl_count charging_session_request_outbox "aggregate_id in ('$A', '$D')")" 2 "A and D get no second command"
tl_is "$(tl_sql "select count(*) from chargegate.charging_session_request_outbox where aggregate_id = '$E'
                 union all select count(*) from chargegate.authorization_decision_callback_outbox where aggregate_id = '$E'" | paste -sd, -)" \
	"0,0" "the delivered request E is left alone"
tl_is "$(tl_count stranded_messages)" 0 "nothing is stranded any more"

# a DBA sees stranded work in chargegatectl status (F: stranded by hand)
F=00000000-0000-4000-8000-00000000000f
tl_sql "
	insert into chargegate.charging_session_request (request_id, station_id, driver_token, callback_url)
	values ('$F', '$DEMO_STATION', 'tok-f', '$CB');
	insert into chargegate.topic_message (topic, event_id, event_type, aggregate_id, payload, created_at, published_at)
	values ('charging_session_request', gen_random_uuid(), 'StartChargingSessionRequestCommand', '$F',
	        jsonb_build_object('request_id', '$F', 'station_id', '$DEMO_STATION', 'driver_token', 'tok-f',
	                           'callback_url', '$CB'), now() - interval '1 min', now() - interval '1 min');
	update chargegate.subscription set created_at = now() where name = 'authorization'" >/dev/null
"$TL_CTL" -c "$TL_CONF" status >"$TL_DIR/status.out" 2>&1
tl_check "chargegatectl status lists the stranded message under its subscription" \
	grep -Eq '^ *authorization *\| *1 *\|' "$TL_DIR/status.out"
tl_migrate
tl_check "the next migrate re-queues it" grep -q 're-queued 1 stranded messages for subscription authorization' \
	"$TL_DIR/migrate.out"
tl_migrate
tl_check "a migrate after that finds nothing to heal" sh -c "! grep -q 're-queued\\|written again' '$TL_DIR/migrate.out'"

# --- and they are delivered ---------------------------------------------------------------
demo_e2e_daemon || tl_bail "chargegated did not start"
# shellcheck disable=SC2317 # called through tl_poll
healed() {
	[ "$(tl_sql "select count(*) from chargegate.charging_session_request where status = 'delivered'")" = 6 ]
}
if tl_poll 30 healed; then
	tl_ok "a daemon delivers A, B, C, D and F"
else
	tl_not_ok "a daemon delivers A, B, C, D and F" \
		"$(tl_sql "select request_id || ' ' || status from chargegate.charging_session_request order by 1" | paste -sd' ' -)"
fi
tl_is "$(tl_sql "select count(*) from chargegate.authorization_audit where request_id = '$C'")" 0 \
	"C was not decided twice: its decision was only delivered"
demo_received
tl_is "$(demo_received_count)" 5 "the receiver got one callback each for A, B, C, D and F"
tl_stop_daemon
tl_done

-- chargegate.uuid_v7(): RFC 9562 version 7 ids (time-ordered), used for
-- request ids and as the outboxes' event_id default (006_time_ordered_ids.sql).
BEGIN;
SELECT plan(6);

SELECT has_function('chargegate', 'uuid_v7', ARRAY[]::text[], 'chargegate.uuid_v7() exists');
SELECT is(substring(chargegate.uuid_v7()::text FROM 15 FOR 1), '7', 'the version nibble is 7');
SELECT ok(substring(chargegate.uuid_v7()::text FROM 20 FOR 1) IN ('8', '9', 'a', 'b'),
          'the variant bits are RFC 9562''s (10xx)');
SELECT ok(abs(('x' || substring(replace(chargegate.uuid_v7()::text, '-', '') FROM 1 FOR 12))::bit(48)::bigint
              - (extract(epoch FROM clock_timestamp()) * 1000)::bigint) < 1000,
          'the first 48 bits are the current Unix time in milliseconds');
SELECT is((SELECT count(DISTINCT u) FROM (SELECT chargegate.uuid_v7() AS u FROM generate_series(1, 10000)) x),
          10000::bigint, '10,000 ids are all different');
CREATE TEMPORARY TABLE ids AS
SELECT n, chargegate.uuid_v7() AS u FROM generate_series(1, 3) n
 WHERE pg_sleep(0.002)::text IS NOT NULL;  -- evaluated per row, before the id
SELECT ok((SELECT bool_and(a.u < b.u) FROM ids a JOIN ids b ON b.n = a.n + 1),
          'ids made milliseconds apart sort in time order');

SELECT * FROM finish();
ROLLBACK;

-- chargegate.apply_request_events with another session: the decision of a
-- request applied while its delivery's transaction is still open (the two
-- topics' consumers run concurrently -- with the Kafka transport after a
-- restart they both work through a backlog) must not move the request back
-- from delivered.  The other sessions commit; what they wrote is deleted.
BEGIN;
SELECT plan(3);

SELECT dblink_connect(c, format('host=%s port=%s dbname=%s user=%s',
                                coalesce(host(inet_server_addr()), 'localhost'),
                                current_setting('port'), current_database(), current_user))
  FROM unnest(ARRAY['a', 'b']) AS c;

-- Is the query sent on p_conn still running after p_wait?  (polls)
CREATE FUNCTION pg_temp.busy_after(p_conn text, p_wait interval) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + p_wait;
BEGIN
    WHILE clock_timestamp() < deadline LOOP
        IF dblink_is_busy(p_conn) = 0 THEN
            RETURN false;
        END IF;
        PERFORM pg_sleep(0.02);
    END LOOP;
    RETURN dblink_is_busy(p_conn) = 1;
END
$$;

SELECT dblink_exec('a', $$DELETE FROM chargegate.charging_session_request
                          WHERE request_id = '00000000-0000-4000-8000-000000004201'$$);
SELECT dblink_exec('a', $$INSERT INTO chargegate.charging_session_request (request_id, station_id, driver_token, callback_url)
                          VALUES ('00000000-0000-4000-8000-000000004201', '123e4567-e89b-12d3-a456-426614174000',
                                  'validDriverToken123', 'https://cpo.example/cb')$$);
SELECT dblink_exec('a', 'BEGIN');
SELECT n FROM dblink('a', $$SELECT chargegate.apply_request_events('[{"event_type": "CallbackDeliverySucceeded",
    "request_id": "00000000-0000-4000-8000-000000004201", "status": "allowed", "attempt": 1, "final": true}]')$$)
    AS t(n integer);
SELECT dblink_send_query('b', $$SELECT chargegate.apply_request_events('[{"event_type": "AuthorizationDecisionCallback",
    "request_id": "00000000-0000-4000-8000-000000004201", "status": "allowed"}]')$$);
SELECT ok(pg_temp.busy_after('b', '300 ms'), 'the decision waits for the open delivery transaction');
SELECT dblink_exec('a', 'COMMIT');
SELECT is((SELECT n FROM dblink_get_result('b') AS t(n integer)), 0,
          'applied after the delivery committed, the decision changes nothing');
SELECT * FROM dblink_get_result('b') AS t(n integer);
SELECT is((SELECT s FROM dblink('a', $$SELECT status || '|' || decision || '|' || callback_attempts
                                        FROM chargegate.charging_session_request
                                       WHERE request_id = '00000000-0000-4000-8000-000000004201'$$) AS t(s text)),
          'delivered|allowed|1', 'the request stays delivered, with its decision and attempt count');

SELECT dblink_exec('a', $$DELETE FROM chargegate.charging_session_request
                          WHERE request_id = '00000000-0000-4000-8000-000000004201'$$);
SELECT dblink_disconnect(c) FROM unnest(ARRAY['a', 'b']) AS c;
SELECT * FROM finish();
ROLLBACK;

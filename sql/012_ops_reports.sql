-- 012_ops_reports.sql — open circuits made visible to SQL.
--
-- A callback destination's circuit breaker lives in the memory of the daemon
-- that delivers to it (src/notification/destinations.c).  The Notification
-- context mirrors each transition here (open: a row; closed: no row), so
-- chargegatectl status, the status page and a DBA see which receivers are
-- paused, by which daemon and until when.  The reports that read it are
-- chargegate.status_report(), request_story() and recent_requests().
CREATE TABLE chargegate.destination_circuit (
    destination          text        NOT NULL,
    daemon               text        NOT NULL,
    opened_at            timestamptz NOT NULL DEFAULT now(),
    open_until           timestamptz NOT NULL,
    consecutive_failures integer     NOT NULL,
    last_error           text,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT destination_circuit_pkey PRIMARY KEY (destination, daemon),
    CONSTRAINT destination_circuit_failures_check CHECK (consecutive_failures >= 1),
    CONSTRAINT destination_circuit_until_check CHECK (open_until >= opened_at)
);

COMMENT ON TABLE chargegate.destination_circuit IS
    'Callback destinations whose circuit is open in some daemon (DESIGN §5, isolation): one row per '
    'destination and daemon, written when the circuit opens, deleted when a probe closes it. '
    'Read it through the view chargegate.open_circuits.';
COMMENT ON COLUMN chargegate.destination_circuit.destination IS
    'scheme://host:port of the callback URLs this circuit pauses.';
COMMENT ON COLUMN chargegate.destination_circuit.daemon IS
    'The daemon (host:pid) whose circuit this is: each daemon keeps its own.';
COMMENT ON COLUMN chargegate.destination_circuit.opened_at IS
    'When the circuit first opened; a failed probe re-opens it without changing this.';
COMMENT ON COLUMN chargegate.destination_circuit.open_until IS
    'End of the current pause (callback.circuit_cooldown after the last failure); then one delivery probes.';
COMMENT ON COLUMN chargegate.destination_circuit.consecutive_failures IS
    'Failures in a row that opened (or re-opened) the circuit.';
COMMENT ON COLUMN chargegate.destination_circuit.last_error IS
    'Error class of the last failure (timeout, connect, http_503, ...).';

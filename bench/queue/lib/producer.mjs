// producer.mjs chargegate|graphile|pgboss DBURL RATE SECONDS OUT
//
// Light load for the wake-up latency: RATE events per second on a fixed
// schedule for SECONDS, one per transaction; appends "event_id commit_us" to
// OUT when the commit has returned.
//   chargegate: BEGIN; INSERT one outbox row; NOTIFY chargegate_charging_session_request_outbox; COMMIT
//               (one round trip, simple-query protocol)
//   graphile:   workerUtils.addJob('noop', {id})     (add_job NOTIFYs jobs:insert itself)
//   pgboss:     boss.send('bench', {id})             (the queue has notify: true)
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { makeWorkerUtils } from 'graphile-worker';
import { PgBoss } from 'pg-boss';
import { client, nowUs, sleep } from './common.mjs';

const [kind, url, rate, seconds, out] = process.argv.slice(2);
const fd = fs.openSync(out, 'a');
let send, close;

if (kind === 'chargegate') {
	const c = await client(url);
	send = (id) => c.query(
		`BEGIN; INSERT INTO chargegate.charging_session_request_outbox (event_id, event_type, aggregate_id, payload)
		 VALUES ('${id}', 'StartChargingSessionRequestCommand', '${randomUUID()}', '{"bench": true}');
		 NOTIFY chargegate_charging_session_request_outbox; COMMIT`);
	close = () => c.end();
} else if (kind === 'graphile') {
	const u = await makeWorkerUtils({ connectionString: url });
	send = (id) => u.addJob('noop', { id });
	close = () => u.release();
} else if (kind === 'pgboss') {
	const b = new PgBoss({ connectionString: url, supervise: false, schedule: false, migrate: false, max: 2 });
	b.on('error', (e) => console.error('pg-boss error:', e.message));
	await b.start();
	send = (id) => b.send('bench', { id });
	close = () => b.stop({ graceful: false, wait: true });
} else {
	console.error('usage: producer.mjs chargegate|graphile|pgboss DBURL RATE SECONDS OUT');
	process.exit(2);
}

const total = Math.round(Number(rate) * Number(seconds));
const step = 1000 / Number(rate);
const t0 = performance.now();
for (let i = 0; i < total; i++) {
	const wait = t0 + i * step - performance.now();
	if (wait > 0)
		await sleep(wait);
	const id = randomUUID();
	await send(id);
	fs.writeSync(fd, `${id} ${nowUs()}\n`);
}
await close();
process.exit(0);

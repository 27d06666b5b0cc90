// producer.mjs chargegate|graphile|pgboss DBURL RATE SECONDS OUT
//
// Light load for the wake-up latency: RATE events per second on a fixed
// schedule for SECONDS, one per transaction, each with one round trip on a
// plain pg.Client; appends "event_id commit_us" to OUT, the time taken as soon
// as the commit's answer arrived.
//   chargegate: BEGIN; INSERT one outbox row; NOTIFY chargegate_charging_session_request_outbox; COMMIT
//   graphile:   SELECT graphile_worker.add_job('noop', ...)  (what workerUtils.addJob runs;
//               add_job NOTIFYs jobs:insert itself)
//   pgboss:     boss.send('bench', {id}) run on this client (send's `db` option); the
//               queue has notify: true, so the insert NOTIFYs
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { PgBoss } from 'pg-boss';
import { client, nowUs, sleep } from './common.mjs';

const [kind, url, rate, seconds, out] = process.argv.slice(2);
const fd = fs.openSync(out, 'a');
const c = await client(url);
let send, close = async () => {};

if (kind === 'chargegate') {
	send = (id) => c.query(
		`BEGIN; INSERT INTO chargegate.charging_session_request_outbox (event_id, event_type, aggregate_id, payload)
		 VALUES ('${id}', 'StartChargingSessionRequestCommand', '${randomUUID()}', '{"bench": true}');
		 NOTIFY chargegate_charging_session_request_outbox; COMMIT`);
} else if (kind === 'graphile') {
	send = (id) => c.query(`SELECT id FROM graphile_worker.add_job('noop', json_build_object('id', '${id}'))`);
} else if (kind === 'pgboss') {
	const b = new PgBoss({ connectionString: url, supervise: false, schedule: false, migrate: false, max: 2 });
	b.on('error', (e) => console.error('pg-boss error:', e.message));
	await b.start();
	const db = { executeSql: (text, values) => c.query(text, values) };
	send = (id) => b.send('bench', { id }, { db });
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
	const t = nowUs();
	fs.writeSync(fd, `${id} ${t}\n`);
}
await close();
await c.end();
process.exit(0);

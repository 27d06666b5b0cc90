// pgboss.mjs setup|fill|work|listen DBURL [N|FILE]
//
//   setup URL        install pg-boss's schema; create queue "bench" with notify on
//   fill URL N       insert N no-op jobs up front (boss.insert, chunks of 10000)
//   work URL N       run workers until N jobs are completed: prints {elapsed_us, handled}
//   listen URL FILE  run workers whose handler appends "id start_us" to FILE, until SIGTERM
//
// "At its best" (option names checked in node_modules/pg-boss/dist/types.d.ts of
// 12.x): the instance-level LISTEN/NOTIFY listener (useListenNotify) and a queue
// created with notify: true, so a send() wakes the workers at once; batch
// fetching (batchSize) with a batch handler (one completion per batch);
// burstWhenBatchFull (fetch again at once while batches come back full); two
// workers (localConcurrency); the shortest polling allowed (0.5 s) as fallback;
// no supervision/cron in the measured processes.
// Environment: PB_BATCH (default 500), PB_WORKERS (default 2), PB_POOL (default 10).
import { PgBoss } from 'pg-boss';
import { client, env, latencyWriter, nowUs, pollUntil, result } from './common.mjs';

const [mode, url, arg] = process.argv.slice(2);
const QUEUE = 'bench';

function boss(extra = {}) {
	const b = new PgBoss({
		connectionString: url,
		max: Number(env('PB_POOL', 10)),
		supervise: false,
		schedule: false,
		migrate: false,
		useListenNotify: true,
		...extra,
	});
	b.on('error', (e) => console.error('pg-boss error:', e.message));
	return b;
}

const workOptions = () => ({
	batchSize: Number(env('PB_BATCH', 500)),
	localConcurrency: Number(env('PB_WORKERS', 2)),
	pollingIntervalSeconds: 0.5,
	notifyPollingIntervalSeconds: 0.5,
	burstWhenBatchFull: true,
});

if (mode === 'setup') {
	const b = boss({ migrate: true, useListenNotify: false });
	await b.start();
	await b.createQueue(QUEUE, { notify: true });
	await b.stop({ graceful: false, wait: true });
} else if (mode === 'fill') {
	const b = boss({ useListenNotify: false });
	await b.start();
	const n = Number(arg);
	for (let i = 0; i < n; i += 10000) {
		const jobs = [];
		for (let k = i; k < Math.min(n, i + 10000); k++)
			jobs.push({ data: { n: k } });
		await b.insert(QUEUE, jobs);
	}
	await b.stop({ graceful: false, wait: true });
} else if (mode === 'work') {
	const n = Number(arg);
	let handled = 0;
	let reached;
	const all = new Promise((r) => (reached = r));
	const b = boss();
	await b.start();
	const q = await b.getQueue(QUEUE);
	const c = await client(url);
	const t0 = nowUs();
	await b.work(QUEUE, workOptions(), async (jobs) => {
		handled += jobs.length;
		if (handled >= n)
			reached();
	});
	await all;
	// the handler returned; done when the last completion committed
	const done = await pollUntil(c,
		`SELECT NOT EXISTS (SELECT 1 FROM pgboss.${q.table} WHERE name = '${QUEUE}' AND state < 'completed') AS done`);
	await b.stop({ graceful: false, wait: true });
	await c.end();
	result({ elapsed_us: done - t0, handled });
} else if (mode === 'listen') {
	const write = latencyWriter(arg);
	const b = boss();
	await b.start();
	await b.work(QUEUE, workOptions(), async (jobs) => {
		for (const j of jobs)
			write(j.data.id);
	});
	await new Promise((r) => process.once('SIGTERM', r));
	await b.stop({ graceful: false, wait: true });
} else {
	console.error('usage: pgboss.mjs setup|fill|work|listen DBURL [N|FILE]');
	process.exit(2);
}
process.exit(0);

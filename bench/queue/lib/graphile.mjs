// graphile.mjs setup|fill|work|listen DBURL [N|FILE]
//
//   setup URL        install graphile-worker's schema (runMigrations)
//   fill URL N       add N no-op jobs up front in one add_jobs() call
//   work URL N       run a worker until N jobs are done (deleted): prints {elapsed_us, handled}
//   listen URL FILE  run a worker whose task appends "id start_us" to FILE, until SIGTERM
//
// "At its best" (option names checked in node_modules/graphile-worker/dist/index.d.ts,
// GraphileConfig.WorkerOptions, and dist/main.js of 0.18.0): a local queue
// (preset.worker.localQueue.size) so one query locks a batch of jobs, batched
// completion (completeJobBatchDelay/failJobBatchDelay), concurrency tuned.
// Environment: GW_CONCURRENCY (default 16), GW_LOCAL_QUEUE (default 500; -1 off),
// GW_COMPLETE_DELAY ms (default 0), GW_POLL ms (default 2000: NOTIFY wakes it anyway),
// GW_POOL (default concurrency + 2).
import { run, runMigrations } from 'graphile-worker';
import { client, env, latencyWriter, nowUs, pollUntil, result, sleep } from './common.mjs';

const [mode, url, arg] = process.argv.slice(2);

function options(taskList) {
	const concurrency = Number(env('GW_CONCURRENCY', 16));
	const localQueue = Number(env('GW_LOCAL_QUEUE', 500));
	const delay = Number(env('GW_COMPLETE_DELAY', 0));
	return {
		connectionString: url,
		concurrency,
		maxPoolSize: Number(env('GW_POOL', concurrency + 2)),
		pollInterval: Number(env('GW_POLL', 2000)),
		noHandleSignals: true,
		logger: quietLogger,
		taskList,
		preset: {
			worker: {
				localQueue: { size: localQueue },
				completeJobBatchDelay: delay,
				failJobBatchDelay: delay,
			},
		},
	};
}

// graphile-worker logs every job at info level; keep warnings and errors only.
import { Logger } from 'graphile-worker';
const quietLogger = new Logger(() => (level, message) => {
	if (level === 'error' || level === 'warning')
		console.error(`graphile-worker ${level}: ${message}`);
});

if (mode === 'setup') {
	await runMigrations({ connectionString: url, logger: quietLogger });
} else if (mode === 'fill') {
	const c = await client(url);
	await c.query(
		`SELECT count(*) FROM graphile_worker.add_jobs(ARRAY(
		   SELECT json_populate_record(null::graphile_worker.job_spec,
		            json_build_object('identifier', 'noop', 'payload', json_build_object('n', g)))
		     FROM generate_series(1, $1::int) g))`,
		[Number(arg)]);
	await c.end();
} else if (mode === 'work') {
	const n = Number(arg);
	let handled = 0;
	let reached;
	const all = new Promise((r) => (reached = r));
	const c = await client(url);
	const t0 = nowUs();
	const runner = await run(options({
		noop: async () => {
			if (++handled === n)
				reached();
		},
	}));
	await all;
	// the last completions are batched: done when the jobs are gone from the table
	const done = await pollUntil(c, 'SELECT NOT EXISTS (SELECT 1 FROM graphile_worker._private_jobs) AS done');
	await runner.stop();
	await c.end();
	result({ elapsed_us: done - t0, handled });
} else if (mode === 'listen') {
	const write = latencyWriter(arg);
	const runner = await run(options({ noop: async (payload) => write(payload.id) }));
	await new Promise((r) => process.once('SIGTERM', r));
	await runner.stop();
} else {
	console.error('usage: graphile.mjs setup|fill|work|listen DBURL [N|FILE]');
	process.exit(2);
}
process.exit(0);

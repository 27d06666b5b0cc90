// latency.mjs COMMITS STARTS -- joins "id commit_us" with "id start_us" (first
// start per id) and prints {n, lost, p50_ms, p99_ms, max_ms}.
import fs from 'node:fs';
import { result } from './common.mjs';

const read = (p) => {
	const m = new Map();
	for (const line of fs.readFileSync(p, 'utf8').split('\n')) {
		const [id, t] = line.trim().split(/\s+/);
		if (id && t && !m.has(id))
			m.set(id, Number(t));
	}
	return m;
};
const commits = read(process.argv[2]), starts = read(process.argv[3]);
const d = [];
for (const [id, c] of commits)
	if (starts.has(id))
		d.push((starts.get(id) - c) / 1000);
d.sort((a, b) => a - b);
// nearest-rank percentile
const pct = (p) => (d.length ? d[Math.max(0, Math.ceil((p / 100) * d.length) - 1)] : NaN);
const r3 = (x) => Math.round(x * 1000) / 1000;
result({ n: d.length, lost: commits.size - d.length, p50_ms: r3(pct(50)), p99_ms: r3(pct(99)), max_ms: r3(pct(100)) });

// summarize.mjs RESULTS.jsonl [--best SYSTEM]
// Medians of the repetitions as Markdown, and the ratios the goals are
// about, each system at its best configuration (best median throughput).
// With --best SYSTEM: only that system's best configuration, as its numbers
// joined by ':' (chargegate "1000", graphile-worker "64:2000", pg-boss "2000").
import fs from 'node:fs';

const rows = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const median = (xs) => {
	const s = [...xs].sort((a, b) => a - b);
	const m = s.length >> 1;
	return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const group = (list, key) => {
	const m = new Map();
	for (const r of list) {
		const k = key(r);
		if (!m.has(k))
			m.set(k, []);
		m.get(k).push(r);
	}
	return m;
};
const tput = [...group(rows.filter((r) => r.phase !== 'latency'), (r) => `${r.phase}|${r.system}|${r.config}`)]
	.map(([k, rs]) => {
		const [phase, system, config] = k.split('|');
		return { phase, system, config, rates: rs.map((r) => r.rate), loads: rs.map((r) => r.load1), median: median(rs.map((r) => r.rate)) };
	});
const systems = [...new Set(tput.map((t) => t.system))];
const best = new Map(systems.map((s) => [s, tput.filter((t) => t.phase === 'consume' && t.system === s)
	.reduce((a, b) => (b.median > a.median ? b : a))]));
if (process.argv[3] === '--best') {
	console.log(best.get(process.argv[4]).config.match(/\d+/g).join(':'));
	process.exit(0);
}
const fmt = (x) => Math.round(x).toLocaleString('en-US');
const out = [];
out.push('| phase | system | configuration | runs (per s) | load1 at the runs | median (per s) |', '|---|---|---|---|---|---:|');
for (const t of tput) {
	const isBest = t.phase === 'consume' && best.get(t.system) === t;
	out.push(`| ${t.phase} | ${t.system} | ${t.config}${isBest ? ' **best**' : ''} | ${t.rates.map(fmt).join(', ')} | ${t.loads.join(', ')} | **${fmt(t.median)}** |`);
}

const lat = [...group(rows.filter((r) => r.phase === 'latency'), (r) => r.system)].map(([system, rs]) => ({
	system,
	config: rs[0].config,
	rs,
	p50: median(rs.map((r) => r.p50_ms)),
	p99: median(rs.map((r) => r.p99_ms)),
}));
if (lat.length) {
	out.push('', '| wake-up latency | configuration | runs p50 (ms) | runs p99 (ms) | runs max (ms) | samples per run | load1 | median p50 (ms) | median p99 (ms) |',
		'|---|---|---|---|---|---|---|---:|---:|');
	for (const l of lat)
		out.push(`| ${l.system} | ${l.config} | ${l.rs.map((r) => r.p50_ms.toFixed(2)).join(', ')} | ${l.rs.map((r) => r.p99_ms.toFixed(2)).join(', ')} | ${l.rs.map((r) => r.max_ms.toFixed(1)).join(', ')} | ${l.rs.map((r) => r.n).join(', ')} | ${l.rs.map((r) => r.load1).join(', ')} | **${l.p50.toFixed(2)}** | **${l.p99.toFixed(2)}** |`);
}

const cg = best.get('chargegate');
const peers = systems.filter((s) => s !== 'chargegate').map((s) => best.get(s));
const faster = peers.reduce((a, b) => (b.median > a.median ? b : a), peers[0]);
const relay = tput.find((t) => t.phase === 'relay' && t.config === cg.config);
out.push('', `Ratios (medians of this one run; each system at its best configuration, chargegate at ${cg.config}):`, '');
if (faster) {
	const r = cg.median / faster.median;
	out.push(`- consume: chargegate ${fmt(cg.median)}/s ÷ ${faster.system} (the faster peer, ${faster.config}) ${fmt(faster.median)}/s = **${r.toFixed(2)}×** (goal ≥ 2×: ${r >= 2 ? 'met' : 'NOT met'})`);
	for (const p of peers)
		out.push(`  - vs ${p.system} (${p.config}, ${fmt(p.median)}/s): ${(cg.median / p.median).toFixed(2)}×`);
	if (relay)
		out.push(`- relay: chargegate ${fmt(relay.median)} rows/s = ${(relay.median / faster.median).toFixed(2)}× the faster peer's consume rate`);
}
const cgl = lat.find((l) => l.system === 'chargegate');
if (cgl) {
	out.push(`- wake-up: chargegate p50 **${cgl.p50.toFixed(2)} ms** (goal ≤ 5: ${cgl.p50 <= 5 ? 'met' : 'NOT met'}), p99 **${cgl.p99.toFixed(2)} ms** (goal ≤ 25: ${cgl.p99 <= 25 ? 'met' : 'NOT met'})`);
	for (const l of lat.filter((x) => x !== cgl))
		out.push(`  - vs ${l.system} (p50 ${l.p50.toFixed(2)}, p99 ${l.p99.toFixed(2)} ms): chargegate ÷ peer = p50 ${(cgl.p50 / l.p50).toFixed(2)}×, p99 ${(cgl.p99 / l.p99).toFixed(2)}× (< 1: chargegate faster)`);
}
console.log(out.join('\n'));

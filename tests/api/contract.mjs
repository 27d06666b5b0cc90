// contract.mjs: checks a running chargegated against doc/api.yaml.
//
// Every response example in the description carries x-request, the request
// that gets that answer from a daemon.  For each one this script makes the
// request over real HTTP and checks the documented status, Content-Type,
// headers (required ones present, each value valid against its schema), the
// body against the response's schema (JSON Schema 2020-12, ajv), and, for
// problem documents, the example's type, title, status and errors fields.
//
// x-request members (all optional):
//   method           instead of the operation's
//   path             {param: value} instead of the parameter's example
//   headers          {name: value}; null removes a default one, a list
//                    sends the header once per value.  Defaults:
//                    Authorization: Bearer <key> on operations that need a
//                    key, Content-Type: application/json with a body
//   body             the name of one of the operation's request examples
//   json | raw | size   a JSON value, a string, or a valid body padded to
//                    that many bytes, instead
//   given            a state of the database the caller arranges first
//                    (absent: "running"); the example runs only in a run
//                    with --given that state
//   expect, expect-headers   {member or header: value} the answer must have
//   skip             why this example cannot be reproduced here
// Strings may hold {{key}}, {{other_key}}, {{this.M}} (member M of this
// answer's body) and {{NAME.M}} (member M of the body example NAME got).
//
// Usage:
//   node contract.mjs run  --spec FILE --base URL --key KEY --other-key KEY
//                          --state FILE --given STATE…
//   node contract.mjs summary --spec FILE --state FILE --statuses 200,202,…
// Prints one line per check, "ok<TAB>name" or "not ok<TAB>name<TAB>why";
// exits 2 when it cannot run at all.
import fs from 'node:fs';
import http from 'node:http';
import { parseDocument } from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
const TIMEOUT_MS = 15000;

function die(msg) {
	process.stderr.write(`contract.mjs: ${msg}\n`);
	process.exit(2);
}

function parseArgs(argv) {
	const opts = { mode: argv[0], given: [] };
	for (let i = 1; i < argv.length; i += 2) {
		const name = argv[i].replace(/^--/, '');
		if (i + 1 >= argv.length)
			die(`${argv[i]} needs a value`);
		if (name === 'given')
			opts.given.push(argv[i + 1]);
		else
			opts[name] = argv[i + 1];
	}
	if (opts.mode !== 'run' && opts.mode !== 'summary')
		die('the first argument is "run" or "summary"');
	for (const need of opts.mode === 'run' ? ['spec', 'base', 'key', 'other-key', 'state'] : ['spec', 'state'])
		if (!opts[need])
			die(`--${need} is missing`);
	return opts;
}

// A YAML error anywhere makes the description unusable: no lenient parse.
function loadSpec(file) {
	const doc = parseDocument(fs.readFileSync(file, 'utf8'), { uniqueKeys: true, strict: true, prettyErrors: true });
	const problems = [...doc.errors, ...doc.warnings];
	if (problems.length)
		die(`${file} is not valid YAML (${problems.length} problems; the first):\n${problems[0]}`);
	return doc.toJS();
}

function deref(spec, obj) {
	while (obj && typeof obj.$ref === 'string') {
		if (!obj.$ref.startsWith('#/'))
			die(`only local references are supported: ${obj.$ref}`);
		obj = obj.$ref.slice(2).split('/').reduce((o, k) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], spec);
		if (obj === undefined)
			die('a $ref points nowhere');
	}
	return obj;
}

// Component schemas become $defs of every compiled schema.
function makeValidator(spec) {
	const ajv = new Ajv2020({ strict: true, allErrors: true });
	addFormats(ajv);
	const defs = JSON.parse(JSON.stringify(spec.components?.schemas ?? {}).replaceAll('#/components/schemas/', '#/$defs/'));
	const cache = new Map();
	return (schema, value) => {
		const key = JSON.stringify(schema);
		if (!cache.has(key)) {
			const s = JSON.parse(key.replaceAll('#/components/schemas/', '#/$defs/'));
			try {
				cache.set(key, ajv.compile({ ...s, $defs: defs }));
			} catch (e) {
				cache.set(key, e);
			}
		}
		const v = cache.get(key);
		if (v instanceof Error)
			return [`the schema is not usable: ${v.message}`];
		return v(value) ? [] : v.errors.map((e) => `${e.instancePath || '(body)'} ${e.message}`);
	};
}

// Every response example in document order, with what is needed to replay it.
function examples(spec) {
	const out = [];
	for (const [path, item] of Object.entries(spec.paths ?? {})) {
		for (const method of METHODS) {
			const op = item[method];
			if (!op)
				continue;
			for (const [status, r] of Object.entries(op.responses ?? {})) {
				const resp = deref(spec, r);
				for (const [mediaType, media] of Object.entries(resp.content ?? {})) {
					for (const [name, ex] of Object.entries(media.examples ?? {})) {
						const example = deref(spec, ex);
						out.push({
							id: `${method.toUpperCase()} ${path} ${status} ${name}`,
							name, path, method, op, status, mediaType, example,
							schema: media.schema ?? {},
							headers: Object.fromEntries(Object.entries(resp.headers ?? {})
								.map(([h, v]) => [h, deref(spec, v)])),
							xr: example['x-request'],
						});
					}
				}
			}
		}
	}
	return out;
}

function expand(s, ctx) {
	if (typeof s !== 'string')
		return s;
	return s.replace(/\{\{([^}]+)\}\}/g, (_, ref) => {
		if (ref === 'key' || ref === 'other_key')
			return ctx[ref];
		const [name, member] = ref.split('.');
		const body = name === 'this' ? ctx.thisBody : ctx.answers[name];
		if (body === undefined || body[member] === undefined)
			throw new Error(`{{${ref}}}: no such answer yet`);
		return String(body[member]);
	});
}

function requestBodyExample(ex, name) {
	const value = ex.op.requestBody?.content?.['application/json']?.examples?.[name]?.value;
	if (ex.op.requestBody && value === undefined)
		throw new Error(`x-request.body: the operation has no request example "${name}"`);
	return value === undefined ? undefined : JSON.stringify(value);
}

function bodyOf(ex, xr) {
	if (xr.raw !== undefined)
		return String(xr.raw);
	if (xr.json !== undefined)
		return JSON.stringify(xr.json);
	if (xr.size !== undefined) {
		const base = JSON.parse(requestBodyExample(ex, 'valid'));
		const pad = xr.size - JSON.stringify({ ...base, pad: '' }).length;
		return JSON.stringify({ ...base, pad: 'x'.repeat(Math.max(pad, 0)) });
	}
	return xr.body === undefined ? undefined : requestBodyExample(ex, xr.body);
}

function buildRequest(spec, ex, ctx) {
	const xr = ex.xr;
	let path = ex.path;
	for (const p of (ex.op.parameters ?? []).map((x) => deref(spec, x)).filter((x) => x.in === 'path')) {
		const v = expand(xr.path?.[p.name] ?? p.example, ctx);
		path = path.replace(`{${p.name}}`, encodeURIComponent(v));
	}
	const body = bodyOf(ex, xr);
	const headers = {};
	if ((ex.op.security ?? spec.security ?? []).some((req) => Object.keys(req).length > 0))
		headers.authorization = `Bearer ${ctx.key}`;
	if (body !== undefined)
		headers['content-type'] = 'application/json';
	for (const [h, v] of Object.entries(xr.headers ?? {})) {
		if (v === null)
			delete headers[h.toLowerCase()];
		else
			headers[h.toLowerCase()] = Array.isArray(v) ? v.map((x) => expand(x, ctx)) : expand(v, ctx);
	}
	return { method: (xr.method ?? ex.method).toUpperCase(), path, headers, body };
}

function send(base, req) {
	return new Promise((resolve, reject) => {
		const headers = { ...req.headers };
		if (req.body !== undefined)
			headers['content-length'] = Buffer.byteLength(req.body);
		const r = http.request(new URL(req.path, base), { method: req.method, headers, timeout: TIMEOUT_MS }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
				text: Buffer.concat(chunks).toString('utf8') }));
			res.on('error', reject);
		});
		r.on('timeout', () => r.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
		r.on('error', reject);
		r.end(req.body);
	});
}

function checkHeaders(ex, res, ctx, validate, why) {
	for (const [name, h] of Object.entries(ex.headers)) {
		const v = res.headers[name.toLowerCase()];
		if (v === undefined) {
			if (h.required)
				why.push(`header ${name} is missing`);
			continue;
		}
		for (const e of validate(h.schema ?? {}, v))
			why.push(`header ${name}: "${v}": ${e.replace('(body) ', '')}`);
	}
	for (const [name, want] of Object.entries(ex.xr['expect-headers'] ?? {})) {
		const v = res.headers[name.toLowerCase()], w = expand(want, ctx);
		if (v !== w)
			why.push(`header ${name} is ${v === undefined ? 'missing' : `"${v}"`}, not "${w}"`);
	}
}

function sameFields(a, b) {
	const f = (l) => (l ?? []).map((e) => e.field).sort().join(',');
	return f(a) === f(b);
}

function checkBody(ex, res, ctx, validate, why) {
	const json = /json$/.test(ex.mediaType);
	let body = res.text;
	if (json) {
		try {
			body = JSON.parse(res.text);
		} catch (e) {
			why.push(`the body is not JSON: ${e.message}`);
			return undefined;
		}
	}
	for (const e of validate(ex.schema, body))
		why.push(`the body does not match the schema: ${e}`);
	const want = ex.example.value;
	if (ex.mediaType === 'application/problem+json') {
		for (const m of ['type', 'title', 'status'])
			if (body?.[m] !== want[m])
				why.push(`${m} is ${JSON.stringify(body?.[m])}, the example says ${JSON.stringify(want[m])}`);
		if (want.errors && !sameFields(body?.errors, want.errors))
			why.push(`errors name ${JSON.stringify((body?.errors ?? []).map((e) => e.field))}, the example ${JSON.stringify(want.errors.map((e) => e.field))}`);
	}
	ctx.thisBody = body;
	for (const [m, w] of Object.entries(ex.xr.expect ?? {}))
		if (body?.[m] !== expand(w, ctx))
			why.push(`${m} is ${JSON.stringify(body?.[m])}, expected ${JSON.stringify(expand(w, ctx))}`);
	return body;
}

async function runOne(spec, ex, ctx, validate) {
	const why = [];
	let req;
	try {
		req = buildRequest(spec, ex, ctx);
	} catch (e) {
		return [`cannot build the request: ${e.message}`];
	}
	let res;
	try {
		res = await send(ctx.base, req);
	} catch (e) {
		return [`${req.method} ${req.path}: ${e.message}`];
	}
	if (String(res.status) !== ex.status)
		why.push(`${req.method} ${req.path} was answered ${res.status}, not ${ex.status}: ${res.text.slice(0, 300)}`);
	const ct = (res.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
	if (ct !== ex.mediaType)
		why.push(`Content-Type is "${res.headers['content-type'] ?? ''}", not ${ex.mediaType}`);
	let body;
	try {
		body = checkBody(ex, res, ctx, validate, why);
		checkHeaders(ex, res, ctx, validate, why);
	} catch (e) {
		why.push(e.message);
	}
	if (why.length === 0 && body && typeof body === 'object')
		ctx.answers[ex.name] = body;
	return why;
}

function report(ok, name, why) {
	const clean = (s) => s.replace(/[\t\n]+/g, ' ');
	process.stdout.write(ok ? `ok\t${clean(name)}\n` : `not ok\t${clean(name)}\t${clean(why.join('; '))}\n`);
}

function readState(file) {
	return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : { answers: {}, ran: {} };
}

async function run(opts) {
	const spec = loadSpec(opts.spec);
	const validate = makeValidator(spec);
	const state = readState(opts.state);
	const ctx = { base: opts.base, key: opts.key, other_key: opts['other-key'], answers: state.answers };
	for (const ex of examples(spec)) {
		if (!ex.xr || ex.xr.skip || !opts.given.includes(ex.xr.given ?? 'running'))
			continue;
		const why = await runOne(spec, ex, ctx, validate);
		state.ran[ex.id] = why.length === 0 ? ex.status : 'failed';
		report(why.length === 0, `${ex.id}${ex.xr.given ? ` (given ${ex.xr.given})` : ''}`, why);
	}
	fs.writeFileSync(opts.state, JSON.stringify(state));
}

// The description as a whole: every example replayable and replayed, every
// example value valid for its schema, every status asked for covered.
function summary(opts) {
	const spec = loadSpec(opts.spec);
	const validate = makeValidator(spec);
	const state = readState(opts.state);
	const all = examples(spec);
	const noRequest = all.filter((ex) => !ex.xr).map((ex) => ex.id);
	report(noRequest.length === 0, 'every response example has an x-request', noRequest.map((id) => `${id} has none`));
	const notRun = all.filter((ex) => ex.xr && !ex.xr.skip && !state.ran[ex.id]).map((ex) => ex.id);
	report(notRun.length === 0, 'every example was replayed against the daemon', notRun.map((id) => `${id} never ran`));
	const invalid = all.flatMap((ex) => validate(ex.schema, ex.example.value).map((e) => `${ex.id}: ${e}`));
	report(invalid.length === 0, 'every example value matches its schema', invalid);
	const covered = new Set(Object.values(state.ran).filter((s) => s !== 'failed'));
	const missing = (opts.statuses ?? '').split(',').filter((s) => s && !covered.has(s));
	report(missing.length === 0, `statuses ${opts.statuses ?? ''} each answered as documented`,
		missing.map((s) => `no example of ${s} passed`));
	const skipped = all.filter((ex) => ex.xr?.skip);
	for (const ex of skipped)
		process.stdout.write(`not replayed: ${ex.id}: ${ex.xr.skip}\n`);
}

const opts = parseArgs(process.argv.slice(2));
if (opts.mode === 'run')
	await run(opts);
else
	summary(opts);

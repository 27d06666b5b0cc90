// The status page: reads /ui/api/* and renders every value with
// textContent, never as markup, so nothing from the database can inject
// HTML.  The JSON's shape is the SQL functions' (status_report,
// recent_requests, request_story): tables are built from whatever members
// they carry, so a new column shows up without a change here.
'use strict';

// A refresh starts only after the previous one finished (a slow database
// must not collect a queue of reads on the page's one connection), and
// waits longer while the answers are slow or failing.
const REFRESH_MS = 3000;
// The longest wait: a page left open on a database in trouble reads once a minute.
const MAX_REFRESH_MS = 60000;
// A refresh slower than this found a busy database: the next waits SLOW_FACTOR times as long as it took.
const SLOW_MS = 1000;
const SLOW_FACTOR = 5;
// Sections of the status report in the order an operator reads them; others follow.
const ORDER = ['request', 'timeline', 'accepted_last_hour', 'finished_last_hour', 'outboxes', 'subscriptions',
  'stranded', 'leases', 'open_circuits'];
const BAD_STATUS = /^(delivery_failed|dead|failed|open)$/;
const ISO_TIME = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d(:?\d\d)?)$/;
// Columns that say what a row is come first (jsonb orders members by length).
// then what an operator looks for in a timeline before the relay's details.
const IDENTITY = ['at', 'time', 'event', 'kind', 'subscription', 'destination', 'request_id', 'id', 'status',
  'decision', 'reason', 'state', 'attempt', 'http_status', 'error_class', 'latency_ms', 'outbox', 'topic'];

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function title(key) {
  const t = String(key).replace(/_/g, ' ');
  return t.charAt(0).toUpperCase() + t.slice(1);
}

function isUuid(s) {
  return typeof s === 'string' && /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s);
}

// One table cell: request ids link to their timeline, numbers align right.
function cell(key, value) {
  const td = el('td');
  if (value === null || value === undefined) {
    td.textContent = '—';
    td.className = 'muted';
  } else if (typeof value === 'object') {
    td.append(el('code', null, JSON.stringify(value)));
  } else if (/(^|_)request_id$|^id$/.test(key) && isUuid(value)) {
    const a = el('a', null, value);
    a.href = '#' + value;
    td.className = 'id';
    td.append(a);
  } else if (isUuid(value)) {
    td.textContent = value;
    td.className = 'id';
  } else if (typeof value === 'string' && ISO_TIME.test(value)) {
    // to the millisecond, without the zone: the full value is the tooltip
    const m = ISO_TIME.exec(value);
    const zone = /^(Z|\+00(:?00)?)$/.test(m[4]) ? ' UTC' : ' ' + m[4];
    td.textContent = m[1] + ' ' + m[2] + (m[3] || '').slice(0, 4) + zone;
    td.title = value;
    td.className = 'time';
  } else {
    td.textContent = String(value);
    if (typeof value === 'number') td.className = 'num';
    if (typeof value === 'string' && BAD_STATUS.test(value)) td.className = 'bad';
  }
  return td;
}

function columnsOf(rows) {
  const cols = [];
  for (const r of rows) {
    for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  }
  const first = (k) => (IDENTITY.includes(k) ? IDENTITY.indexOf(k) : IDENTITY.length);
  return cols.map((k, i) => [first(k), i, k]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((x) => x[2]);
}

function table(rows) {
  if (rows.length === 0) return el('p', 'empty', 'none');
  if (rows.some((r) => r === null || typeof r !== 'object' || Array.isArray(r))) {
    const t = el('table');
    for (const r of rows) {
      const tr = el('tr');
      tr.append(cell('', r));
      t.append(tr);
    }
    return t;
  }
  const cols = columnsOf(rows);
  const t = el('table');
  const head = el('tr');
  for (const c of cols) head.append(el('th', null, title(c)));
  const thead = el('thead');
  thead.append(head);
  t.append(thead);
  const body = el('tbody');
  for (const r of rows) {
    const tr = el('tr');
    for (const c of cols) tr.append(cell(c, r[c]));
    body.append(tr);
  }
  t.append(body);
  const wrap = el('div', 'wide');
  wrap.append(t);
  return wrap;
}

// An object: its scalar members as one two-column table, then each
// nested array or object as a table of its own under a heading.
function render(obj, depth) {
  const frag = document.createDocumentFragment();
  if (Array.isArray(obj)) {
    frag.append(table(obj));
    return frag;
  }
  if (obj === null || typeof obj !== 'object') {
    frag.append(el('p', null, String(obj)));
    return frag;
  }
  const scalars = Object.keys(obj).filter((k) => obj[k] === null || typeof obj[k] !== 'object');
  if (scalars.length > 0) {
    const t = el('table');
    for (const k of scalars) {
      const tr = el('tr');
      tr.append(el('th', null, title(k)), cell(k, obj[k]));
      t.append(tr);
    }
    frag.append(t);
  }
  const nested = Object.keys(obj).filter((k) => obj[k] !== null && typeof obj[k] === 'object');
  nested.sort((a, b) => rank(a) - rank(b));
  for (const k of nested) {
    const v = obj[k];
    const count = Array.isArray(v) ? ' (' + v.length + ')' : '';
    frag.append(el(depth === 0 ? 'h2' : 'h3', null, title(k) + count));
    frag.append(Array.isArray(v) ? table(v) : render(v, depth + 1));
  }
  return frag;
}

function rank(key) {
  const i = ORDER.indexOf(key);
  return i < 0 ? ORDER.length : i;
}

async function getJson(path) {
  const res = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  let body = null;
  try {
    body = await res.json();
  } catch (e) {
    body = null;
  }
  if (!res.ok && res.status !== 404) {
    const why = body && body.detail ? body.detail : res.statusText;
    throw new Error(path + ': ' + res.status + ' ' + why);
  }
  return { status: res.status, body: body };
}

function showError(message) {
  const e = document.getElementById('error');
  e.textContent = message;
  e.hidden = !message;
}

function sum(rows, keys) {
  let n = 0;
  for (const r of Array.isArray(rows) ? rows : []) {
    for (const k of keys) if (r && typeof r[k] === 'number') n += r[k];
  }
  return n;
}

// The numbers to look at first, added up from the report's tables.
function summary(report) {
  const items = [
    ['Outbox backlog', sum(report.outboxes, ['pending', 'delayed'])],
    ['Subscription backlog', sum(report.subscriptions, ['ready', 'retrying', 'leased'])],
    ['Dead letters', sum(report.subscriptions, ['dead'])],
    ['Expired leases', sum(report.subscriptions, ['expired_leases'])],
    ['Stranded', sum(report.stranded, ['messages'])],
    ['Open circuits', Array.isArray(report.open_circuits) ? report.open_circuits.length : 0],
  ];
  const dl = el('div', 'summary');
  for (const [name, n] of items) {
    const box = el('div', n > 0 && name !== 'Outbox backlog' && name !== 'Subscription backlog' ? 'tile bad' : 'tile');
    box.append(el('span', 'count', String(n)), el('span', 'label', name));
    dl.append(box);
  }
  return dl;
}

async function refreshStatus() {
  const status = await getJson('/ui/api/status');
  const box = document.getElementById('status');
  const s = el('section');
  if (status.body && typeof status.body === 'object') s.append(summary(status.body));
  s.append(render(status.body, 0));
  box.replaceChildren(s);
}

async function refreshRecent() {
  const recent = await getJson('/ui/api/requests');
  const rows = Array.isArray(recent.body) ? recent.body : (recent.body && recent.body.requests) || [];
  document.getElementById('recent-body').replaceChildren(table(rows));
}

async function refreshTimeline() {
  const id = decodeURIComponent(location.hash.slice(1));
  const box = document.getElementById('timeline');
  if (!id) {
    box.hidden = true;
    return;
  }
  document.getElementById('timeline-id').textContent = id;
  box.hidden = false;
  const body = document.getElementById('timeline-body');
  if (!isUuid(id)) {
    body.replaceChildren(el('p', 'bad', 'not a request id'));
    return;
  }
  const story = await getJson('/ui/api/requests/' + encodeURIComponent(id));
  if (story.status === 404) {
    body.replaceChildren(el('p', 'bad', 'no request has this id'));
    return;
  }
  body.replaceChildren(render(story.body, 1));
}

let delay = REFRESH_MS;
let lastRead = null;	// when every read of a refresh last succeeded
let timer = null;
let running = false;

function nextDelay(failed, tookMs) {
  if (failed) return Math.min(delay * 2, MAX_REFRESH_MS);
  if (tookMs > SLOW_MS) return Math.min(Math.max(REFRESH_MS, tookMs * SLOW_FACTOR), MAX_REFRESH_MS);
  return REFRESH_MS;
}

function showTimes() {
  const read = lastRead ? 'read at ' + lastRead.toLocaleTimeString() : 'not read yet';
  document.getElementById('updated').textContent = read + ', next in ' + Math.round(delay / 1000) + ' s';
}

// A hidden tab reads nothing; it refreshes when it is shown again.
function schedule() {
  timer = document.hidden ? null : setTimeout(refresh, delay);
}

async function refresh() {
  timer = null;
  running = true;
  const t0 = Date.now();
  const results = await Promise.allSettled([refreshStatus(), refreshRecent(), refreshTimeline()]);
  const failed = results.filter((r) => r.status === 'rejected').map((r) => String(r.reason && r.reason.message));
  if (failed.length === 0) lastRead = new Date();
  delay = nextDelay(failed.length > 0, Date.now() - t0);
  showError(failed.length > 0 ? failed.join('; ') + '; next try in ' + Math.round(delay / 1000) + ' s' : '');
  showTimes();
  running = false;
  schedule();
}

function start() {
  document.getElementById('timeline-close').addEventListener('click', (ev) => {
    ev.preventDefault();
    history.replaceState(null, '', location.pathname);
    refreshTimeline();
  });
  window.addEventListener('hashchange', () => {
    refreshTimeline().catch((e) => showError(String(e.message)));
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && !timer && !running) refresh();
  });
  refresh();
}

document.addEventListener('DOMContentLoaded', start);

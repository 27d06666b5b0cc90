// Verifies callbacks recorded by receiver.js with the npm "standardwebhooks"
// package, an implementation of the Standard Webhooks specification that
// shares no code with chargegate.
//
//   node verify.js RECEIVED.json SECRET...
//
// For each recorded callback one line:
//   <webhook-id> signatures=<n> all=<r1>,<r2>,... each=<s1>,<s2>,... body=<status>
// r_i: "ok" when Webhook(SECRET_i).verify(raw body, headers) accepts the
//      callback, else the library's error message (spaces as "_");
// s_j: for the j-th signature of the webhook-signature header alone, the
//      1-based index of the one secret that verifies it (0: none, "many": more);
// body: the "status" member of the payload verify() returned.
// A tampered copy of each callback (one byte of the body changed) must be
// refused by every secret; otherwise the line ends with " TAMPERED_ACCEPTED".
"use strict";
const fs = require("node:fs");
const { Webhook } = require("standardwebhooks");

const [file, ...secrets] = process.argv.slice(2);
if (!file || secrets.length === 0) {
  process.stderr.write("usage: node verify.js RECEIVED.json SECRET...\n");
  process.exit(2);
}
const hooks = secrets.map((s) => new Webhook(s));
const entries = JSON.parse(fs.readFileSync(file, "utf8"));

const tryVerify = (wh, body, headers) => {
  try {
    return { ok: true, payload: wh.verify(body, headers) };
  } catch (e) {
    return { ok: false, error: String(e.message).replace(/\s+/g, "_") };
  }
};

for (const e of entries) {
  const body = Buffer.from(e.body_base64, "base64");
  const h = e.headers;
  const sigs = (h["webhook-signature"] || "").split(" ").filter((s) => s.length > 0);
  let payload = null;
  const all = hooks.map((wh) => {
    const r = tryVerify(wh, body, h);
    if (r.ok) payload = r.payload;
    return r.ok ? "ok" : r.error;
  });
  const each = sigs.map((sig) => {
    const hit = [];
    hooks.forEach((wh, i) => {
      if (tryVerify(wh, body, { ...h, "webhook-signature": sig }).ok) hit.push(i + 1);
    });
    return hit.length === 1 ? String(hit[0]) : hit.length === 0 ? "0" : "many";
  });
  const tampered = Buffer.from(body);
  if (tampered.length > 0) tampered[tampered.length - 1] ^= 0x01;
  const tamperedAccepted = hooks.some((wh) => tryVerify(wh, tampered, h).ok);
  process.stdout.write(
    `${h["webhook-id"]} signatures=${sigs.length} all=${all.join(",")} each=${each.join(",")}` +
      ` body=${payload && payload.status}${tamperedAccepted ? " TAMPERED_ACCEPTED" : ""}\n`,
  );
}

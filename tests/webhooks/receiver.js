// A minimal callback receiver that keeps what the demo receiver does not:
// every request's headers and its raw body (base64), so that a signature can
// be verified over the exact bytes sent.  Node's standard library only.
//
//   node receiver.js HOST PORT
//   POST any path     recorded, answered 200
//   GET /received     JSON array of {received_at_ms, path, headers, body_base64}
//   GET /healthz      {"status":"ok"}
"use strict";
const http = require("node:http");

const [host, port] = process.argv.slice(2);
if (!host || !port) {
  process.stderr.write("usage: node receiver.js HOST PORT\n");
  process.exit(2);
}
const received = [];

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const json = (code, doc) => {
      res.writeHead(code, { "Content-Type": "application/json" });
      res.end(JSON.stringify(doc));
    };
    if (req.method === "POST") {
      const entry = {
        received_at_ms: Date.now(),
        path: req.url,
        headers: req.headers, // names in lower case; repeated ones joined
        body_base64: Buffer.concat(chunks).toString("base64"),
      };
      received.push(entry);
      process.stdout.write(JSON.stringify(entry) + "\n");
      json(200, { status: 200, result: "received" });
    } else if (req.method === "GET" && req.url === "/received") {
      json(200, received);
    } else if (req.method === "GET" && req.url === "/healthz") {
      json(200, { status: "ok" });
    } else {
      json(404, { error: "POST callbacks to any path; GET /received, GET /healthz" });
    }
  });
});
server.listen(Number(port), host);
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => server.close(() => process.exit(0)));
}

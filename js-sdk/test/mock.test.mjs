// The SDK against a scripted stand-in for the agent (ws's server), for
// what a real agent does not do on demand: small chunk limits, token
// events, corrupted downloads, dropped connections. Needs no agent.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, test } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import { connect, KysoError } from "../dist/kyso.mjs";

const CHUNK = 1000;
const hex = (b) => createHash("sha256").update(b).digest("hex");

function frame(id, doc, offset, bytes) {
  const h = Buffer.from(JSON.stringify({ id, doc, offset }));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(h.length);
  return Buffer.concat([len, h, bytes]);
}

// A connection of the mock agent: answers hello, collects uploads as
// docs/protocol.md frames them, and runs the test's handler per method.
let wss, port;
let handler = () => {};
const conns = [];
before(async () => {
  wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((r) => wss.on("listening", r));
  port = wss.address().port;
  wss.on("connection", (ws, req) => {
    const conn = { ws, origin: req.headers.origin, frames: [], requests: [] };
    conns.push(conn);
    const uploads = new Map();
    ws.on("message", (data, isBinary) => {
      if (isBinary) {
        const n = data.readUInt32BE(0);
        const h = JSON.parse(data.subarray(4, 4 + n));
        const chunk = data.subarray(4 + n);
        conn.frames.push({ ...h, size: chunk.length });
        const up = uploads.get(h.id);
        up.parts[h.doc] = Buffer.concat([up.parts[h.doc] || Buffer.alloc(0), chunk]);
        if (up.req.params.documents.every((d, i) => up.parts[i]?.length === d.size)) {
          uploads.delete(h.id);
          handler(conn, up.req, up.parts);
        }
        return;
      }
      const req = JSON.parse(data);
      conn.requests.push(req);
      const send = (m) => ws.send(JSON.stringify({ id: req.id, ...m }));
      if (req.method === "hello") {
        assert.deepEqual(req.params.protocols, [1]);
        send({ result: { protocol: 1, version: "mock", capabilities: ["signPdf", "signPdfs", "status", "events"], limits: { maxDocumentBytes: 1e6, maxChunkBytes: CHUNK, maxInFlight: 4, maxMessageBytes: 1 << 20 } } });
      } else if (req.params?.documents) {
        uploads.set(req.id, { req, parts: [] });
      } else {
        handler(conn, req, []);
      }
    });
  });
});
after(() => wss.close());

const answer = (conn, req, m) => conn.ws.send(JSON.stringify({ id: req.id, ...m }));
const opts = (extra) => ({ ports: [port], WebSocket, headers: { Origin: "https://qlvb.example.gov.vn" }, ...extra });

test("documents go up in chunks of at most maxChunkBytes, in order, with their SHA-256", async () => {
  const a = new Uint8Array(2500).map((_, i) => i % 251);
  const b = new Uint8Array(1000).fill(9);
  const signed = [Buffer.concat([Buffer.from(a), Buffer.from("signed-a")]), Buffer.concat([Buffer.from(b), Buffer.from("signed-b")])];
  handler = (conn, req, parts) => {
    assert.equal(req.method, "signPdfs");
    assert.equal(req.params.options.level, "B-B");
    assert.deepEqual(req.params.documents.map((d) => [d.name, d.size, d.sha256]), [["a.pdf", 2500, hex(a)], ["b.pdf", 1000, hex(b)]]);
    assert.deepEqual(parts.map((p) => hex(p)), [hex(a), hex(b)]);
    // Progress, then the signed documents in two-byte-split chunks.
    for (let i = 0; i < 2; i++) conn.ws.send(JSON.stringify({ event: "progress", data: { id: req.id, done: i + 1, total: 2, document: req.params.documents[i].name } }));
    signed.forEach((d, i) => {
      conn.ws.send(frame(req.id, i, 0, d.subarray(0, 700)));
      conn.ws.send(frame(req.id, i, 700, d.subarray(700)));
    });
    answer(conn, req, { result: { documents: signed.map((d, i) => ({ name: req.params.documents[i].name, size: d.length, sha256: hex(d), field: "Signature1", level: "B-B", signer: "ab" })) } });
  };
  const c = await connect(opts());
  try {
    assert.equal(conns.at(-1).origin, "https://qlvb.example.gov.vn", "the Origin header reaches the handshake");
    const progress = [];
    const out = await c.signPdfs([{ name: "a.pdf", data: a }, { name: "b.pdf", data: new Blob([b]) }], { options: { level: "B-B" }, onProgress: (p) => progress.push(p.done) });
    assert.deepEqual(progress, [1, 2]);
    assert.deepEqual(out.map((d) => Buffer.from(d.data)), signed);
    assert.equal(out[1].field, "Signature1");
    const frames = conns.at(-1).frames;
    assert.deepEqual(frames.map((f) => [f.doc, f.offset, f.size]), [[0, 0, 1000], [0, 1000, 1000], [0, 2000, 500], [1, 0, 1000]]);
  } finally {
    c.close();
  }
});

test("a downloaded document that does not match its declared SHA-256 is refused", async () => {
  handler = (conn, req) => {
    conn.ws.send(frame(req.id, 0, 0, Buffer.from("tampered")));
    answer(conn, req, { result: { documents: [{ name: "x.pdf", size: 8, sha256: hex(Buffer.from("original")) }] } });
  };
  const c = await connect(opts({ lang: "en" }));
  try {
    await assert.rejects(c.signPdf(new Uint8Array([1, 2, 3]), { name: "x.pdf" }), (e) => e instanceof KysoError && e.code === "DOCUMENT_DIGEST_MISMATCH" && e.message === "The document was altered in transit.");
  } finally {
    c.close();
  }
});

test("token events reach their handlers; unknown events are ignored; off() unsubscribes", async () => {
  const c = await connect(opts());
  try {
    const got = [];
    const off = c.on("tokenInserted", (t) => got.push(["in", t.label]));
    c.on("certificatesChanged", (l) => got.push(["certs", l.length]));
    c.on("tokenRemoved", () => {
      throw new Error("a throwing handler does not break the connection");
    });
    const ws = conns.at(-1).ws;
    const orig = console.error;
    console.error = () => {};
    try {
      ws.send(JSON.stringify({ event: "somethingNew", data: {} }));
      ws.send(JSON.stringify({ event: "tokenInserted", data: { id: "t1", label: "VNPT-CA" } }));
      ws.send(JSON.stringify({ event: "certificatesChanged", data: [{}, {}] }));
      ws.send(JSON.stringify({ event: "tokenRemoved", data: { id: "t1" } }));
      handler = (conn, req) => answer(conn, req, { result: { version: "mock", tokens: [], modules: 0, busy: false } });
      assert.equal((await c.status()).version, "mock");
    } finally {
      console.error = orig;
    }
    off();
    ws.send(JSON.stringify({ event: "tokenInserted", data: { id: "t2", label: "again" } }));
    await c.status();
    assert.deepEqual(got, [["in", "VNPT-CA"], ["certs", 2]]);
  } finally {
    c.close();
  }
});

test("a dropped connection rejects calls in flight with AGENT_DISCONNECTED, then reconnects", async () => {
  handler = () => {}; // never answers
  const c = await connect(opts());
  try {
    const disconnected = new Promise((r) => c.on("disconnected", r));
    const reconnected = new Promise((r) => c.on("reconnected", r));
    const pending = c.status();
    await new Promise((r) => setTimeout(r, 50));
    const before = conns.length;
    conns.at(-1).ws.terminate();
    await assert.rejects(pending, (e) => e instanceof KysoError && e.code === "AGENT_DISCONNECTED");
    assert.equal((await disconnected).code, 1006);
    const info = await reconnected;
    assert.equal(info.version, "mock");
    assert.equal(conns.length, before + 1, "one new connection");
    handler = (conn, req) => answer(conn, req, { result: { version: "mock", tokens: [], modules: 0, busy: false } });
    assert.equal((await c.status()).version, "mock");
  } finally {
    c.close();
  }
});

test("a hello without a common protocol is PROTOCOL_MISMATCH", async () => {
  const srv = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((r) => srv.on("listening", r));
  srv.on("connection", (ws) =>
    ws.on("message", (d) => ws.send(JSON.stringify({ id: JSON.parse(d).id, error: { code: "UNSUPPORTED_PROTOCOL", message: "no", details: { supported: [2] } } }))),
  );
  try {
    await assert.rejects(connect({ ports: [srv.address().port], WebSocket }), (e) => e instanceof KysoError && e.code === "PROTOCOL_MISMATCH" && e.details.supported[0] === 2);
  } finally {
    srv.close();
  }
});

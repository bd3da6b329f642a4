// The browser connection flow (Local Network Access, secure context,
// Safari; /work/shared/browser.md) with the browser's globals stubbed:
// navigator.permissions, isSecureContext, location, fetch. Needs no agent.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, beforeEach, test } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import { connect, KysoError } from "../dist/kyso.mjs";

const g = globalThis;
let state; // the permission's state
let names; // permission names queried
let oldNameOnly; // the browser knows only local-network-access
const CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const nav = {
  userAgent: CHROME,
  permissions: {
    async query({ name }) {
      names.push(name);
      if (oldNameOnly && name === "loopback-network") throw new TypeError("unknown permission");
      return { state };
    },
  },
};
Object.defineProperty(g, "navigator", { value: nav, configurable: true, writable: true });

// A fetch standing in for the browser's: records calls, answers with fn.
let calls, answer;
const fetchStub = async (url, init = {}) => {
  calls.push({ url, init });
  return answer(url, init);
};

// A mock agent that answers hello, and a port where nothing listens.
let wss, agentPort, deadPort;
before(async () => {
  wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((r) => wss.on("listening", r));
  agentPort = wss.address().port;
  wss.on("connection", (ws) =>
    ws.on("message", (d) => {
      const m = JSON.parse(d);
      ws.send(JSON.stringify({ id: m.id, result: { protocol: 1, version: "mock", capabilities: [], limits: { maxDocumentBytes: 1e6, maxChunkBytes: 1e4, maxInFlight: 4, maxMessageBytes: 1e6 } } }));
    }),
  );
  const s = createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  deadPort = s.address().port;
  await new Promise((r) => s.close(r));
});
after(() => wss.close());
beforeEach(() => {
  state = "granted";
  names = [];
  oldNameOnly = false;
  calls = [];
  answer = () => {
    throw new TypeError("Failed to fetch");
  };
  g.isSecureContext = true;
  delete g.location;
  nav.userAgent = CHROME;
});

const opts = (extra) => ({ ports: [agentPort], WebSocket, fetch: fetchStub, ...extra });
const code = (c) => (e) => e instanceof KysoError && e.code === c;

test("not a secure context: NOT_SECURE_CONTEXT, nothing probed", async () => {
  g.isSecureContext = false;
  await assert.rejects(connect(opts()), code("NOT_SECURE_CONTEXT"));
  assert.deepEqual(calls, []);
  assert.deepEqual(names, []);
});

test("permission denied: LNA_DENIED, nothing probed", async () => {
  state = "denied";
  await assert.rejects(connect(opts()), code("LNA_DENIED"));
  assert.deepEqual(calls, []);
  assert.deepEqual(names, ["loopback-network"]);
});

test("permission to ask, no user gesture: LNA_PROMPT_REQUIRED, nothing probed", async () => {
  state = "prompt";
  await assert.rejects(connect(opts()), code("LNA_PROMPT_REQUIRED"));
  assert.deepEqual(calls, []);
});

test("the old permission name is the fallback", async () => {
  oldNameOnly = true;
  state = "prompt";
  await assert.rejects(connect(opts()), code("LNA_PROMPT_REQUIRED"));
  assert.deepEqual(names, ["loopback-network", "local-network-access"]);
});

test("with a gesture, the hello fetch raises the prompt; dismissed: LNA_PROMPT_DISMISSED", async () => {
  state = "prompt";
  await assert.rejects(connect(opts({ userGesture: true, ports: [19571, 19572] })), code("LNA_PROMPT_DISMISSED"));
  assert.equal(calls.length, 1);
  assert.equal(calls[0].url, "http://127.0.0.1:19571/v1/hello");
  assert.equal(calls[0].init.targetAddressSpace, "loopback");
});

test("a page served from loopback is never gated: a refused origin is ORIGIN_NOT_ALLOWED, not a dismissed prompt", async () => {
  // Chromium reports "prompt" to a loopback page, but shows no prompt for
  // loopback-to-loopback requests; the hello fails on CORS (403).
  state = "prompt";
  g.location = { protocol: "http:", hostname: "127.0.0.1" };
  answer = (url, init) => {
    if (init.mode === "no-cors") return new Response(null, { status: 200 });
    throw new TypeError("Failed to fetch");
  };
  await assert.rejects(connect(opts({ userGesture: true, ports: [deadPort] })), code("ORIGIN_NOT_ALLOWED"));
});

test("with a gesture, the user blocks: LNA_DENIED", async () => {
  state = "prompt";
  answer = () => {
    state = "denied";
    throw new TypeError("Failed to fetch");
  };
  await assert.rejects(connect(opts({ userGesture: true })), code("LNA_DENIED"));
});

test("with a gesture, the user allows: connected", async () => {
  state = "prompt";
  answer = () => {
    state = "granted";
    return new Response('{"product":"kyso","protocols":[1]}', { status: 200 });
  };
  const c = await connect(opts({ userGesture: true }));
  assert.equal(c.info.version, "mock");
  assert.equal(calls.length, 1);
  c.close();
});

test("allowed, but the agent refuses the origin (403 hidden by CORS): ORIGIN_NOT_ALLOWED", async () => {
  // The CORS request fails; the no-cors one gets an opaque answer.
  answer = (url, init) => {
    if (init.mode === "no-cors") return new Response(null, { status: 200 });
    throw new TypeError("Failed to fetch");
  };
  await assert.rejects(connect(opts({ ports: [deadPort] })), code("ORIGIN_NOT_ALLOWED"));
  assert.deepEqual(calls.map((c) => c.init.mode), [undefined, "no-cors"]);
  assert.equal(calls[0].url, `http://127.0.0.1:${deadPort}/v1/hello`);
});

test("allowed, nothing listening on any port: AGENT_NOT_RUNNING after trying each", async () => {
  await assert.rejects(connect(opts({ ports: [deadPort, deadPort] })), code("AGENT_NOT_RUNNING"));
  assert.equal(calls.length, 4);
});

test("Safari on an HTTPS page: SAFARI_NEEDS_WSS", async () => {
  g.navigator.permissions = undefined;
  nav.userAgent = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/19.1 Safari/605.1.15";
  g.location = { protocol: "https:" };
  try {
    await assert.rejects(connect(opts({ ports: [deadPort] })), code("SAFARI_NEEDS_WSS"));
  } finally {
    g.navigator.permissions = nav.permissions;
  }
});

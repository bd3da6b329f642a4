// The SDK against a real `kyso serve` (see env.mjs).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { connect, KysoError } from "../dist/kyso.mjs";
import * as env from "./env.mjs";

/** Asserts p rejects with a KysoError of code and returns it. */
async function rejectsWith(p, code) {
  let err;
  await assert.rejects(p, (e) => {
    err = e;
    return e instanceof KysoError && e.code === code;
  }, `want KysoError ${code}`);
  return err;
}

describe("connected as an allowed origin", () => {
  let c;
  before(async () => {
    c = await connect(env.opts());
  });
  after(() => c && c.close());

  test("connect negotiates protocol 1", () => {
    assert.equal(c.port, env.port);
    assert.equal(c.info.protocol, 1);
    for (const m of ["signPdf", "signPdfs", "signHash", "verifyPdf", "listCertificates", "status", "cancel"]) {
      assert.ok(c.info.capabilities.includes(m), `capability ${m}`);
    }
    assert.ok(c.info.limits.maxChunkBytes > 0 && c.info.limits.maxDocumentBytes > 0);
  });

  test("status lists the token", async () => {
    const s = await c.status();
    assert.equal(typeof s.version, "string");
    assert.ok(s.tokens.length >= 1);
    assert.equal(s.tokens[0].module, "", "the module path is blanked for pages");
  });

  test("listCertificates with a filter", async () => {
    const all = await c.listCertificates({ withKey: true });
    const handles = all.map((x) => x.handle).sort();
    assert.deepEqual(handles, [env.certPersonal, env.certOrg].sort());
    const personal = await c.listCertificates({ kind: "personal", withKey: true });
    assert.deepEqual(personal.map((x) => x.handle), [env.certPersonal]);
    assert.equal(personal[0].identity.kind, "personal");
    assert.ok(personal[0].certificate.length > 100, "DER in base64");
    const one = await c.listCertificates({ handle: env.certOrg });
    assert.deepEqual(one.map((x) => x.handle), [env.certOrg]);
    assert.equal(one[0].identity.kind, "organisation");
  });

  test("more calls at once than maxInFlight are queued, not refused", async () => {
    const n = c.info.limits.maxInFlight + 3;
    const res = await Promise.all(Array.from({ length: n }, () => c.listCertificates({ withKey: true })));
    assert.equal(res.length, n);
    for (const r of res) assert.equal(r.length, 2);
  });

  let signed;
  test("signPdf, plain signature", async () => {
    signed = await c.signPdf(env.pdf, { name: "cong-van-plain.pdf", certificate: env.certPersonal, reason: "Phê duyệt" });
    assert.ok(env.extendsPdf(signed, env.pdf), "the output is the input plus an incremental update ending in %%EOF");
  });

  test("signPdf, profile comment, from a Blob", async () => {
    const blob = new Blob([env.pdf], { type: "application/pdf" });
    const out = await c.signPdf(blob, { name: "y-kien.pdf", certificate: env.certPersonal, profile: "comment" });
    assert.ok(env.extendsPdf(out, env.pdf));
  });

  test("verifyPdf reports the signature valid", async () => {
    assert.ok(signed, "needs the signPdf test");
    const rep = await c.verifyPdf(signed, { name: "cong-van-plain.pdf" });
    assert.equal(rep.schema, "kyso.verification/v1");
    assert.equal(rep.size, signed.length);
    assert.equal(rep.signatures.length, 1);
    assert.equal(rep.signatures[0].intact, true);
    assert.equal(rep.verdict, "valid", JSON.stringify(rep.signatures[0].findings));
  });

  test("verifyPdf of an unsigned PDF", async () => {
    const rep = await c.verifyPdf(env.pdf.buffer.slice(env.pdf.byteOffset, env.pdf.byteOffset + env.pdf.byteLength));
    assert.equal(rep.schema, "kyso.verification/v1");
    assert.equal((rep.signatures || []).length, 0);
  });

  test("signPdfs of 5 reports progress 5 times", async () => {
    const docs = Array.from({ length: 5 }, (_, i) => ({ name: `to-trinh-${i + 1}.pdf`, data: env.pdf }));
    const seen = [];
    const events = [];
    const off = c.on("progress", (p) => events.push(p));
    const out = await c.signPdfs(docs, { options: { certificate: env.certOrg }, onProgress: (p) => seen.push(p) });
    off();
    assert.equal(out.length, 5);
    out.forEach((d, i) => {
      assert.equal(d.name, docs[i].name);
      assert.equal(d.signer, env.certOrg);
      assert.equal(d.size, d.data.length);
      assert.match(d.sha256, /^[0-9a-f]{64}$/);
      assert.ok(env.extendsPdf(d.data, env.pdf), `document ${i}`);
    });
    assert.equal(seen.length, 5);
    seen.forEach((p, i) => assert.deepEqual([p.done, p.total, p.document], [i + 1, 5, docs[i].name]));
    assert.equal(events.length, 5, "the client-wide progress event too");
  });

  test("AbortSignal cancels a batch of 10; the signed documents are delivered whole", async (t) => {
    const docs = Array.from({ length: 10 }, (_, i) => ({ name: `quyet-dinh-${i + 1}.pdf`, data: env.pdf }));
    const ctl = new AbortController();
    let progress = 0;
    const err = await rejectsWith(
      c.signPdfs(docs, {
        // B-T: a timestamp per document keeps the batch busy.
        options: { certificate: env.certPersonal, level: "B-T" },
        signal: ctl.signal,
        onProgress: () => {
          progress++;
          ctl.abort();
        },
      }),
      "CANCELLED",
    );
    assert.ok(Array.isArray(err.signed), "err.signed");
    assert.ok(err.signed.length >= 1 && err.signed.length < 10, `${err.signed.length} signed`);
    assert.ok(progress >= err.signed.length);
    t.diagnostic(`cancelled after ${progress} progress events, ${err.signed.length} of 10 signed`);
    err.signed.forEach((d, i) => {
      assert.equal(d.name, docs[i].name);
      assert.equal(d.level, "B-T");
      assert.ok(env.extendsPdf(d.data, env.pdf), `signed document ${i}`);
    });
    assert.deepEqual(err.details.signed, err.signed.map((d) => d.name));
    assert.equal(err.messageVi, "Thao tác đã bị hủy.");
    assert.equal(err.messageEn, "The operation was cancelled.");
    // The connection still works.
    assert.equal((await c.listCertificates({ handle: env.certOrg })).length, 1);
  });

  test("an already aborted signal rejects at once", async () => {
    const ctl = new AbortController();
    ctl.abort();
    await rejectsWith(c.signPdf(env.pdf, { signal: ctl.signal }), "CANCELLED");
  });

  test("signHash from the hash-allowed origin", async () => {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("Quyết định 12/QĐ-UBND")));
    const r = await c.signHash(digest, { certificate: env.certPersonal, description: "Quyết định 12/QĐ-UBND, trang 1–3" });
    assert.ok(r.cms instanceof Uint8Array && r.cms.length > 500);
    assert.equal(r.cms[0], 0x30, "an ASN.1 SEQUENCE");
    assert.equal(r.signer, env.certPersonal);
  });

  test("agent errors carry the code, details and both messages", async () => {
    const err = await rejectsWith(c.signPdf(new TextEncoder().encode("không phải PDF"), { certificate: env.certPersonal }), "BAD_DOCUMENT");
    assert.equal(err.message, err.messageVi);
    assert.equal(err.messageEn, "The file is not a valid PDF or is damaged.");
    assert.equal(typeof err.agentMessage, "string");
  });
});

test("signHash from an origin without hash rights: HASH_SIGNING_NOT_ALLOWED", async () => {
  const c = await connect(env.opts(env.originNoHash, { lang: "en" }));
  try {
    const err = await rejectsWith(c.signHash(new Uint8Array(32).fill(7), { certificate: env.certPersonal }), "HASH_SIGNING_NOT_ALLOWED");
    assert.equal(err.message, "This website may not sign hashes.");
    assert.equal(err.messageVi, "Trang web này không được phép ký giá trị băm.");
  } finally {
    c.close();
  }
});

test("an origin the agent does not allow: ORIGIN_NOT_ALLOWED", async () => {
  const err = await rejectsWith(connect(env.opts(env.originDenied)), "ORIGIN_NOT_ALLOWED");
  assert.equal(err.message, "Trang web này chưa được phép sử dụng kyso để ký số.");
});

test("nothing on the port: AGENT_NOT_RUNNING", async () => {
  const p = await env.freePort();
  const err = await rejectsWith(connect(env.opts(env.origin, { ports: [p] })), "AGENT_NOT_RUNNING");
  assert.deepEqual(err.details.ports, [p]);
  assert.match(err.messageEn, /Cannot reach kyso/);
});

test("the next port is tried when the first has no agent", async () => {
  const p = await env.freePort();
  const c = await connect(env.opts(env.origin, { ports: [p, env.port] }));
  try {
    assert.equal(c.port, env.port);
    assert.equal((await c.listCertificates({ withKey: true })).length, 2);
  } finally {
    c.close();
  }
});

test("a local client authenticates with the per-user secret", async () => {
  const c = await connect({ ports: [env.port], WebSocket, headers: { "X-Kyso-Secret": env.secret } });
  try {
    assert.equal((await c.listCertificates({ withKey: true })).length, 2);
  } finally {
    c.close();
  }
  const wrong = env.secret.replace(/./g, (ch) => (ch === "0" ? "1" : "0"));
  await rejectsWith(connect({ ports: [env.port], WebSocket, headers: { "X-Kyso-Secret": wrong } }), "CONNECTION_REFUSED");
});

test("calls after close reject with AGENT_DISCONNECTED", async () => {
  const c = await connect(env.opts());
  const disconnected = new Promise((r) => c.on("disconnected", r));
  c.close();
  assert.equal((await disconnected).code, 1000);
  await rejectsWith(c.status(), "AGENT_DISCONNECTED");
});

// signAndUpload against a small DMS on 127.0.0.1: it serves the PDF and
// takes the signed one back as multipart/form-data, both behind a token
// the page passes in fetchInit (the agent itself never fetches anything).
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { connect, KysoError } from "../dist/kyso.mjs";
import * as env from "./env.mjs";
import { parseMultipart } from "./multipart.mjs";

const AUTH = "Bearer dms-session-42";

let server, base;
const uploads = [];
before(async () => {
  server = createServer((req, res) => {
    if (req.headers.authorization !== AUTH) {
      res.writeHead(401).end();
      return;
    }
    if (req.method === "GET" && req.url === "/van-ban/123/quyet-dinh-so-12.pdf") {
      res.writeHead(200, { "Content-Type": "application/pdf" }).end(env.pdf);
      return;
    }
    if (req.method === "GET" && req.url === "/van-ban/124/tai-ve") {
      res.writeHead(200, {
        "Content-Type": "application/pdf",
        "Content-Disposition": "attachment; filename*=UTF-8''c%C3%B4ng-v%C4%83n-7.pdf",
      }).end(env.pdf);
      return;
    }
    if (req.method === "POST" && req.url === "/van-ban/123/da-ky") {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        uploads.push({ type: req.headers["content-type"], body: Buffer.concat(chunks) });
        res.writeHead(201, { "Content-Type": "application/json" }).end('{"ok":true}');
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${server.address().port}`;
});
after(() => server.close());

test("signAndUpload downloads, signs and uploads a multipart form", async () => {
  const c = await connect(env.opts());
  try {
    uploads.length = 0;
    const res = await c.signAndUpload({
      download: `${base}/van-ban/123/quyet-dinh-so-12.pdf`,
      upload: `${base}/van-ban/123/da-ky`,
      fetchInit: { headers: { Authorization: AUTH } },
      options: { certificate: env.certPersonal, reason: "Phê duyệt" },
    });
    assert.equal(res.status, 201);
    assert.deepEqual(await res.json(), { ok: true });
    assert.equal(uploads.length, 1);
    const parts = parseMultipart(uploads[0].body, uploads[0].type);
    assert.equal(parts.length, 1);
    assert.equal(parts[0].name, "file");
    assert.equal(parts[0].filename, "quyet-dinh-so-12.pdf");
    assert.equal(parts[0].type, "application/pdf");
    assert.ok(env.extendsPdf(parts[0].data, env.pdf), "the uploaded file is the signed PDF");
    const rep = await c.verifyPdf(parts[0].data);
    assert.equal(rep.signatures.length, 1);
    assert.equal(rep.verdict, "valid");
  } finally {
    c.close();
  }
});

test("signAndUpload: field name and the name from Content-Disposition", async () => {
  const c = await connect(env.opts());
  try {
    uploads.length = 0;
    const res = await c.signAndUpload({
      download: new Request(`${base}/van-ban/124/tai-ve`, { headers: { Authorization: AUTH } }),
      upload: `${base}/van-ban/123/da-ky`,
      fieldName: "signed",
      fetchInit: { headers: { Authorization: AUTH } },
      options: { certificate: env.certOrg },
    });
    assert.equal(res.status, 201);
    const parts = parseMultipart(uploads[0].body, uploads[0].type);
    assert.equal(parts[0].name, "signed");
    assert.equal(parts[0].filename, "công-văn-7.pdf");
    assert.ok(env.extendsPdf(parts[0].data, env.pdf));
  } finally {
    c.close();
  }
});

test("signAndUpload: a failed download is DOWNLOAD_FAILED, nothing is signed", async () => {
  const c = await connect(env.opts());
  try {
    uploads.length = 0;
    await assert.rejects(
      c.signAndUpload({ download: `${base}/van-ban/123/quyet-dinh-so-12.pdf`, upload: `${base}/van-ban/123/da-ky` }),
      (e) => e instanceof KysoError && e.code === "DOWNLOAD_FAILED" && e.details.status === 401,
    );
    assert.equal(uploads.length, 0);
  } finally {
    c.close();
  }
});

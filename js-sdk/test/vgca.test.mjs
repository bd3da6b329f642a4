// dist/vgcaplugin-compat.js, the drop-in replacement of the Government CA's
// vgcaplugin.js, against a real `kyso serve` (see env.mjs) and a small DMS
// on 127.0.0.1. The bundle runs in a node:vm context standing in for the
// page: its globals are the browser APIs it uses (fetch, Blob, FormData,
// crypto, …) and KYSO_CONNECT_OPTIONS (Node's `ws` with the page's Origin);
// the DMS code under test calls it exactly as real DMS pages do: a JSON
// string in, a JSON string to the callback.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import vm from "node:vm";
import { after, before, describe, test } from "node:test";
import { connect } from "../dist/kyso.mjs";
import * as env from "./env.mjs";
import { parseMultipart } from "./multipart.mjs";

const bundle = readFileSync(new URL("../dist/vgcaplugin-compat.js", import.meta.url), "utf8");

const pages = [];

/** A fresh "page" that loaded vgcaplugin-compat.js; connectOptions as KYSO_CONNECT_OPTIONS. */
function page(connectOptions) {
  const ctx = {
    console,
    fetch,
    Blob,
    FormData,
    Headers,
    Request,
    Response,
    URL,
    URLSearchParams,
    TextEncoder,
    TextDecoder,
    AbortController,
    crypto,
    atob,
    btoa,
    setTimeout,
    clearTimeout,
    KYSO_CONNECT_OPTIONS: connectOptions,
  };
  vm.createContext(ctx);
  vm.runInContext(bundle, ctx, { filename: "vgcaplugin-compat.js" });
  pages.push(ctx);
  return ctx;
}

/** Calls fn(json, cb) the way DMS pages do; resolves with the parsed reply. */
function call(p, fn, arg) {
  return new Promise((resolve, reject) => {
    const json = typeof arg === "string" ? arg : JSON.stringify(arg);
    p[fn](json, (rv) => {
      try {
        assert.equal(typeof rv, "string", `${fn} answers a JSON string`);
        resolve(JSON.parse(rv));
      } catch (e) {
        reject(e);
      }
    });
  });
}

// ---- The DMS: documents by id, the latest upload replacing the file ----

// A PNG (the organisation's seal) standing in for the templates' images.
const SEAL = process.env.KYSO_SEAL_PNG;
const JWT = "eyJhbGciOiJIUzI1NiJ9.dms.sig";
const SESSION = "ASP.NET_SessionId=q1w2e3";
const META = [
  { Key: "DocId", Value: "1" },
  { Key: "NguoiKy", Value: "Nguyễn Văn Ánh" },
];

function dms() {
  const s = { docs: new Map([["1", env.pdf], ["2", env.pdf]]), requests: [], uploads: [] };
  s.server = createServer((req, res) => {
    const u = new URL(req.url, "http://x");
    s.requests.push({ method: req.method, path: u.pathname, query: Object.fromEntries(u.searchParams), auth: req.headers.authorization });
    if (req.method === "GET" && u.pathname === "/download") {
      const doc = s.docs.get(u.searchParams.get("docId"));
      if (!doc) return res.writeHead(404).end("không có");
      res.writeHead(200, {
        "Content-Type": "application/pdf",
        "Content-Disposition": "attachment; filename*=UTF-8''quy%E1%BA%BFt-%C4%91%E1%BB%8Bnh-15.pdf",
      });
      return res.end(doc);
    }
    if (req.method === "POST" && u.pathname === "/upload") {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const parts = parseMultipart(Buffer.concat(chunks), req.headers["content-type"]);
        const id = u.searchParams.get("docId");
        const file = parts.find((x) => x.name === "uploadfile");
        s.uploads.push({ id, user: u.searchParams.get("user"), parts, file });
        if (file) s.docs.set(id, file.data);
        res.writeHead(200, { "Content-Type": "text/plain" }).end(`/files/${id}/v${s.uploads.length}.pdf`);
      });
      return;
    }
    res.writeHead(404).end();
  });
  return s;
}

const listen = (srv) => new Promise((r) => srv.listen(0, "127.0.0.1", () => r(`http://127.0.0.1:${srv.address().port}`)));

describe("vgcaplugin-compat.js", () => {
  let a, b, base, other, p, kyso;
  before(async () => {
    a = dms();
    b = dms(); // another origin
    base = await listen(a.server);
    other = await listen(b.server);
    p = page(env.opts());
    kyso = await connect(env.opts());
  });
  after(() => {
    for (const q of pages) q.KysoVgca.close();
    for (const s of [a, b]) s.server.closeAllConnections(), s.server.close();
    kyso.close();
  });

  test("defines the incumbent's globals", () => {
    for (const f of ["vgca_sign_approved", "vgca_sign_issued", "vgca_sign_appendix", "vgca_sign_copy", "vgca_sign_income", "vgca_comment", "vgca_sign_msg", "vgca_verify_pdf", "vgca_get_certinfo"]) {
      assert.equal(typeof p[f], "function", f);
    }
  });

  test("IssuedDate forms → the date in Vietnam", () => {
    const d = p.KysoVgca.vnDate;
    assert.equal(d("2019-03-12T12:00:00+07:00"), "2019-03-12");
    assert.equal(d("2019-03-11T17:00:00.000Z"), "2019-03-12", "a Date of midnight in Hà Nội, serialised in UTC");
    assert.equal(d(JSON.parse(JSON.stringify({ x: new Date(Date.UTC(2019, 2, 11, 17)) })).x), "2019-03-12");
    assert.equal(d("2019-03-11T16:59:59Z"), "2019-03-11");
    assert.equal(d("2019-03-12"), "2019-03-12");
    assert.equal(d("2019-03-12T23:30:00+0700"), "2019-03-12");
    assert.equal(d("2019-03-12T08:00:00"), "2019-03-12", "no offset: the written date");
    assert.equal(d("12/03/2019"), "2019-03-12", "dd/mm/yyyy");
    assert.equal(d("/Date(1552323600000)/"), "2019-03-12", "ASP.NET JSON date");
    assert.equal(d(new Date(Date.UTC(2025, 11, 31, 18))), "2026-01-01");
    assert.equal(d(""), undefined);
    assert.equal(d("   "), undefined);
    assert.equal(d(undefined), undefined);
    assert.equal(d(null), undefined);
    assert.equal(d("2019-02-30"), null);
    assert.equal(d("hôm nay"), null);
  });

  let approved;
  test("vgca_sign_approved (JSON string): download, sign, upload uploadfile + MetaData", async () => {
    const r = await call(p, "vgca_sign_approved", JSON.stringify({
      FileName: `${base}/download?docId=1`,
      FileUploadHandler: `${base}/upload?docId=1&user=a`,
      SessionId: SESSION,
      JWTToken: JWT,
      MetaData: META,
      DocNumber: "",
      IssuedDate: "",
      // kyso's extension: agent options that a deployment's templates
      // would otherwise supply (the test agent has none). A visible
      // approval, so that the issue can put the seal over it.
      KysoOptions: { signatureImage: SEAL, page: 1, rectMM: [115, 215, 50, 20] },
    }));
    assert.equal(r.Status, 0, r.Message);
    assert.equal(r.Message, "");
    assert.equal(r.FileName, "quyết-định-15.pdf");
    assert.equal(r.FileServer, "/files/1/v1.pdf", "what the upload handler answered");
    assert.equal(r.DocumentNumber, "");
    assert.match(r.DocumentDate, /^\d{4}-\d{2}-\d{2}$/);

    const [dl, up] = a.requests;
    assert.deepEqual([dl.method, dl.path, up.method, up.path], ["GET", "/download", "POST", "/upload"]);
    assert.deepEqual(dl.query, { docId: "1", SessionId: SESSION });
    assert.deepEqual(up.query, { docId: "1", user: "a", SessionId: SESSION }, "the handler's own parameters are kept");
    assert.equal(dl.auth, `Bearer ${JWT}`);
    assert.equal(up.auth, `Bearer ${JWT}`);

    assert.equal(a.uploads.length, 1);
    const u = a.uploads[0];
    assert.deepEqual([u.id, u.user], ["1", "a"]);
    assert.equal(u.file.filename, "quyết-định-15.pdf");
    assert.equal(u.file.type, "application/pdf");
    assert.ok(env.extendsPdf(u.file.data, env.pdf), "uploadfile is the original followed by the signature");
    const meta = u.parts.find((x) => x.name === "MetaData");
    assert.ok(meta, "a MetaData field");
    assert.deepEqual(JSON.parse(Buffer.from(meta.data).toString("utf8")), META);
    approved = u.file.data;
  });

  test("vgca_sign_issued: DocNumber and a UTC Date JSON IssuedDate; the result carries both signatures", async () => {
    assert.ok(approved, "needs the approval test");
    const issued = new Date(Date.UTC(2026, 0, 4, 17, 30)); // 2026-01-05 00:30 in Hà Nội
    const r = await call(p, "vgca_sign_issued", JSON.stringify({
      FileName: `${base}/download?docId=1`,
      FileUploadHandler: `${base}/upload?docId=1&user=vanthu`,
      SessionId: "",
      JWTToken: "",
      MetaData: [],
      DocNumber: "15/QĐ-UBND",
      IssuedDate: issued,
      KysoOptions: { sealImage: SEAL, sealMM: 40 },
    }));
    assert.equal(r.Status, 0, r.Message);
    assert.equal(r.DocumentNumber, "15/QĐ-UBND");
    assert.equal(r.DocumentDate, "2026-01-05");
    assert.equal(r.FileServer, "/files/1/v2.pdf");
    const up = a.uploads[1];
    assert.equal(up.user, "vanthu");
    assert.ok(env.extendsPdf(up.file.data, approved), "the issued file extends the approved one");
    assert.ok(env.extendsPdf(up.file.data, env.pdf));
    const last = a.requests.slice(-2);
    for (const q of last) {
      assert.equal(q.auth, undefined, "no Authorization for an empty JWTToken");
      assert.equal(q.query.SessionId, undefined, "no SessionId for an empty one");
    }
    const rep = await kyso.verifyPdf(up.file.data);
    assert.equal(rep.signatures.length, 2);
    assert.equal(rep.verdict, "valid", JSON.stringify(rep.signatures.map((s) => s.findings)));
    assert.deepEqual(rep.signatures.map((s) => s.signer.kind), ["personal", "organisation"]);
  });

  test("vgca_verify_pdf answers the incumbent's list", async () => {
    const list = await call(p, "vgca_verify_pdf", { SessionId: "", FileName: `${base}/download?docId=1` });
    assert.ok(Array.isArray(list), JSON.stringify(list));
    assert.equal(list.length, 2);
    const certs = await kyso.listCertificates({ withKey: true });
    const serials = certs.map((c) => c.serial.toUpperCase());
    for (const s of list) {
      assert.ok(serials.includes(s.SigInfo.SignerCert.SerialNumber), s.SigInfo.SignerCert.SerialNumber);
      assert.match(s.SigInfo.SignerCert.Subject, /CN=/);
      assert.match(s.SigInfo.SigningTime, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+07:00$/);
      assert.equal(s.ValidationDetails.SignerCertStatus.Status, 0, s.ValidationDetails.SignerCertStatus.Description);
      assert.equal(s.ValidationDetails.Status, 0);
      assert.equal(s.ValidationDetails.Intact, true);
    }
  });

  test("an object argument; credentials never go to another origin", async () => {
    const before = b.uploads.length;
    const r = await new Promise((resolve) =>
      p.vgca_comment(
        { FileName: `${base}/download?docId=2`, FileUploadHandler: `${other}/upload?docId=9&user=b`, SessionId: SESSION, JWTToken: JWT },
        (rv) => resolve(JSON.parse(rv)),
      ),
    );
    assert.equal(r.Status, 0, r.Message);
    assert.equal(b.uploads.length, before + 1);
    const up = b.requests.at(-1);
    assert.equal(up.auth, undefined, "no JWT to the other origin");
    assert.deepEqual(up.query, { docId: "9", user: "b" }, "no SessionId to the other origin");
    assert.equal(a.requests.at(-1).auth, `Bearer ${JWT}`, "the download, of FileName's origin, has them");
    assert.equal(b.uploads.at(-1).parts.some((x) => x.name === "MetaData"), false, "no MetaData field when none was given");
  });

  let signature;
  test("vgca_sign_msg from a hash-allowed origin: a base64 CMS and the signer's certificate", async () => {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("Quyết định 15/QĐ-UBND")));
    const r = await call(p, "vgca_sign_msg", { HashAlg: "SHA256", HashValue: Buffer.from(digest).toString("base64"), Encode: "Base64" });
    assert.equal(r.Status, 0, r.Message);
    const cms = Buffer.from(r.Signature, "base64");
    assert.ok(cms.length > 500);
    assert.equal(cms[0], 0x30, "an ASN.1 SEQUENCE");
    const certs = await kyso.listCertificates({ withKey: true });
    assert.ok(certs.some((c) => c.certificate === r.CertBase64), "CertBase64 is a certificate of the token");
    signature = r;

    const hex = await call(p, "vgca_sign_msg", { HashAlg: "sha-256", HashValue: Buffer.from(digest).toString("hex"), Encode: "hex" });
    assert.equal(hex.Status, 0, hex.Message);
  });

  test("vgca_get_certinfo: the certificate used last, (sender, cb) form too", async () => {
    assert.ok(signature, "needs the sign_msg test");
    const r = JSON.parse(await new Promise((resolve) => p.vgca_get_certinfo((rv) => resolve(rv))));
    assert.equal(r.Status, 0);
    assert.equal(r.CertInfo.Base64, signature.CertBase64);
    const c = (await kyso.listCertificates({ withKey: true })).find((x) => x.certificate === r.CertInfo.Base64);
    assert.equal(r.CertInfo.SerialNumber, c.serial.toUpperCase());
    assert.ok(r.CertInfo.Subject.split(", ").includes("CN=" + c.identity.name), r.CertInfo.Subject);
    assert.match(r.CertInfo.Issuer, /CN=/);
    assert.match(r.CertInfo.NotAfter, /\+07:00$/);
    const [sender, rv] = await new Promise((resolve) => p.vgca_get_certinfo("nut-ky", (s, v) => resolve([s, v])));
    assert.equal(sender, "nut-ky");
    assert.equal(JSON.parse(rv).CertInfo.Base64, signature.CertBase64);
  });

  test("errors: Status 1, the Vietnamese message, the kyso code", async () => {
    const e1 = await call(p, "vgca_sign_approved", { FileName: `${base}/download?docId=404`, FileUploadHandler: `${base}/upload?docId=404` });
    assert.deepEqual([e1.Status, e1.Code, e1.Message], [1, "DOWNLOAD_FAILED", "Không tải được tài liệu."]);
    assert.equal(e1.Error, e1.Message);

    const e2 = await call(p, "vgca_sign_issued", { FileName: `${base}/download?docId=1`, DocNumber: "79", IssuedDate: "ngày mai" });
    assert.deepEqual([e2.Status, e2.Code, e2.Message], [1, "BAD_ISSUED_DATE", "Ngày ban hành (IssuedDate) không hợp lệ."]);

    const e3 = await call(p, "vgca_sign_msg", "{not json");
    assert.deepEqual([e3.Status, e3.Code], [1, "BAD_PARAMS"]);

    const e4 = await call(p, "vgca_sign_msg", { HashAlg: "SHA1", HashValue: "AAAA" });
    assert.deepEqual([e4.Status, e4.Code], [1, "HASH_ALG_NOT_SUPPORTED"]);

    const e5 = await call(p, "vgca_sign_msg", { HashAlg: "SHA256", HashValue: "abc" });
    assert.deepEqual([e5.Status, e5.Code, e5.Message], [1, "BAD_HASH", "Giá trị băm (HashValue) không hợp lệ."]);

    const e6 = await call(p, "vgca_sign_approved", { FileName: "", FileUploadHandler: `${base}/upload?docId=1` });
    assert.deepEqual([e6.Status, e6.Code], [1, "NO_FILE"], "no file dialog outside a browser");

    const e7 = await call(p, "vgca_sign_approved", { FileName: `${base}/download?docId=2`, FileUploadHandler: `${base}/nowhere` });
    assert.deepEqual([e7.Status, e7.Code, e7.Message], [1, "UPLOAD_FAILED", "Không tải lên được tài liệu đã ký."]);

    const e8 = await call(p, "vgca_sign_xml", {});
    assert.deepEqual([e8.Status, e8.Code], [1, "NOT_SUPPORTED"]);
  });

  test("vgca_sign_msg from an origin without hash rights: HASH_SIGNING_NOT_ALLOWED", async () => {
    const q = page(env.opts(env.originNoHash));
    const r = await call(q, "vgca_sign_msg", { HashAlg: "SHA-256", HashValue: Buffer.alloc(32, 7).toString("base64") });
    assert.deepEqual([r.Status, r.Code], [1, "HASH_SIGNING_NOT_ALLOWED"]);
    assert.equal(r.Message, "Trang web này không được phép ký giá trị băm.");
  });

  test("no agent: Status 1 with AGENT_NOT_RUNNING, and the next call tries again", async () => {
    const opts = env.opts(env.origin, { ports: [await env.freePort()] });
    const q = page(opts);
    const r = await call(q, "vgca_verify_pdf", { FileName: `${base}/download?docId=1` });
    assert.deepEqual([r.Status, r.Code], [1, "AGENT_NOT_RUNNING"]);
    assert.match(r.Message, /Không kết nối được kyso/);
    opts.ports = [env.port]; // kyso started
    const list = await call(q, "vgca_verify_pdf", { FileName: `${base}/download?docId=1` });
    assert.equal(list.length, 2);
  });

  test("an origin kyso does not admit: ORIGIN_NOT_ALLOWED", async () => {
    const q = page(env.opts(env.originDenied));
    const r = JSON.parse(await new Promise((resolve) => q.vgca_get_certinfo(resolve)));
    assert.deepEqual([r.Status, r.Code], [1, "ORIGIN_NOT_ALLOWED"]);
    assert.equal(r.Message, "Trang web này chưa được phép sử dụng kyso để ký số.");
  });
});

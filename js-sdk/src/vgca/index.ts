// vgcaplugin-compat.js: the Government CA plugin's browser API (the global
// vgca_* functions of vgcaplugin.js, /work/shared/domain-vn.md §6) on top
// of kyso, so that a DMS switches by changing one script tag. Same names,
// same arguments (a JSON string, or an object), same replies (a JSON string
// handed to the callback). Unlike the incumbent, the page's own fetch moves
// the files (the browser's cookie and CORS rules apply), kyso shows what is
// signed and by whom, and hash signing is subject to the machine policy.
// README.md ("vgcaplugin-compat.js") documents the mappings.
import { KysoClient, VERSION } from "../client";
import { KysoError } from "../errors";
import type { ConnectOptions, SignPdfOptions } from "../types";
import { vnDate, vnDay } from "./dates";
import { certInfo, verifyList } from "./map";

export { vnDate, vnDay, vnTime } from "./dates";
export { certInfo, names, verifyList } from "./map";
export { VERSION };

const g = globalThis as any;

// Messages of the facade's own codes: [Vietnamese, English].
const M: Record<string, [string, string]> = {
  BAD_PARAMS: ["Tham số gửi tới chức năng ký số không hợp lệ.", "The parameters of the signing call are invalid."],
  BAD_ISSUED_DATE: ["Ngày ban hành (IssuedDate) không hợp lệ.", "IssuedDate is not a valid date."],
  BAD_HASH: ["Giá trị băm (HashValue) không hợp lệ.", "HashValue is not a valid digest."],
  HASH_ALG_NOT_SUPPORTED: ["Thuật toán băm không được hỗ trợ (chỉ SHA-256, SHA-384, SHA-512).", "Unsupported hash algorithm (SHA-256, SHA-384 or SHA-512 only)."],
  NO_FILE: ["Không có tệp để ký.", "There is no file to sign."],
  NOT_SUPPORTED: ["kyso chưa hỗ trợ chức năng này của plugin ký số.", "kyso does not support this plugin function."],
};

/** Connect options: globalThis.KYSO_CONNECT_OPTIONS, read at the first call. */
const opts = (): ConnectOptions => g.KYSO_CONNECT_OPTIONS || {};

function err(code: string, details?: any): KysoError {
  const e = new KysoError(code, details, opts().lang);
  const m = M[code];
  if (m) (e.messageVi = m[0]), (e.messageEn = m[1]), (e.message = opts().lang == "en" ? m[1] : m[0]);
  return e;
}

// ---- The shared connection ----

let conn: Promise<KysoClient> | undefined;

/**
 * The one kyso connection of the page, opened at the first call (a click:
 * userGesture true) with globalThis.KYSO_CONNECT_OPTIONS merged in; a failed
 * attempt is forgotten so that the next call tries again.
 */
export function client(): Promise<KysoClient> {
  return (conn ||= (async () => {
    const c = new KysoClient({ userGesture: true, ...opts() });
    await c.ready();
    return c;
  })().catch((e) => {
    conn = undefined;
    throw e;
  }));
}

/** Closes the shared connection (the next call opens a new one). */
export function close(): void {
  const c = conn;
  conn = undefined;
  c && c.then((x) => x.close(), () => {});
}

// The certificate of the last hash signature: what GetCertInfo answers.
let lastSigner = "";

// ---- Helpers ----

const text = (v: unknown): string => (v == null ? "" : String(v).trim());
const b64 = (b: Uint8Array) => {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
};

function url(u: string): URL {
  try {
    return new URL(u, g.location && g.location.href);
  } catch {
    throw err("BAD_PARAMS", { url: u });
  }
}

/**
 * A request of a file flow: the page's fetch with its cookies
 * (credentials: "include"). JWTToken (as Authorization: Bearer) and
 * SessionId (as a query parameter) are added only to URLs of FileName's
 * origin (the page's origin when the user picked a local file).
 */
function request(u: string, p: any, home: string, init: RequestInit = {}): [string, RequestInit] {
  const x = url(u);
  const h: Record<string, string> = {};
  if (home && x.origin == home) {
    const jwt = text(p.JWTToken);
    const sid = text(p.SessionId);
    if (jwt) h.Authorization = /^bearer /i.test(jwt) ? jwt : "Bearer " + jwt;
    if (sid) x.searchParams.set("SessionId", sid);
  }
  return [x.href, { credentials: "include", ...init, headers: h }];
}

// The name of a download: Content-Disposition, else the URL's last path
// segment; ".pdf" added when it has no extension.
function nameOf(res: Response, u: string): string {
  const cd = res.headers.get("content-disposition") || "";
  const m = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(cd) || /filename\s*=\s*"?([^";]+)/i.exec(cd);
  let n = m ? m[1] : url(u).pathname.split("/").pop() || "";
  try {
    n = decodeURIComponent(n);
  } catch {}
  n = n.replace(/[\x00-\x1f\x7f\\/]/g, "").trim().slice(0, 200) || "document";
  return /\.[a-z0-9]{2,5}$/i.test(n) ? n : n + ".pdf";
}

interface Source {
  data: Blob | ArrayBuffer;
  name: string;
  home: string; // the origin credentials may go to
}

/**
 * Where the document comes from: FileName downloaded with the page's fetch
 * or, when FileName is empty (the incumbent then opens a file dialog), a
 * file the user picks. Must be called before the first await: the picker
 * needs the click's user activation.
 */
function source(p: any): () => Promise<Source> {
  const f = text(p.FileName);
  if (!f) {
    const d = g.document;
    if (!d || !d.createElement) throw err("NO_FILE");
    const home = (g.location && g.location.origin) || "";
    const picked = new Promise<Source>((res, rej) => {
      const i = d.createElement("input");
      i.type = "file";
      i.accept = ".pdf,application/pdf";
      i.onchange = () => (i.files && i.files[0] ? res({ data: i.files[0], name: i.files[0].name, home }) : rej(err("USER_CANCELLED")));
      i.oncancel = () => rej(err("USER_CANCELLED"));
      i.click();
    });
    picked.catch(() => {});
    return () => picked;
  }
  const home = url(f).origin;
  return async () => {
    const [u, init] = request(f, p, home);
    let res: Response;
    try {
      res = await g.fetch(u, init);
    } catch (e) {
      throw err("DOWNLOAD_FAILED", { cause: String(e) });
    }
    if (!res.ok) throw err("DOWNLOAD_FAILED", { status: res.status });
    return { data: await res.arrayBuffer(), name: nameOf(res, f), home };
  };
}

/**
 * Posts the signed file to FileUploadHandler as multipart/form-data:
 * `uploadfile` (the PDF) and, when the caller gave MetaData, `MetaData`
 * (its JSON). Resolves with the handler's answer as text (FileServer).
 * Without a FileUploadHandler, the browser saves the file (FileServer "").
 */
async function upload(pdf: Uint8Array, name: string, p: any, home: string): Promise<string> {
  const blob = new Blob([pdf as BlobPart], { type: "application/pdf" });
  const to = text(p.FileUploadHandler);
  if (!to) {
    const d = g.document;
    if (!d || !d.createElement) throw err("UPLOAD_FAILED", { reason: "no FileUploadHandler" });
    const a = d.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
    return "";
  }
  const form = new FormData();
  form.append("uploadfile", blob, name);
  if (p.MetaData != null) form.append("MetaData", typeof p.MetaData == "string" ? p.MetaData : JSON.stringify(p.MetaData));
  const [u, init] = request(to, p, home, { method: "POST", body: form });
  let res: Response;
  try {
    res = await g.fetch(u, init);
  } catch (e) {
    throw err("UPLOAD_FAILED", { cause: String(e) });
  }
  const body = await res.text().catch(() => "");
  if (!res.ok) throw err("UPLOAD_FAILED", { status: res.status, body: body.slice(0, 500) });
  return body;
}

// ---- Entry points ----

type Work = (p: any) => Promise<unknown>;

/**
 * A vgca_* function: (json, cb), or the older (sender, json, cb) whose
 * callback gets (sender, reply); with nParams 0 (GetCertInfo): (cb) or
 * (sender, cb). The reply is a JSON string; errors are {Status: 1,
 * Message, Error (= Message, as some callers read it), Code (kyso's),
 * Detail (the agent's English, for developers)}. Also returns a Promise of
 * the reply.
 */
function entry(nParams: 0 | 1, work: Work) {
  return function (...a: any[]): Promise<string> {
    const k = a.findIndex((x) => typeof x == "function");
    const cb = k >= 0 ? a[k] : undefined;
    const sender = k > nParams ? [a[0]] : [];
    const raw = nParams ? a[k > 1 ? 1 : 0] : undefined;
    const done = (r: unknown) => {
      const s = JSON.stringify(r);
      try {
        cb && cb(...sender, s);
      } catch (e) {
        (g.reportError || console.error)(e);
      }
      return s;
    };
    let run: Promise<unknown>;
    try {
      let p: any = raw;
      if (typeof raw == "string") p = raw.trim() ? JSON.parse(raw) : {};
      if (p == null) p = {};
      if (typeof p != "object") throw 0;
      run = work(p); // runs synchronously up to its first await (user activation)
    } catch (e) {
      run = Promise.reject(e instanceof KysoError ? e : err("BAD_PARAMS", { cause: String(e) }));
    }
    return run.then(done, (e) => {
      const x = e instanceof KysoError ? e : err("INTERNAL", { cause: String(e) });
      return done({ Status: 1, Message: x.message, Error: x.message, Code: x.code, Detail: x.agentMessage || "" });
    });
  };
}

const WITH_NUMBER = ["issued", "appendix", "income"];

/**
 * A file flow: download FileName, sign with the profile, upload to
 * FileUploadHandler. DocNumber goes to issued, appendix and income (the
 * arrival number); IssuedDate (any form vnDate reads) to issued. Extra
 * agent options may come in `KysoOptions` (e.g. {place, level,
 * certificate}).
 */
function signFile(profile: string): Work {
  return async (p) => {
    const number = text(p.DocNumber);
    const date = vnDate(p.IssuedDate);
    if (date === null) throw err("BAD_ISSUED_DATE", { IssuedDate: p.IssuedDate });
    const cp = client(); // connect within the click
    cp.catch(() => {});
    const get = source(p);
    const o: SignPdfOptions = { ...p.KysoOptions, profile: profile as SignPdfOptions["profile"] };
    if (number && WITH_NUMBER.includes(profile)) o.docNumber = number;
    if (date && profile == "issued") o.issuedDate = date;
    const src = await get();
    const signed = await (await cp).signPdf(src.data, { ...o, name: src.name });
    const server = await upload(signed, src.name, p, src.home);
    return {
      Status: 0,
      Message: "",
      FileName: src.name,
      FileServer: server,
      DocumentNumber: number,
      DocumentDate: date || vnDay(Date.now()),
    };
  };
}

const LEN: Record<string, number> = { sha256: 32, sha384: 48, sha512: 64 };

/**
 * HashValue as bytes: base64 (also URL-safe) unless Encode names hex; the
 * other encoding is tried when the first does not give a digest of the
 * algorithm's length.
 */
export function digestOf(v: string, encode: string, len: number): Uint8Array | null {
  const s = v.replace(/\s/g, "");
  const hex = () => (/^(?:[0-9a-f]{2})+$/i.test(s) ? Uint8Array.from(s.match(/../g)!, (h) => parseInt(h, 16)) : null);
  const b = () => {
    try {
      return Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    } catch {
      return null;
    }
  };
  for (const f of /hex/i.test(encode) ? [hex, b] : [b, hex]) {
    const d = f();
    if (d && d.length == len) return d;
  }
  return null;
}

const signMsg: Work = async (p) => {
  const alg = (text(p.HashAlg) || "sha256").toLowerCase().replace(/[-_\s]/g, "");
  const len = LEN[alg];
  if (!len) throw err("HASH_ALG_NOT_SUPPORTED", { HashAlg: p.HashAlg });
  const digest = digestOf(text(p.HashValue), text(p.Encode), len);
  if (!digest) throw err("BAD_HASH");
  const c = await client();
  const r = await c.signHash(digest, { description: text(p.Description) || undefined, ...p.KysoOptions, alg: alg as "sha256" });
  lastSigner = r.signer;
  const cert = (await c.listCertificates({ handle: r.signer }))[0];
  return { Status: 0, Message: "", Signature: b64(r.cms), CertBase64: cert ? cert.certificate : "" };
};

const verifyPdf: Work = async (p) => {
  const cp = client();
  cp.catch(() => {});
  const get = source(p);
  const src = await get();
  return verifyList(await (await cp).verifyPdf(src.data, { name: src.name }));
};

const getCertInfo: Work = async () => {
  const c = await client();
  const list = await c.listCertificates({ withKey: true, signing: true });
  const cert = list.find((x) => x.handle == lastSigner) || list[0];
  if (!cert) throw err("NO_CERTIFICATE");
  return { Status: 0, Message: "", CertInfo: certInfo(cert) };
};

const unsupported: Work = async () => {
  throw err("NOT_SUPPORTED");
};

const api: Record<string, Function> = {
  vgca_sign_approved: entry(1, signFile("approved")),
  vgca_sign_issued: entry(1, signFile("issued")),
  vgca_sign_appendix: entry(1, signFile("appendix")),
  vgca_sign_copy: entry(1, signFile("copy")),
  vgca_sign_income: entry(1, signFile("income")),
  vgca_comment: entry(1, signFile("comment")),
  // Generic signing of a PDF: kyso's plain (invisible) signature.
  vgca_sign_pdf: entry(1, signFile("")),
  vgca_sign_file: entry(1, signFile("")),
  vgca_sign_msg: entry(1, signMsg),
  vgca_verify_pdf: entry(1, verifyPdf),
  vgca_get_certinfo: entry(0, getCertInfo),
  // Defined so that pages polling for them do not wait forever.
  vgca_sign_office: entry(1, unsupported),
  vgca_sign_xml: entry(1, unsupported),
  vgca_verify_msg: entry(1, unsupported),
  vgca_verify_xml: entry(1, unsupported),
  vgca_verify_office: entry(1, unsupported),
  vgca_show_config: entry(0, unsupported),
};
Object.assign(g, api);

/** The functions defined on globalThis, by name. */
export const functions = api;

import { locate, type Options } from "./connect";
import { KysoError } from "./errors";
import type {
  CertificateFilter,
  CertificateInfo,
  ConnectOptions,
  DocumentData,
  DocumentInfo,
  EventMap,
  HelloResult,
  Progress,
  SignAndUploadOptions,
  SignedDocument,
  SignHashOptions,
  SignHashResult,
  SignPdfOptions,
  SignPdfsOptions,
  Status,
  VerificationReport,
} from "./types";

export const VERSION = "0.1.0";

// A request waiting for its answer, and the document chunks received for it.
interface Pending {
  ws: WebSocket;
  docs: Uint8Array[][];
  progress?: (p: Progress) => void;
  done: (answer: any) => void;
}

// A document ready to send.
interface Outgoing {
  name: string;
  size: number;
  sha256: string;
  b: Uint8Array;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

async function bytes(d: DocumentData): Promise<Uint8Array> {
  if ((d as Blob).arrayBuffer) return new Uint8Array(await (d as Blob).arrayBuffer());
  if (ArrayBuffer.isView(d)) return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  return new Uint8Array(d as ArrayBuffer);
}

async function sha256(b: Uint8Array): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", b as BufferSource));
  return Array.from(h, (x) => (x < 16 ? "0" : "") + x.toString(16)).join("");
}

const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) out.set(p, off), (off += p.length);
  return out;
}

// The name of a downloaded document: Content-Disposition, else the URL's
// last path segment.
function nameOf(res: Response, url: string): string {
  const cd = res.headers.get("content-disposition") || "";
  const m = /filename\*=UTF-8''([^;]+)/i.exec(cd) || /filename="?([^";]+)/i.exec(cd);
  let n = m ? m[1] : (res.url || url).split(/[?#]/)[0].split("/").pop() || "";
  try {
    n = decodeURIComponent(n);
  } catch {}
  return n.replace(/[\x00-\x1f\x7f]/g, "").slice(0, 200) || "document.pdf";
}

/**
 * A connection to the kyso agent. Get one with connect(). Calls made while
 * the connection is down reconnect first; calls in flight when it drops
 * reject with AGENT_DISCONNECTED.
 */
export class KysoClient {
  /** The agent's hello answer: version, capabilities, limits. */
  info!: HelloResult;
  /** The port the agent answered on. */
  port = 0;
  #o: Options;
  #ws?: WebSocket;
  #p = new Map<string, Pending>();
  #h: Record<string, Set<(d: any) => void>> = {};
  #n = 0;
  #busy = 0;
  #q: (() => void)[] = [];
  #dialing?: Promise<HelloResult>;
  #closed = false;
  #retry = 0;
  #timer?: any;

  /** Use connect(). */
  constructor(opts: ConnectOptions = {}) {
    this.#o = {
      reconnect: true,
      ...opts,
      ports: opts.ports || [19571, 19572],
      host: opts.host || "127.0.0.1",
      timeoutMs: opts.timeoutMs || 150000,
    };
  }

  #err(code: string, details?: any, message?: string) {
    return new KysoError(code, details, this.#o.lang, message);
  }

  /** Resolves once connected and negotiated, (re)connecting if needed. */
  ready(): Promise<HelloResult> {
    if (this.#closed) return Promise.reject(this.#err("AGENT_DISCONNECTED"));
    if (this.#ws && this.#ws.readyState == 1) return Promise.resolve(this.info);
    return (this.#dialing ||= locate(this.#o, (port) => this.#open(port))
      .then(() => this.info)
      .finally(() => (this.#dialing = undefined)));
  }

  async #open(port: number): Promise<void> {
    const o = this.#o;
    const W: any = o.WebSocket || globalThis.WebSocket;
    const url = "ws://" + o.host + ":" + port + "/v1";
    // Node's `ws` takes handshake headers as options; browsers cannot.
    const ws: WebSocket = o.headers ? new W(url, { headers: o.headers }) : new W(url);
    ws.binaryType = "arraybuffer";
    ws.onmessage = (e) => this.#msg(ws, e.data);
    let t: any;
    try {
      const hello = await new Promise<any>((res, rej) => {
        t = setTimeout(() => rej(this.#err("TIMEOUT", { port })), o.timeoutMs);
        ws.onerror = ws.onclose = () => rej(0);
        ws.onopen = () => {
          ws.onclose = (e) => this.#dropped(ws, e);
          this.#call(ws, "hello", { protocols: [1], client: "kyso-js/" + VERSION }).then(res, rej);
        };
      });
      if (hello.result.protocol != 1) throw this.#err("PROTOCOL_MISMATCH", hello.result);
      this.info = hello.result;
      this.port = port;
      this.#ws = ws;
      this.#retry = 0;
    } catch (e: any) {
      ws.close();
      throw e && e.code == "UNSUPPORTED_PROTOCOL" ? this.#err("PROTOCOL_MISMATCH", e.details) : e;
    } finally {
      clearTimeout(t);
    }
  }

  #msg(ws: WebSocket, d: any) {
    try {
      if (typeof d != "string") {
        // A document chunk: uint32 BE header length, JSON header, bytes.
        const u = new Uint8Array(d);
        const n = new DataView(u.buffer).getUint32(0);
        const h = JSON.parse(dec.decode(u.subarray(4, 4 + n)));
        const p = this.#p.get(h.id);
        if (p) (p.docs[h.doc] ||= []).push(u.subarray(4 + n));
        return;
      }
      const m = JSON.parse(d);
      if (m.event) {
        if (m.event == "progress") this.#p.get(m.data.id)?.progress?.(m.data);
        this.#emit(m.event, m.data);
        return;
      }
      const p = this.#p.get(m.id);
      if (p && p.ws == ws) this.#p.delete(m.id), p.done(m);
    } catch {}
  }

  #dropped(ws: WebSocket, e: CloseEvent) {
    const d = { code: e.code, reason: e.reason };
    for (const [id, p] of this.#p)
      if (p.ws == ws) this.#p.delete(id), p.done({ error: { code: "AGENT_DISCONNECTED", details: d } });
    if (ws != this.#ws) return;
    this.#ws = undefined;
    this.#emit("disconnected", d);
    // 1000: closed by us, or idle; the next call reconnects.
    if (this.#o.reconnect && !this.#closed && e.code != 1000) this.#later();
  }

  #later() {
    this.#timer = setTimeout(
      () => this.ready().then((i) => this.#emit("reconnected", i), () => this.#later()),
      Math.min(30000, 500 * 2 ** this.#retry++),
    );
    this.#timer.unref?.();
  }

  #emit(ev: string, d: any) {
    this.#h[ev]?.forEach((f) => {
      try {
        f(d);
      } catch (e) {
        ((globalThis as any).reportError || console.error)(e);
      }
    });
  }

  /** Subscribes to an event; returns the function that unsubscribes. */
  on<K extends keyof EventMap>(event: K, handler: (data: EventMap[K]) => void): () => void {
    const s = (this.#h[event] ||= new Set());
    s.add(handler);
    return () => s.delete(handler);
  }

  // Sends one request on ws (documents first declared, then streamed) and
  // resolves with {result, docs} once answered; an error answer rejects
  // with a KysoError carrying the documents delivered before it.
  #call(ws: WebSocket, method: string, params?: any, ds: Outgoing[] = [], signal?: AbortSignal, progress?: (p: Progress) => void): Promise<{ result: any; docs: SignedDocument[] }> {
    const id = "r" + ++this.#n;
    if (ds.length) params = { ...params, documents: ds.map(({ name, size, sha256 }) => ({ name, size, sha256 })) };
    return new Promise((resolve, reject) => {
      if (ws.readyState != 1) return reject(this.#err("AGENT_DISCONNECTED"));
      const abort = () => this.#p.has(id) && this.#call(ws, "cancel", { id }).catch(() => {});
      const p: Pending = {
        ws,
        docs: [],
        progress,
        done: (m) => {
          signal?.removeEventListener("abort", abort);
          this.#answer(m, p).then(resolve, reject);
        },
      };
      this.#p.set(id, p);
      signal?.addEventListener("abort", abort);
      ws.send(JSON.stringify({ id, method, params }));
      if (ds.length) this.#upload(ws, id, ds);
    });
  }

  async #answer(m: any, p: Pending) {
    const e = m.error;
    const infos: DocumentInfo[] = (e ? e.details && e.details.documents : m.result && m.result.documents) || [];
    const docs: SignedDocument[] = [];
    for (let i = 0; i < infos.length; i++) {
      const data = concat(p.docs[i] || []);
      if (data.length != infos[i].size || (await sha256(data)) != infos[i].sha256.toLowerCase())
        throw this.#err("DOCUMENT_DIGEST_MISMATCH", { doc: i, name: infos[i].name });
      docs.push({ ...infos[i], data });
    }
    if (e) {
      const x = this.#err(e.code, e.details, e.message);
      if (e.details && e.details.documents) x.signed = docs;
      throw x;
    }
    return { result: m.result, docs };
  }

  async #upload(ws: WebSocket, id: string, ds: Outgoing[]) {
    const max = this.info.limits.maxChunkBytes || 1 << 20;
    for (let i = 0; i < ds.length; i++)
      for (let off = 0; off < ds[i].size; off += max) {
        while (ws.bufferedAmount > 4 * max) await sleep(5);
        if (!this.#p.has(id) || ws.readyState != 1) return;
        const h = enc.encode(JSON.stringify({ id, doc: i, offset: off }));
        const c = ds[i].b.subarray(off, off + max);
        const f = new Uint8Array(4 + h.length + c.length);
        new DataView(f.buffer).setUint32(0, h.length);
        f.set(h, 4);
        f.set(c, 4 + h.length);
        ws.send(f);
      }
  }

  // A request as the public methods make it: documents hashed, at most
  // maxInFlight requests at once (the others wait), connected first.
  async #req(method: string, params?: any, docs: { name: string; data: DocumentData }[] = [], signal?: AbortSignal, progress?: (p: Progress) => void) {
    const stop = () => {
      if (signal && signal.aborted) throw this.#err("CANCELLED");
    };
    stop();
    const ds = await Promise.all(
      docs.map(async (d) => {
        const b = await bytes(d.data);
        return { name: d.name, size: b.length, sha256: await sha256(b), b };
      }),
    );
    await this.ready();
    while (this.#busy >= (this.info.limits.maxInFlight || 4)) await new Promise<void>((r) => this.#q.push(r));
    this.#busy++;
    try {
      await this.ready();
      stop();
      const max = this.info.limits.maxDocumentBytes;
      let total = 0;
      ds.forEach((d, doc) => {
        total += d.size;
        if (d.size > max) throw this.#err("TOO_LARGE", { maxDocumentBytes: max, doc, name: d.name });
      });
      if (total > max) throw this.#err("TOO_LARGE", { maxDocumentBytes: max });
      return await this.#call(this.#ws!, method, params, ds, signal, progress);
    } finally {
      this.#busy--;
      this.#q.shift()?.();
    }
  }

  /** Certificates on the plugged-in tokens, optionally filtered. */
  async listCertificates(filter: CertificateFilter = {}): Promise<CertificateInfo[]> {
    return (await this.#req("listCertificates", filter)).result || [];
  }

  /** Tokens, modules and whether a signing dialog is open. */
  async status(): Promise<Status> {
    return (await this.#req("status")).result;
  }

  /**
   * Signs one PDF; resolves with the signed file (the input followed by an
   * incremental update). The agent shows its dialog and asks for the PIN.
   */
  async signPdf(pdf: DocumentData, options: SignPdfOptions & { name?: string; signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const { name, signal, ...opts } = options;
    const r = await this.#req("signPdf", { options: opts }, [{ name: name || (pdf as File).name || "document.pdf", data: pdf }], signal);
    return r.docs[0].data;
  }

  /**
   * Signs a batch with one approval and one PIN. When it stops early
   * (cancelled, token removed, …) it rejects with a KysoError whose
   * `signed` holds the documents signed before the stop.
   */
  async signPdfs(docs: { name: string; data: DocumentData }[], opts: SignPdfsOptions = {}): Promise<SignedDocument[]> {
    return (await this.#req("signPdfs", { options: opts.options || {} }, docs, opts.signal, opts.onProgress)).docs;
  }

  /**
   * Hash mode: a CMS signature (DER) over a digest a server prepared. Only
   * for origins the machine policy lists (else HASH_SIGNING_NOT_ALLOWED).
   */
  async signHash(digest: Uint8Array, opts: SignHashOptions = {}): Promise<SignHashResult> {
    const { alg, signal, ...rest } = opts;
    const r = (await this.#req("signHash", { ...rest, digest: b64(digest), hash: alg || "sha256" }, [], signal)).result;
    return { cms: unb64(r.cms), signer: r.signer };
  }

  /** Verifies every signature of a PDF (report schema kyso.verification/v1). */
  async verifyPdf(pdf: DocumentData, opts: { name?: string; signal?: AbortSignal } = {}): Promise<VerificationReport> {
    return (await this.#req("verifyPdf", {}, [{ name: opts.name || (pdf as File).name || "document.pdf", data: pdf }], opts.signal)).result;
  }

  /**
   * Downloads a PDF with the page's own fetch (cookies, credentials), has it
   * signed, and POSTs it as multipart/form-data. The agent never fetches
   * URLs itself. Resolves with the upload's Response, whatever its status:
   * check `ok`. Do not set Content-Type in fetchInit.
   */
  async signAndUpload(a: SignAndUploadOptions): Promise<Response> {
    const f: typeof fetch = this.#o.fetch || fetch;
    const init = { ...a.fetchInit, signal: a.signal };
    const fail = (code: string, d: any) => (a.signal && a.signal.aborted ? this.#err("CANCELLED") : this.#err(code, d));
    let res: Response;
    try {
      res = await f(a.download, init);
    } catch (e) {
      throw fail("DOWNLOAD_FAILED", { cause: String(e) });
    }
    if (!res.ok) throw this.#err("DOWNLOAD_FAILED", { status: res.status });
    const name = a.name || nameOf(res, typeof a.download == "string" ? a.download : a.download.url);
    const pdf = await this.signPdf(await res.arrayBuffer(), { ...a.options, name, signal: a.signal });
    const form = new FormData();
    form.append(a.fieldName || "file", new Blob([pdf as BlobPart], { type: "application/pdf" }), name);
    try {
      return await f(a.upload, { ...init, method: "POST", body: form });
    } catch (e) {
      throw fail("UPLOAD_FAILED", { cause: String(e) });
    }
  }

  /** Closes the connection; calls in flight reject with AGENT_DISCONNECTED. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#ws?.close(1000);
  }
}

/**
 * Connects to the local kyso agent. In a browser, call it from a click
 * handler with {userGesture: true} the first time: the browser may have to
 * ask the user for Local Network Access, and only a user gesture may raise
 * that prompt (otherwise LNA_PROMPT_REQUIRED).
 */
export async function connect(opts?: ConnectOptions): Promise<KysoClient> {
  const c = new KysoClient(opts);
  await c.ready();
  return c;
}

import { KysoError } from "./errors";
import type { ConnectOptions } from "./types";

/** ConnectOptions with the defaults filled in. */
export interface Options extends ConnectOptions {
  ports: number[];
  host: string;
  timeoutMs: number;
}

// The browser's Local Network Access permission state ("granted",
// "prompt", "denied"), or undefined where there is none (Node, Safari,
// older browsers). Chrome 145+ names it loopback-network; the older name
// is an alias.
async function lna(): Promise<string | undefined> {
  for (const name of ["loopback-network", "local-network-access"]) {
    try {
      return (await (globalThis as any).navigator.permissions.query({ name })).state;
    } catch {}
  }
}

// Asks /v1/hello why a WebSocket failed: 0 nothing (or not kyso) there,
// 1 kyso is there but refuses this origin, 2 kyso answered the hello.
// Browsers hide the 403 (no CORS headers): a no-cors request that gets
// through tells "refused" from "nothing listening".
async function probe(f: typeof fetch, o: Options, url: string): Promise<number> {
  const init: any = { targetAddressSpace: "loopback", cache: "no-store", headers: o.headers };
  try {
    const r = await f(url, init);
    if (r.status == 403) return 1;
    return r.ok && (await r.json().catch(() => 0)).product == "kyso" ? 2 : 0;
  } catch {
    try {
      await f(url, { ...init, mode: "no-cors", headers: undefined });
      return 1;
    } catch {
      return 0;
    }
  }
}

/**
 * Finds the agent and opens a negotiated connection with open(port),
 * following the browser's Local Network Access flow (docs: browser.md):
 * never raises the permission prompt without a user gesture, and maps every
 * failure to a distinct code.
 */
export async function locate(o: Options, open: (port: number) => Promise<void>): Promise<void> {
  const g = globalThis as any;
  const ua: string = (g.navigator && g.navigator.userAgent) || "";
  const err = (code: string, d?: any) => new KysoError(code, d, o.lang);
  const f: typeof fetch = o.fetch || g.fetch;
  const hello = (port: number) => "http://" + o.host + ":" + port + "/v1/hello";
  if (g.isSecureContext === false) throw err("NOT_SECURE_CONTEXT");
  let state = await lna();
  if (state == "denied") throw err("LNA_DENIED");
  if (state == "prompt") {
    if (!o.userGesture) throw err("LNA_PROMPT_REQUIRED");
    try {
      // Raises the prompt; the answer itself does not matter.
      await f(hello(o.ports[0]), { targetAddressSpace: "loopback" } as RequestInit);
    } catch {
      state = await lna();
      if (state == "denied") throw err("LNA_DENIED");
      // A page served from loopback itself is never gated, so no prompt
      // was shown: the failure is the agent's (refused origin, not
      // running), which the loop below tells apart.
      const host = g.location && g.location.hostname;
      const local = host == "127.0.0.1" || host == "localhost" || host == "[::1]";
      if (state == "prompt" && !local) throw err("LNA_PROMPT_DISMISSED");
      // Granted: the request failed for another reason (no agent on that
      // port, or the origin is not approved yet: the WebSocket may ask).
    }
  }
  let last = err("AGENT_NOT_RUNNING", { ports: o.ports });
  for (const port of o.ports) {
    try {
      return await open(port);
    } catch (e: any) {
      if (e && e.code == "PROTOCOL_MISMATCH") throw e;
      // WebKit blocks ws:// from HTTPS pages (bug 171934).
      if (/Safari/.test(ua) && !/Chrom/.test(ua) && g.location && g.location.protocol == "https:") throw err("SAFARI_NEEDS_WSS");
      const why = await probe(f, o, hello(port));
      if (why == 1) throw err("ORIGIN_NOT_ALLOWED", { port });
      if (why == 2) last = e instanceof KysoError ? e : err("CONNECTION_REFUSED", { port });
    }
  }
  throw last;
}

// Shared setup of the tests that run against a real agent: the Go harness
// (cmd/kyso/jssdk_test.go) starts `kyso serve` with a SoftHSM token and
// passes its address, origins, certificates and a sample PDF in the
// environment.
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import WebSocket from "ws";

const need = (name) => {
  const v = process.env[name];
  if (!v) {
    throw new Error(
      `${name} is not set: these tests need a running kyso agent. ` +
        "Run them through `go test -run TestJSSDK ./cmd/kyso/` (after `npm ci` in js-sdk), " +
        "which starts one and sets KYSO_URL, KYSO_ORIGIN, KYSO_PDF, … for them.",
    );
  }
  return v;
};

export const url = need("KYSO_URL"); // ws://127.0.0.1:PORT/v1
export const port = Number(new URL(url).port);
export const origin = need("KYSO_ORIGIN"); // admitted, may sign hashes
export const originNoHash = need("KYSO_ORIGIN_NOHASH"); // admitted, may not sign hashes
export const originDenied = need("KYSO_ORIGIN_DENIED"); // not admitted
export const certPersonal = need("KYSO_CERT_PERSONAL");
export const certOrg = need("KYSO_CERT_ORG");
export const secret = need("KYSO_SECRET");
export const pdf = new Uint8Array(readFileSync(need("KYSO_PDF")));

/** Connect options of a Node client speaking as a page of `from`. */
export function opts(from = origin, extra = {}) {
  return { ports: [port], WebSocket, headers: { Origin: from }, ...extra };
}

/** A loopback port nothing listens on (bound once, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

const EOF_MARK = new TextEncoder().encode("%%EOF");

/** Whether out is in followed by an incremental update ending in %%EOF. */
export function extendsPdf(out, input) {
  if (!(out instanceof Uint8Array) || out.length <= input.length) return false;
  for (let i = 0; i < input.length; i++) if (out[i] !== input[i]) return false;
  const tail = Buffer.from(out.subarray(out.length - 32)).toString("latin1").trimEnd();
  return tail.endsWith(Buffer.from(EOF_MARK).toString("latin1"));
}

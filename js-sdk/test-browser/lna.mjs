// Local Network Access on a public page: the demo DMS served with
// `Content-Security-Policy: treat-as-public-address`, its origin allowed
// by the agent. Without the permission the SDK must report an LNA code
// (never a wrong "agent not running"); with the permission denied,
// LNA_DENIED; once granted, the certificates load and a signature
// completes. cmd/kyso/browser_test.go (TestBrowserDemoW2/LNA) runs it.
//
// Environment:
//   KYSO_DMS_PUBLIC_URL   the public agency (allowed by the agent)
//   KYSO_CERT_PERSONAL_NAME
//   KYSO_OUT_DIR          lna.json goes there
//   CHROMIUM
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  env, log, run, launch, grant, deny, lnaState, mustBeGranted, click, mustBeOK, mustFail, pickCert, waitDocs, resultOf, watch,
} from "./lib.mjs";

const PUB = env("KYSO_DMS_PUBLIC_URL").replace(/\/$/, "");
const personalName = env("KYSO_CERT_PERSONAL_NAME");
const outDir = env("KYSO_OUT_DIR");
const LNA = ["LNA_DENIED", "LNA_PROMPT_DISMISSED"];

run("lna", async () => {
  mkdirSync(outDir, { recursive: true });
  const b = await launch();
  const result = {};
  try {
    const origin = new URL(PUB).origin;
    const page = b.ctx.pages()[0] || (await b.ctx.newPage());
    watch(page, "public");

    // Not granted: headless fails the request at once.
    await page.goto(PUB + "/approve");
    await waitDocs(page);
    result.ungrantedState = await lnaState(page);
    log(`ungranted: permission ${JSON.stringify(result.ungrantedState)}`);
    let st = await click(page, "#btn-certs", "ungranted");
    result.ungranted = st;
    mustFail(st, LNA, "ungranted");

    // Denied explicitly.
    await deny(b.ctx, page, origin);
    await page.reload();
    await waitDocs(page);
    result.deniedState = await lnaState(page);
    log(`denied: permission ${JSON.stringify(result.deniedState)}`);
    st = await click(page, "#btn-certs", "denied");
    result.denied = st;
    mustFail(st, ["LNA_DENIED"], "denied");

    // Granted: the certificates load and the leader approves.
    await grant(b.ctx, page, [origin]);
    await page.reload();
    await mustBeGranted(page, "granted");
    await waitDocs(page);
    const docID = await page.$eval("#doc", (s) => s.value);
    result.personal = await pickCert(page, personalName, "granted");
    mustBeOK(await click(page, "#btn-approve", "granted: approve"), "granted: approve");
    const r = await resultOf(page);
    if (r.doc !== docID || r.state !== "approved") throw new Error(`granted: #result ${JSON.stringify(r)}, want ${docID} approved`);
    result.docID = docID;
  } finally {
    writeFileSync(join(outDir, "lna.json"), JSON.stringify(result, null, 2));
    await b.close();
  }
});

// Local Network Access from a cross-origin iframe: a public host page
// embeds the public demo DMS's approve page (an origin the agent allows).
// The browser runs under a managed policy that pre-allows the DMS origin
// (cmd/kyso/browser_test.go writes it before this script starts); no CDP
// grant is made here, since CDP grants bypass the iframe's allow= check.
// Without allow= the frame's SDK must fail with an LNA code; with
// allow="loopback-network; local-network-access" the certificates load.
//
// Environment:
//   KYSO_HOST_URL     the host page; ?allow=1 delegates the permission
//   KYSO_OUT_DIR      iframe.json goes there
//   CHROMIUM
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { env, log, run, launch, lnaState, click, mustBeOK, mustFail, certOptions, waitDocs, watch, STEP_MS } from "./lib.mjs";

const HOST = env("KYSO_HOST_URL").replace(/\/$/, "");
const outDir = env("KYSO_OUT_DIR");

// frameOf loads the host page and returns the DMS page inside it.
async function frameOf(page, allow) {
  await page.goto(HOST + "/?allow=" + (allow ? "1" : "0"));
  const el = await page.waitForSelector("#dms", { timeout: STEP_MS });
  const fr = await el.contentFrame();
  if (!fr) throw new Error("no frame in the host page");
  try {
    await fr.waitForSelector("#btn-certs", { timeout: 15_000 });
  } catch (e) {
    throw new Error(`the frame (${fr.url()}) did not load the DMS page: ${(await fr.content().catch(() => "")).slice(0, 300)}: ${e.message}`);
  }
  await waitDocs(fr);
  log(`frame ${fr.url()} (allow=${await el.getAttribute("allow")})`);
  return fr;
}

run("iframe", async () => {
  mkdirSync(outDir, { recursive: true });
  const b = await launch();
  const result = {};
  try {
    const page = b.ctx.pages()[0] || (await b.ctx.newPage());
    watch(page, "host");

    let fr = await frameOf(page, false);
    result.withoutAllowState = await lnaState(fr);
    log(`without allow=: permission ${JSON.stringify(result.withoutAllowState)}`);
    let st = await click(fr, "#btn-certs", "without allow=");
    result.withoutAllow = st;
    mustFail(st, ["LNA_DENIED", "LNA_PROMPT_DISMISSED"], "without allow=");

    fr = await frameOf(page, true);
    result.withAllowState = await lnaState(fr);
    log(`with allow=: permission ${JSON.stringify(result.withAllowState)}`);
    st = await click(fr, "#btn-certs", "with allow=");
    result.withAllow = st;
    mustBeOK(st, "with allow=");
    const opts = await certOptions(fr);
    result.certs = opts.length;
    if (!opts.length) throw new Error("with allow=: #cert has no certificate");
    log(`with allow=: ${opts.length} certificates`);
  } finally {
    writeFileSync(join(outDir, "iframe.json"), JSON.stringify(result, null, 2));
    await b.close();
  }
});

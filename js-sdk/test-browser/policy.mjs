// Enterprise policy instead of a permission: a page served as a public
// site (treat-as-public-address) reaches the agent because the managed
// Chromium policy `kyso policy generate` made for its origin
// (chromium/kyso-local-network.json) is installed — no CDP grant, no
// prompt. Its button connects with the SDK and calls status and
// listCertificates. cmd/kyso/browser_policy_test.go (TestBrowserPolicy)
// installs the policy, starts the agent with the kit's kyso/policy.json
// and runs this script twice: without the policy file (KYSO_EXPECT=denied,
// the control: the click must fail with LNA_DENIED) and with it
// (KYSO_EXPECT=allowed: it must succeed). Nothing here grants anything.
//
// Environment:
//   KYSO_PAGE_URL   the public test page
//   KYSO_EXPECT     allowed | denied
//   KYSO_OUT_DIR    policy-<KYSO_EXPECT>.json goes there
//   CHROMIUM
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { env, log, run, launch, lnaState, click, mustBeOK, mustFail, watch, STEP_MS } from "./lib.mjs";

const PAGE = env("KYSO_PAGE_URL");
const expect = env("KYSO_EXPECT");
const outDir = env("KYSO_OUT_DIR");
if (expect !== "allowed" && expect !== "denied") throw new Error(`KYSO_EXPECT=${expect}: use allowed or denied`);

run("policy-" + expect, async () => {
  mkdirSync(outDir, { recursive: true });
  const b = await launch();
  const result = { expect };
  try {
    const page = b.ctx.pages()[0] || (await b.ctx.newPage());
    watch(page, "public");
    await page.goto(PAGE);
    await page.waitForSelector("#btn-connect", { timeout: STEP_MS });
    result.permission = await lnaState(page);
    log(`permission ${JSON.stringify(result.permission)}`);

    const st = await click(page, "#btn-connect", "connect, status, listCertificates");
    result.status = st;
    if (expect === "allowed") {
      mustBeOK(st, "under the managed policy");
      result.agent = await page.$eval("#status", (s) => ({
        version: s.dataset.version,
        modules: Number(s.dataset.modules),
        certificates: Number(s.dataset.certs),
      }));
      log(`agent ${JSON.stringify(result.agent)}`);
      if (!(result.agent.certificates > 0)) throw new Error(`no certificate listed: ${JSON.stringify(result.agent)}`);
    } else {
      // Headless Chromium denies at once what it would ask the user
      // (lna.mjs, ungranted).
      mustFail(st, ["LNA_DENIED"], "without the policy");
    }
  } finally {
    writeFileSync(join(outDir, `policy-${expect}.json`), JSON.stringify(result, null, 2));
    await b.close();
  }
});

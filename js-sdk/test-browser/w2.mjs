// Drives the demo DMS's W1/W2 pages (approve, then issue) in headless
// Chromium against a running `kyso serve`, as a user would: the pages load
// the SDK bundle (/sdk/kyso.js) and talk to the agent on its fixed port.
// cmd/kyso/browser_test.go (TestBrowserDemoW2) starts the agent and the
// DMS and runs this script; it checks the files this script leaves.
//
// Environment:
//   KYSO_DMS_URL          base URL of the agency whose origin the policy allows
//   KYSO_DMS_DENIED_URL   optional: base URL of an agency the policy refuses
//   KYSO_OUT_DIR          where the final PDF (issued.pdf) and result.json go
//   KYSO_SCREENSHOTS      optional: where demo-approve.png and demo-issue.png go
//   KYSO_CERT_PERSONAL_NAME, KYSO_CERT_ORG_NAME  the certificates' names
//   KYSO_DOC_NUMBER       the number to issue with (default 15/QĐ-UBND)
//   CHROMIUM              the browser (default /usr/bin/chromium)
//
// It never downloads a browser: playwright-core only drives the one given.
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { env, log, run, launch, grant, mustBeGranted, click, mustBeOK, pickCert, waitDocs, watch } from "./lib.mjs";

const dmsURL = env("KYSO_DMS_URL").replace(/\/$/, "");
const deniedURL = (process.env.KYSO_DMS_DENIED_URL || "").replace(/\/$/, "");
const outDir = env("KYSO_OUT_DIR");
const shots = process.env.KYSO_SCREENSHOTS || "";
const personalName = env("KYSO_CERT_PERSONAL_NAME");
const orgName = env("KYSO_CERT_ORG_NAME");
const docNumber = env("KYSO_DOC_NUMBER", "15/QĐ-UBND");

async function main() {
  mkdirSync(outDir, { recursive: true });
  if (shots) mkdirSync(shots, { recursive: true });
  const b = await launch();
  const ctx = b.ctx;
  const result = { steps: {} };
  try {
    const page = ctx.pages()[0] || (await ctx.newPage());
    watch(page, "page");

    // W1: the leader approves with the personal certificate.
    let t = Date.now();
    await page.goto(dmsURL + "/approve");
    if (await page.locator("#sdk-missing").count()) throw new Error("the page says the SDK bundle is missing");
    await grant(ctx, page, [new URL(dmsURL).origin]);
    await mustBeGranted(page, "approve");
    await waitDocs(page);
    const docID = await page.$eval("#doc", (s) => s.options[0].value);
    await page.selectOption("#doc", docID);
    log(`approve: document ${await page.$eval("#doc", (s) => s.options[s.selectedIndex].textContent)}`);
    result.personal = await pickCert(page, personalName, "approve");
    const approved = await click(page, "#btn-approve", "approve");
    mustBeOK(approved, "approve");
    const ap = await page.$eval("#result", (r) => ({ doc: r.dataset.doc, state: r.dataset.state }));
    if (ap.doc !== docID || ap.state !== "approved") throw new Error(`approve: #result ${JSON.stringify(ap)}, want document ${docID} approved`);
    result.steps.approveMs = Date.now() - t;
    if (shots) await page.screenshot({ path: join(shots, "demo-approve.png"), fullPage: true });

    // W2: the clerk issues with the organisation certificate.
    t = Date.now();
    await page.goto(dmsURL + "/issue?doc=" + encodeURIComponent(docID));
    await waitDocs(page);
    await page.selectOption("#doc", docID);
    await page.fill("#doc-number", docNumber);
    result.org = await pickCert(page, orgName, "issue");
    const issued = await click(page, "#btn-issue", "issue");
    mustBeOK(issued, "issue");
    const is = await page.$eval("#result", (r) => ({ doc: r.dataset.doc, state: r.dataset.state }));
    if (is.doc !== docID || is.state !== "issued") throw new Error(`issue: #result ${JSON.stringify(is)}, want document ${docID} issued`);
    const href = await page.$eval("#result-link", (a) => a.href);
    result.steps.issueMs = Date.now() - t;
    // The report of the pre-signing check is on the page too.
    if (shots) await page.screenshot({ path: join(shots, "demo-issue.png"), fullPage: true });

    // The final PDF, fetched as the link gives it.
    const r = await page.request.get(href);
    if (!r.ok()) throw new Error(`GET ${href}: ${r.status()}`);
    const pdf = await r.body();
    writeFileSync(join(outDir, "issued.pdf"), pdf);
    log(`downloaded ${href}: ${pdf.length} bytes`);
    result.docID = docID;
    result.href = href;

    // A page of an origin the policy refuses.
    if (deniedURL) {
      t = Date.now();
      const p2 = await ctx.newPage();
      watch(p2, "denied page");
      await p2.goto(deniedURL + "/approve");
      await grant(ctx, p2, [new URL(deniedURL).origin]);
      await mustBeGranted(p2, "denied origin");
      const st = await click(p2, "#btn-certs", "denied origin");
      result.denied = st;
      result.steps.deniedMs = Date.now() - t;
      if (st.state !== "error" || st.code !== "ORIGIN_NOT_ALLOWED") {
        throw new Error(`denied origin: #status data-state=${st.state} data-code=${st.code || "-"}: ${st.text}; want error ORIGIN_NOT_ALLOWED`);
      }
    }
  } finally {
    writeFileSync(join(outDir, "result.json"), JSON.stringify(result, null, 2));
    await b.close();
  }
}

run("w2", main);

// The demo DMS's /incumbent page in headless Chromium: a page written
// purely against the incumbent plugin's API (vgca_sign_approved, then
// vgca_sign_issued with DocNumber and IssuedDate), served by
// /sdk/vgcaplugin-compat.js over kyso. The page sends no images and no
// certificate: the agent's templates file gives the signature and the
// seal. cmd/kyso/browser_test.go (TestBrowserDemoW2/Incumbent) starts the
// agent and the DMS, runs this script and checks what it leaves.
//
// Environment:
//   KYSO_DMS_URL       the agency (allowed by the agent's policy)
//   KYSO_DOC_ID        the document to approve then issue
//   KYSO_DOC_NUMBER    the number the clerk types (#doc-number)
//   KYSO_OUT_DIR       incumbent.json (the two replies) goes there
//   KYSO_SCREENSHOTS   optional: where demo-incumbent.png goes
//   CHROMIUM
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { env, log, run, launch, grant, mustBeGranted, click, mustBeOK, waitDocs, watch, STEP_MS } from "./lib.mjs";

const dmsURL = env("KYSO_DMS_URL").replace(/\/$/, "");
const docID = env("KYSO_DOC_ID");
const docNumber = env("KYSO_DOC_NUMBER");
const outDir = env("KYSO_OUT_DIR");
const shots = process.env.KYSO_SCREENSHOTS || "";
// reply is the page's #reply (the callback's JSON text) and
// #result[data-status].
const reply = (page) =>
  page.evaluate(() => ({
    text: document.querySelector("#reply").textContent,
    status: document.querySelector("#result").dataset.status || "",
  }));

run("incumbent", async () => {
  mkdirSync(outDir, { recursive: true });
  const b = await launch();
  const result = {};
  try {
    const page = b.ctx.pages()[0] || (await b.ctx.newPage());
    watch(page, "incumbent");
    await page.goto(dmsURL + "/incumbent");
    await grant(b.ctx, page, [new URL(dmsURL).origin]);
    await mustBeGranted(page, "incumbent");
    // The page polls until vgcaplugin-compat.js defined the functions.
    await page.waitForFunction(() => document.querySelector("#plugin-status").dataset.state, null, { timeout: STEP_MS });
    const plugin = await page.$eval("#plugin-status", (e) => ({ state: e.dataset.state, text: e.textContent }));
    log(`plugin: ${plugin.state} ${plugin.text}`);
    if (plugin.state !== "ok") throw new Error(`#plugin-status: ${JSON.stringify(plugin)}`);
    await waitDocs(page);
    await page.selectOption("#doc", docID);

    // The leader approves (personal certificate, the template's signature).
    mustBeOK(await click(page, "#btn-vgca-approve", "vgca_sign_approved"), "vgca_sign_approved");
    result.approved = await reply(page);
    log(`vgca_sign_approved: ${result.approved.text}`);
    if (result.approved.status !== "0") throw new Error(`vgca_sign_approved: #result[data-status=${result.approved.status}]`);

    // The clerk issues with a number (organisation certificate, the seal).
    await page.waitForFunction((id) => document.querySelector("#doc").value === id, docID, { timeout: 10_000 }).catch(() => {});
    await page.selectOption("#doc", docID);
    await page.fill("#doc-number", docNumber);
    mustBeOK(await click(page, "#btn-vgca-issue", "vgca_sign_issued"), "vgca_sign_issued");
    result.issued = await reply(page);
    log(`vgca_sign_issued: ${result.issued.text}`);
    if (result.issued.status !== "0") throw new Error(`vgca_sign_issued: #result[data-status=${result.issued.status}]`);
    if (shots) await page.screenshot({ path: join(shots, "demo-incumbent.png"), fullPage: true });
  } finally {
    writeFileSync(join(outDir, "incumbent.json"), JSON.stringify(result, null, 2));
    await b.close();
  }
});

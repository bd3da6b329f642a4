// Workflow W5 of the demo DMS in headless Chromium: agency A approves a
// document (personal certificate) and issues it (organisation
// certificate) on its interagency page, forwards it to agency B; B (its
// own origin) checks the incoming document and receives it with an
// arrival number. cmd/kyso/browser_test.go (TestBrowserDemoW2/W5) starts
// the agent and the DMS, runs this script and checks the files it leaves.
//
// Environment:
//   KYSO_DMS_A_URL, KYSO_DMS_B_URL   the two agencies (both allowed)
//   KYSO_DMS_B_ID                    B's agency ID (#to's value)
//   KYSO_DOC_NAME                    the new document at A to work on
//   KYSO_DOC_NUMBER, KYSO_ARRIVAL_NUMBER
//   KYSO_CERT_PERSONAL_NAME, KYSO_CERT_ORG_NAME
//   KYSO_OUT_DIR                     received.pdf and w5.json go there
//   CHROMIUM
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  env, log, run, launch, grant, mustBeGranted, click, mustBeOK, pickCert, waitDocs, docByName, resultOf, watch,
} from "./lib.mjs";

const A = env("KYSO_DMS_A_URL").replace(/\/$/, "");
const B = env("KYSO_DMS_B_URL").replace(/\/$/, "");
const bID = env("KYSO_DMS_B_ID");
const docName = env("KYSO_DOC_NAME");
const docNumber = env("KYSO_DOC_NUMBER");
const arrival = env("KYSO_ARRIVAL_NUMBER");
const personalName = env("KYSO_CERT_PERSONAL_NAME");
const orgName = env("KYSO_CERT_ORG_NAME");
const outDir = env("KYSO_OUT_DIR");

run("w5", async () => {
  mkdirSync(outDir, { recursive: true });
  const b = await launch();
  const result = {};
  try {
    const page = b.ctx.pages()[0] || (await b.ctx.newPage());
    watch(page, "A");
    await page.goto(A + "/approve");
    await grant(b.ctx, page, [new URL(A).origin, new URL(B).origin]);
    await mustBeGranted(page, "A approve");
    await waitDocs(page);

    // A's leader approves.
    const docID = await docByName(page, "#doc", docName);
    await page.selectOption("#doc", docID);
    await pickCert(page, personalName, "A approve");
    mustBeOK(await click(page, "#btn-approve", "A approve"), "A approve");
    let r = await resultOf(page);
    if (r.doc !== docID || r.state !== "approved") throw new Error(`A approve: #result ${JSON.stringify(r)}`);

    // A's clerk issues on the interagency page, then forwards to B.
    await page.goto(A + "/interagency?doc=" + encodeURIComponent(docID));
    await waitDocs(page);
    await page.selectOption("#doc", docID);
    await page.fill("#doc-number", docNumber);
    await pickCert(page, orgName, "A issue");
    mustBeOK(await click(page, "#btn-issue", "A issue"), "A issue");
    r = await resultOf(page);
    if (r.doc !== docID || r.state !== "issued") throw new Error(`A issue: #result ${JSON.stringify(r)}`);
    await page.waitForFunction((id) => document.querySelector("#doc").value === id, docID, { timeout: 10_000 }).catch(() => {});
    await page.selectOption("#doc", docID);
    await page.selectOption("#to", bID);
    mustBeOK(await click(page, "#btn-forward", "A forward"), "A forward");
    r = await resultOf(page);
    if (r.doc !== docID || r.state !== "forwarded") throw new Error(`A forward: #result ${JSON.stringify(r)}`);
    const link = await page.$eval("#forward-link", (a) => ({ href: a.href, hidden: a.classList.contains("hidden") }));
    if (link.hidden || new URL(link.href).origin !== new URL(B).origin) {
      throw new Error(`A forward: #forward-link ${JSON.stringify(link)}, want a visible link to ${B}`);
    }
    const inID = new URL(link.href).searchParams.get("doc");
    log(`A forwarded #${docID} to ${bID}: incoming #${inID} at ${link.href}`);

    // B, another origin, opens the link.
    const pb = await b.ctx.newPage();
    watch(pb, "B");
    await pb.goto(link.href);
    await mustBeGranted(pb, "B interagency");
    await waitDocs(pb, "#inbox");
    const sel = await pb.$eval("#inbox", (s) => s.value);
    if (sel !== inID) throw new Error(`B: #inbox shows ${sel}, want the incoming document ${inID}`);
    const v = await click(pb, "#btn-verify-incoming", "B verify incoming");
    mustBeOK(v, "B verify incoming");
    result.incomingVerdict = await pb.$eval("#verdict", (e) => e.dataset.verdict);
    result.incomingSignatures = await pb.$$eval("#report-table tbody tr", (rs) => rs.length);
    log(`B verify incoming: verdict ${result.incomingVerdict}, ${result.incomingSignatures} signatures`);
    if (result.incomingVerdict !== "valid" || result.incomingSignatures !== 2) {
      throw new Error(`B verify incoming: verdict ${result.incomingVerdict} with ${result.incomingSignatures} signatures, want valid with 2`);
    }
    await pickCert(pb, orgName, "B income");
    await pb.fill("#arrival-number", arrival);
    mustBeOK(await click(pb, "#btn-income", "B income"), "B income");
    r = await resultOf(pb);
    if (r.doc !== inID || r.state !== "received") throw new Error(`B income: #result ${JSON.stringify(r)}, want ${inID} received`);
    result.afterVerdict = await pb.$eval("#verdict", (e) => e.dataset.verdict);
    result.afterSignatures = await pb.$$eval("#report-table tbody tr", (rs) => rs.length);
    log(`B income: the signed file verifies ${result.afterVerdict} with ${result.afterSignatures} signatures`);
    if (result.afterVerdict !== "valid" || result.afterSignatures !== 3) {
      throw new Error(`B income: the agent verifies the received file ${result.afterVerdict} with ${result.afterSignatures} signatures, want valid with 3`);
    }
    const href = await pb.$eval("#result-link", (a) => a.href);
    if (new URL(href).origin !== new URL(B).origin) throw new Error(`B: #result-link ${href} is not B's`);
    const resp = await pb.request.get(href);
    if (!resp.ok()) throw new Error(`GET ${href}: ${resp.status()}`);
    const pdf = await resp.body();
    writeFileSync(join(outDir, "received.pdf"), pdf);
    log(`downloaded ${href}: ${pdf.length} bytes`);
    Object.assign(result, { docID, inID, href });
  } finally {
    writeFileSync(join(outDir, "w5.json"), JSON.stringify(result, null, 2));
    await b.close();
  }
});

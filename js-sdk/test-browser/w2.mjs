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
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const env = (k, d) => {
  const v = process.env[k];
  if (v === undefined || v === "") {
    if (d === undefined) throw new Error(`${k} is not set`);
    return d;
  }
  return v;
};
const dmsURL = env("KYSO_DMS_URL").replace(/\/$/, "");
const deniedURL = (process.env.KYSO_DMS_DENIED_URL || "").replace(/\/$/, "");
const outDir = env("KYSO_OUT_DIR");
const shots = process.env.KYSO_SCREENSHOTS || "";
const personalName = env("KYSO_CERT_PERSONAL_NAME");
const orgName = env("KYSO_CERT_ORG_NAME");
const docNumber = env("KYSO_DOC_NUMBER", "15/QĐ-UBND");
const browserPath = env("CHROMIUM", "/usr/bin/chromium");
const STEP_MS = 60_000;

const t0 = Date.now();
const log = (...a) => console.log(`[w2 +${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);

// docs/browser.md: "Testing in headless Chromium". Playwright adds
// --headless itself (headless: true) and takes the profile directory as
// launchPersistentContext's argument (it refuses --user-data-dir in args).
const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// grant gives the DMS origins the Local Network Access permission through
// CDP. loopbackNetwork is Chromium 156's name; localNetworkAccess is the
// older one. One call names both: Browser.grantPermissions replaces what
// an origin was granted (a second call with localNetworkAccess alone
// leaves loopback-network "denied"). A browser that does not know the old
// name gets loopbackNetwork alone. The session must stay attached: Chromium
// drops the grants of a CDP session when it detaches.
let cdp;
async function grant(ctx, page, origins) {
  if (!cdp) {
    const browser = ctx.browser();
    cdp = browser ? await browser.newBrowserCDPSession() : await ctx.newCDPSession(page);
  }
  for (const origin of origins) {
    try {
      await cdp.send("Browser.grantPermissions", { origin, permissions: ["loopbackNetwork", "localNetworkAccess"] });
    } catch (e) {
      log(`localNetworkAccess unknown (${e.message.split("\n")[0]}): granting loopbackNetwork to ${origin}`);
      await cdp.send("Browser.grantPermissions", { origin, permissions: ["loopbackNetwork"] });
    }
  }
}

// lnaState is what the SDK sees of the permission (connect.ts, lna()).
const lnaState = (page) =>
  page.evaluate(async () => {
    const o = {};
    for (const name of ["loopback-network", "local-network-access"]) {
      try {
        o[name] = (await navigator.permissions.query({ name })).state;
      } catch (e) {
        o[name] = "unknown";
      }
    }
    return o;
  });

// status is #status's state, code and text.
const status = (page) =>
  page.evaluate(() => {
    const s = document.querySelector("#status");
    return { state: s.dataset.state, code: s.dataset.code || "", text: s.textContent };
  });

// click presses a button of the demo (onClick in app.js: disabled while
// its work runs, #status set when it ends) and waits for the outcome.
async function click(page, sel, what) {
  await page.locator(sel).click();
  await page.waitForFunction(
    (sel) => {
      const b = document.querySelector(sel);
      const s = document.querySelector("#status").dataset.state;
      return !b.disabled && s !== "busy" && s !== "idle";
    },
    sel,
    { timeout: STEP_MS },
  );
  const st = await status(page);
  log(`${what}: ${st.state}${st.code ? " [" + st.code + "]" : ""} ${st.text}`);
  return st;
}

// mustBeGranted checks the page sees the CDP grant, so that a failure to
// connect is the agent's answer and not the browser's.
async function mustBeGranted(page, what) {
  const st = await lnaState(page);
  log(`${what}: permission ${JSON.stringify(st)}`);
  if (st["loopback-network"] !== "granted" && st["local-network-access"] !== "granted") {
    throw new Error(`${what}: the Local Network Access grant does not show: ${JSON.stringify(st)}`);
  }
}

function mustBeOK(st, what) {
  if (st.state !== "ok") {
    throw new Error(`${what}: #status data-state=${st.state} data-code=${st.code || "-"}: ${st.text}`);
  }
}

// pickCert loads the certificates (#btn-certs) and chooses the one whose
// label starts with name.
async function pickCert(page, name, what) {
  mustBeOK(await click(page, "#btn-certs", `${what}: certificates`), `${what}: certificates`);
  const opts = await page.$$eval("#cert option", (os) => os.map((o) => ({ value: o.value, label: o.textContent })));
  const hit = opts.filter((o) => o.value && o.label.startsWith(name));
  if (hit.length !== 1) {
    throw new Error(`${what}: want one certificate named ${name}, have ${JSON.stringify(opts)}`);
  }
  await page.selectOption("#cert", hit[0].value);
  log(`${what}: certificate ${hit[0].label}`);
  return hit[0].value;
}

// waitDocs waits until refresh() has filled #doc.
async function waitDocs(page) {
  await page.waitForFunction(() => {
    const o = document.querySelector("#doc option");
    return o && o.value;
  }, null, { timeout: STEP_MS });
}

function watch(page, name) {
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") log(`${name} console.${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => log(`${name} page error: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 400) log(`${name}: ${r.request().method()} ${r.url()}: ${r.status()}`);
  });
}

async function main() {
  mkdirSync(outDir, { recursive: true });
  if (shots) mkdirSync(shots, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), "kyso-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: browserPath,
    headless: true,
    args: FLAGS,
    viewport: { width: 1100, height: 900 },
    locale: "vi-VN",
    timezoneId: "Asia/Ho_Chi_Minh",
  });
  const result = { steps: {} };
  try {
    log(`chromium ${ctx.browser() ? ctx.browser().version() : "(persistent context)"}`);
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
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  }
  log("ok");
}

main().catch((e) => {
  console.error(`[w2] FAIL: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});

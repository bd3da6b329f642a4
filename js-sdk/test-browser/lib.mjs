// Helpers shared by the browser scripts other than w2.mjs (w5.mjs,
// lna.mjs, iframe.mjs): launching Chromium as docs/browser.md says, the
// Local Network Access permission through CDP, and driving the demo
// DMS's pages (app.js: buttons disabled while their work runs, #status
// with data-state and data-code when it ends). Every helper that takes a
// page also takes a Playwright Frame (the iframe test).
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const STEP_MS = 60_000;

export const env = (k, d) => {
  const v = process.env[k];
  if (v === undefined || v === "") {
    if (d === undefined) throw new Error(`${k} is not set`);
    return d;
  }
  return v;
};

const t0 = Date.now();
let tag = "browser";
export const setTag = (s) => { tag = s; };
export const log = (...a) => console.log(`[${tag} +${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);

// docs/browser.md: "Testing in headless Chromium". Playwright adds
// --headless itself and takes the profile directory as
// launchPersistentContext's argument.
export const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// launch starts Chromium with a new profile; close() ends it and removes
// the profile.
export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), "kyso-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: env("CHROMIUM", "/usr/bin/chromium"),
    headless: true,
    args: FLAGS,
    viewport: { width: 1100, height: 900 },
    locale: "vi-VN",
    timezoneId: "Asia/Ho_Chi_Minh",
  });
  log(`chromium ${ctx.browser() ? ctx.browser().version() : "(persistent context)"}`);
  return {
    ctx,
    async close() {
      await ctx.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// browserCDP is one browser-level CDP session, opened once and kept:
// Chromium drops the grants of a CDP session when it detaches.
let cdp;
async function browserCDP(ctx, page) {
  if (!cdp) {
    const browser = ctx.browser();
    cdp = browser ? await browser.newBrowserCDPSession() : await ctx.newCDPSession(page);
  }
  return cdp;
}

// grant gives origins the Local Network Access permission: one
// Browser.grantPermissions naming both names (a call replaces what the
// origin was granted before).
export async function grant(ctx, page, origins) {
  const s = await browserCDP(ctx, page);
  for (const origin of origins) {
    try {
      await s.send("Browser.grantPermissions", { origin, permissions: ["loopbackNetwork", "localNetworkAccess"] });
    } catch (e) {
      log(`localNetworkAccess unknown (${e.message.split("\n")[0]}): granting loopbackNetwork to ${origin}`);
      await s.send("Browser.grantPermissions", { origin, permissions: ["loopbackNetwork"] });
    }
  }
}

// deny sets the permission to "denied" for origin, under both names.
export async function deny(ctx, page, origin) {
  const s = await browserCDP(ctx, page);
  for (const name of ["loopback-network", "local-network-access"]) {
    try {
      await s.send("Browser.setPermission", { origin, permission: { name }, setting: "denied" });
    } catch (e) {
      log(`Browser.setPermission ${name}: ${e.message.split("\n")[0]}`);
      if (name === "loopback-network") throw e;
    }
  }
}

// lnaState is what the SDK sees of the permission (connect.ts, lna()).
export const lnaState = (page) =>
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

export const status = (page) =>
  page.evaluate(() => {
    const s = document.querySelector("#status");
    return { state: s.dataset.state, code: s.dataset.code || "", text: s.textContent };
  });

// click presses a button of the demo and waits for the outcome.
export async function click(page, sel, what) {
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

export async function mustBeGranted(page, what) {
  const st = await lnaState(page);
  log(`${what}: permission ${JSON.stringify(st)}`);
  if (st["loopback-network"] !== "granted" && st["local-network-access"] !== "granted") {
    throw new Error(`${what}: the Local Network Access grant does not show: ${JSON.stringify(st)}`);
  }
}

export function mustBeOK(st, what) {
  if (st.state !== "ok") {
    throw new Error(`${what}: #status data-state=${st.state} data-code=${st.code || "-"}: ${st.text}`);
  }
}

// mustFail checks #status reports an error with one of codes.
export function mustFail(st, codes, what) {
  if (st.state !== "error" || !codes.includes(st.code)) {
    throw new Error(`${what}: #status data-state=${st.state} data-code=${st.code || "-"}: ${st.text}; want error ${codes.join(" or ")}`);
  }
}

// certOptions lists #cert's options that name a certificate.
export const certOptions = (page) =>
  page.$$eval("#cert option", (os) => os.map((o) => ({ value: o.value, label: o.textContent })).filter((o) => o.value));

// pickCert loads the certificates (#btn-certs) and chooses the one whose
// label starts with name.
export async function pickCert(page, name, what) {
  mustBeOK(await click(page, "#btn-certs", `${what}: certificates`), `${what}: certificates`);
  const opts = await certOptions(page);
  const hit = opts.filter((o) => o.label.startsWith(name));
  if (hit.length !== 1) {
    throw new Error(`${what}: want one certificate named ${name}, have ${JSON.stringify(opts)}`);
  }
  await page.selectOption("#cert", hit[0].value);
  log(`${what}: certificate ${hit[0].label}`);
  return hit[0].value;
}

// waitDocs waits until refresh() has filled the select sel (#doc).
export async function waitDocs(page, sel = "#doc") {
  await page.waitForFunction((sel) => {
    const o = document.querySelector(sel + " option");
    return o && o.value;
  }, sel, { timeout: STEP_MS });
}

// docByName is the value of sel's option whose label contains name.
export async function docByName(page, sel, name) {
  const opts = await page.$$eval(sel + " option", (os) => os.map((o) => ({ value: o.value, label: o.textContent })));
  const hit = opts.filter((o) => o.value && o.label.includes(name));
  if (hit.length !== 1) throw new Error(`${sel}: want one document named ${name}, have ${JSON.stringify(opts)}`);
  return hit[0].value;
}

export const resultOf = (page) =>
  page.$eval("#result", (r) => ({ doc: r.dataset.doc, state: r.dataset.state }));

export function watch(page, name) {
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") log(`${name} console.${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => log(`${name} page error: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 400) log(`${name}: ${r.request().method()} ${r.url()}: ${r.status()}`);
  });
}

// run runs main, reporting a failure with exit status 1.
export function run(name, main) {
  setTag(name);
  main().then(
    () => log("ok"),
    (e) => {
      console.error(`[${name}] FAIL: ${e && e.stack ? e.stack : e}`);
      process.exit(1);
    },
  );
}

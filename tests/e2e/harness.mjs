// Shared by the end-to-end tests: the simulator process and both browsers with the built extension.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe } from "node:test";
import puppeteer from "puppeteer-core";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const DIST = { chrome: path.join(ROOT, "dist/chrome"), firefox: path.join(ROOT, "dist/firefox") };
// The store zips as `cargo xtask test` unpacked them (package.test.mjs loads these).
export const PACKAGED = { chrome: path.join(ROOT, "target/packaged/chrome"), firefox: path.join(ROOT, "target/packaged/firefox") };
export const HOST = "chat.deepseek.com";
// The API fallback's hosts, played by the same simulator (sim/src/api.rs).
export const API_HOSTS = ["api.deepseek.com", "openrouter.ai"];

// Starts the simulator on a free loopback port; resolves with {port, origin, log(run), stop()}.
export async function startSim({ logFile } = {}) {
  const args = ["--port", "0"];
  if (logFile) args.push("--log", logFile);
  const child = spawn(path.join(ROOT, "target/debug/unbusy-sim"), args, { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise((resolve, reject) => {
    let text = "";
    child.stdout.on("data", (chunk) => {
      text += chunk;
      const match = text.match(/127\.0\.0\.1:(\d+)/);
      if (match) resolve(Number(match[1]));
    });
    child.on("exit", (code) => reject(new Error(`simulator exited with ${code}`)));
  });
  const origin = `https://127.0.0.1:${port}`;
  return {
    port,
    // The request log of one run, read over loopback (certificate is self-signed).
    async log(run) {
      const { request } = await import("node:https");
      return new Promise((resolve, reject) => {
        request(`${origin}/__sim/log?run=${encodeURIComponent(run)}`, { rejectUnauthorized: false }, (res) => {
          let body = "";
          res.on("data", (c) => (body += c));
          res.on("end", () => resolve(JSON.parse(body)));
        }).on("error", reject).end();
      });
    },
    stop() { child.kill(); },
  };
}

const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--no-first-run", "--ignore-certificate-errors",
];

// Real Chromium with dist/chrome loaded; the real hostname is mapped to the simulator.
// `attachWorker: false` keeps puppeteer away from the service worker: attached, a restarted worker
// would wait for the debugger and never run (needed when a test stops the worker).
export async function launchChromium(sim, { extension = true, lang = "en-US", headless = true, attachWorker = true, alsoLoad = [], dist = DIST.chrome } = {}) {
  const profile = mkdtempSync(path.join(tmpdir(), "unbusy-chromium-"));
  const browser = await puppeteer.launch({
    executablePath: "/usr/bin/chromium",
    headless,
    pipe: true,
    userDataDir: profile,
    enableExtensions: extension === "later" ? true : extension ? [dist, ...alsoLoad] : false,
    args: [...CHROMIUM_ARGS, `--host-resolver-rules=${[HOST, ...API_HOSTS].map((host) => `MAP ${host} 127.0.0.1:${sim.port}`).join(",")}`, `--lang=${lang}`],
    env: { ...process.env, LANGUAGE: lang.replace("-", "_") },
    ...(attachWorker ? {} : { targetFilter: (target) => target.type() !== "service_worker" }),
  });
  let worker = null;
  if (extension && extension !== "later" && attachWorker) {
    const target = await browser.waitForTarget((t) => t.type() === "service_worker" && t.url().endsWith("/background.js"), { timeout: 15000 });
    // Fixture extensions have no worker; Unbusy's is the one named background.js.
    worker = await target.worker();
  }
  return {
    name: "chromium",
    browser,
    worker,
    extensionId: worker ? new URL(worker.url()).host : extension ? "unattached" : null,
    chatUrl: (query) => `https://${HOST}/?${new URLSearchParams(query)}`,
    async openExtensionPage(file) {
      const page = await browser.newPage();
      await page.goto(`chrome-extension://${this.extensionId}/${file}`, { waitUntil: "load" });
      return page;
    },
    async close() { await browser.close(); rmSync(profile, { recursive: true, force: true }); },
  };
}

// Real Firefox ESR with dist/firefox installed; every hostname resolves to loopback.
// Its extension pages are reachable by automation only with system access allowed, at an origin
// fixed here (Firefox picks a random one per profile otherwise).
const FIREFOX_EXTENSION_UUID = "5e0b1c2d-0000-4000-8000-0000000000ab";
export async function launchFirefox(sim, { extension = true, prefs = {}, dist = DIST.firefox } = {}) {
  const manifest = JSON.parse(readFileSync(path.join(dist, "manifest.json"), "utf8"));
  const browser = await puppeteer.launch({
    browser: "firefox",
    executablePath: "/usr/bin/firefox-esr",
    headless: true,
    acceptInsecureCerts: true,
    args: ["-remote-allow-system-access"],
    extraPrefsFirefox: {
      "network.dns.forceResolve": "127.0.0.1",
      "extensions.webextensions.uuids": JSON.stringify({ [manifest.browser_specific_settings.gecko.id]: FIREFOX_EXTENSION_UUID }),
      ...prefs,
    },
  });
  const addonId = extension === "later" ? null : await browser.installExtension(dist);
  return {
    name: "firefox",
    browser,
    worker: null,
    extensionId: addonId,
    chatUrl: (query) => `https://${HOST}:${sim.port}/?${new URLSearchParams(query)}`,
    // The extension page loads in another process: the navigation never reports its end (its
    // frame is detached), and the page object goes on with the new document.
    async openExtensionPage(file) {
      const page = await browser.newPage();
      page.goto(`moz-extension://${FIREFOX_EXTENSION_UUID}/${file}`).catch(() => {});
      await page.waitForFunction(() => location.protocol === "moz-extension:" && document.readyState === "complete", { timeout: 15000 });
      return page;
    },
    async close() { await browser.close(); },
  };
}

let runCounter = 0;
export function newRun(label) {
  runCounter += 1;
  return `${label}-${process.pid}-${runCounter}-${Date.now()}`;
}

// Opens the simulated chat for one run and collects the page's errors.
// XHR by default: the live page's main transport in late 2026.
export async function openChat(session, { run, scenario = "ok", transport = "xhr", users, control, crash_after_ms, measure, page }) {
  page = page || (await session.browser.newPage());
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  const extra = Object.fromEntries(Object.entries({ users, control, crash_after_ms, measure }).filter(([, v]) => v !== undefined));
  await page.goto(session.chatUrl({ run, scenario, transport, ...extra }), { waitUntil: "load" });
  return { page, errors };
}

export async function sendMessage(page, text = "Hello") {
  await page.waitForSelector("#chat-input");
  await page.focus("#chat-input");
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
}

// Waits until the newest answer is no longer streaming; returns its state ("done" or "error").
export async function answerSettled(page, timeout = 15000) {
  await page.waitForFunction(() => {
    const all = document.querySelectorAll(".msg");
    const last = all[all.length - 1];
    return last && last.dataset.state !== "streaming";
  }, { timeout });
  return page.evaluate(() => {
    const all = document.querySelectorAll(".msg");
    const last = all[all.length - 1];
    return { state: last.dataset.state, text: last.querySelector(".msg-assistant")?.textContent ?? "", messages: document.getElementById("messages").textContent };
  });
}

// The in-page status element's verdict label, waiting until it shows `expected` (or never shows).
export async function statusVerdict(page, expected, timeout = 5000) {
  try {
    await page.waitForFunction((want) => document.getElementById("unbusy-status")?.dataset.verdict === want, { timeout }, expected);
  } catch { /* fall through: report what is there */ }
  return page.evaluate(() => {
    const host = document.getElementById("unbusy-status");
    return host ? { verdict: host.dataset.verdict, hidden: host.hidden, route: host.dataset.route } : null;
  });
}

// Chromium only: the verdicts the background recorded (read inside the service worker).
export async function recordedEvents(session) {
  return session.worker.evaluate(async () => (await chrome.storage.session.get("recentEvents")).recentEvents || []);
}

export async function waitForRecorded(session, predicate, timeout = 5000) {
  const events = await pollUntil(() => recordedEvents(session), (list) => list.some(predicate), timeout);
  return { found: events.find(predicate), events };
}

// The generation requests of one run, from the simulator's log (automatic retries included).
export async function generations(sim, run) {
  return (await sim.log(run)).filter((e) => e.attempt !== null);
}

// Waits until the run has `count` generation requests (or the timeout passes); returns them.
export async function waitForGenerations(sim, run, count, timeout) {
  return pollUntil(() => generations(sim, run), (list) => list.length >= count, timeout);
}

// The banner's state as the page can see it.
export async function banner(page) {
  return page.evaluate(() => {
    const host = document.getElementById("unbusy-status");
    if (!host) return null;
    const text = host.shadowRoot ? host.shadowRoot.textContent : "";
    return { verdict: host.dataset.verdict, state: host.dataset.state, hidden: host.hidden, remainingMs: Number(host.dataset.remainingMs || 0), text };
  });
}

export async function waitForBanner(page, predicate, timeout = 8000) {
  return pollUntil(() => banner(page), (b) => b !== null && predicate(b), timeout);
}

// Presses one of the banner's buttons the way a user would (a real click).
export async function pressBanner(page, action) {
  const button = await page.waitForSelector(`#unbusy-status >>> button[data-action="${action}"]`, { visible: true, timeout: 5000 });
  await button.click();
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Reads `read()` until `done(value)` holds or `timeout` passes; returns the last value read (the
// caller asserts on it, so a failure shows what was there).
export async function pollUntil(read, done, timeout = 5000) {
  const until = Date.now() + timeout;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > until) return value;
    await sleep(100);
  }
}

// Chromium only: what the core stored about the page hooks of the tab showing `run` (the hook
// reports 1.5 s after load; the core keeps it in its persisted state). `null` until then.
export async function storedPageHooks(session, run) {
  return session.worker.evaluate(async (run) => {
    const [tab] = await chrome.tabs.query({ url: "https://chat.deepseek.com/*" }).then((tabs) => tabs.filter((t) => t.url.includes(run)));
    const { hubState } = await chrome.storage.session.get("hubState");
    return (tab && hubState?.page_hooks?.find((h) => h.tab_id === tab.id)?.hooks) ?? null;
  }, run);
}

// An English message of the extension as shown, up to its first placeholder.
const ENGLISH = JSON.parse(readFileSync(path.join(ROOT, "extension/_locales/en/messages.json"), "utf8"));
export function englishText(key) {
  if (!ENGLISH[key]) throw new Error(`no English message ${key}`);
  return ENGLISH[key].message.split("$")[0].trim();
}

// One describe block per browser, each with its own simulator and browser session in `ctx`.
export function describeInBrowsers(title, body) {
  for (const [name, launch] of [["Chromium", launchChromium], ["Firefox", launchFirefox]]) {
    describe(`${title} in ${name}`, () => {
      const ctx = {};
      before(async () => {
        ctx.sim = await startSim();
        ctx.session = await launch(ctx.sim);
      });
      after(async () => {
        await ctx.session?.close();
        ctx.sim?.stop();
      });
      body(ctx);
    });
  }
}

// A fresh simulator and browser for one test, closed whatever happens.
export async function withBrowser(launch, options, body) {
  const sim = await startSim();
  const session = await launch(sim, options);
  try {
    return await body({ sim, session });
  } finally {
    await session.close();
    sim.stop();
  }
}

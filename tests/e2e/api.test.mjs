// The API fallback (issue 13), end to end: a busy wave, retries stopped, "Ask through the API" in
// the banner, the panel (an extension page in a window of its own), Send, the answer; the error
// rows the simulator's API plays by key; the panel refusing an opening Unbusy did not make; the
// key in no storage area; "Start a new chat with this message" for a message too long.
//
// Chromium asks OpenRouter (the simulator answers it with CORS, as OpenRouter does): automation
// cannot accept Chromium's permission prompt. Firefox asks DeepSeek's API as a custom endpoint
// (its port is the simulator's), with the host permission granted by the browser itself: Firefox's
// `extensions.webextOptionalPermissionPrompts` off grants what `permissions.request` asks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";

import { generations, ROOT, launchChromium, launchFirefox, newRun, openChat, pollUntil, pressBanner, sendMessage, sleep, waitForBanner, withBrowser } from "./harness.mjs";

const ANSWER_DONE = "The answer is complete.";
const SHOTS = path.join(ROOT, "out/screenshots");
const AXE = readFileSync(path.join(ROOT, "tests/e2e/node_modules/axe-core/axe.min.js"), "utf8");
mkdirSync(SHOTS, { recursive: true });

// The panel in both themes, as `out/screenshots/panel-<lang>-<theme>.png`; axe-core's violations.
async function screenshots(panel, lang) {
  const violations = [];
  for (const theme of ["light", "dark"]) {
    await panel.emulateMediaFeatures([{ name: "prefers-color-scheme", value: theme }]);
    await panel.screenshot({ path: path.join(SHOTS, `panel-${lang}-${theme}.png`), fullPage: true });
    await panel.evaluate(AXE);
    violations.push(...(await panel.evaluate(async () => (await globalThis.axe.run(document)).violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(" ")}`))));
  }
  return violations;
}

// Saves the endpoint and `key` in the options page, as a user does. Chromium's permission prompt
// (raised by Save) stays open and holds its page: each save gets a page of its own there.
async function setUpApi(session, sim, key, preset = "openrouter", model = null) {
  const options = session.name === "chromium" ? await session.openExtensionPage("options.html") : (session.options ??= await session.openExtensionPage("options.html"));
  await options.waitForFunction(() => document.getElementById("api-key-masked").textContent !== "", { timeout: 10000 });
  if (session.name === "chromium") {
    await options.click(`input[name=preset][value=${preset}]`);
    if (model) await options.$eval("input[name=model]", (el, value) => { el.value = value; }, model);
  } else {
    await options.click("input[name=preset][value=custom]");
    await options.$eval("input[name=base]", (el, base) => { el.value = base; }, `https://api.deepseek.com:${sim.port}`);
    await options.$eval("input[name=model]", (el) => { el.value = "deepseek-chat"; });
  }
  await options.$eval("#api-result", (el) => { el.textContent = ""; });
  await options.type("input[name=key]", key);
  await options.click("#api button[type=submit]");
  const saved = () => document.getElementById("api-result").textContent.startsWith((globalThis.browser || globalThis.chrome).i18n.getMessage("apiSaved"));
  await options.waitForFunction(saved, { timeout: 5000 });
  if (session.name === "chromium") await options.close();
}

// Firefox reports the new window's target at about:blank (its extension page loads in another
// process, as in `openExtensionPage`): the new target is the panel once its document is.
// The banner opens at most one panel every 2 s (src/hub.rs, PANEL_REOPEN_MS).
let lastOpened = 0;
async function openPanel(session, page) {
  await sleep(Math.max(0, lastOpened + 2100 - Date.now()));
  lastOpened = Date.now();
  const known = new Set(session.browser.targets());
  const opened = session.browser.waitForTarget((t) => !known.has(t) && t.type() === "page", { timeout: 10000 });
  await pressBanner(page, "ask-api");
  const panel = await (await opened).page();
  await panel.waitForFunction(() => location.pathname === "/panel.html" && document.readyState === "complete", { timeout: 10000 });
  await panel.waitForFunction(() => !document.getElementById("ask").hidden || !document.getElementById("not-opened").hidden || !document.getElementById("setup").hidden, { timeout: 10000 });
  return panel;
}

// The panel's own Close button; the window may go before the click's last event is reported.
async function closePanel(panel) {
  await panel.click("#close").catch(() => {});
  await pollUntil(async () => panel.isClosed() || (await panel.evaluate(() => false).catch(() => true)), (closed) => closed, 5000);
}

async function send(panel) {
  await panel.click("#send");
  await panel.waitForFunction(() => !document.getElementById("send").disabled && document.getElementById("status").textContent !== "", { timeout: 20000 });
  return panel.$eval("#status", (el) => el.textContent);
}

// Every storage area, as one text (content scripts can read storage.local), read in `page`.
const storageText = (page) => page.evaluate(async () => {
  const api = globalThis.browser || globalThis.chrome;
  return JSON.stringify(await Promise.all(["local", "sync", "session"].map((area) => api.storage[area].get(null))));
});

const apiRequests = async (sim) => (await sim.log("default")).filter((e) => e.path.endsWith("/chat/completions") && e.method === "POST");

for (const [browserName, launch, launchOptions] of [["Chromium", launchChromium, {}], ["Firefox", launchFirefox, { prefs: { "extensions.webextOptionalPermissionPrompts": false } }]]) {
  test(`${browserName}: busy wave, retries stopped, Ask through the API, Send: the answer in the panel; every error row`, () => withBrowser(launch, launchOptions, async ({ sim, session }) => {
    await setUpApi(session, sim, "sk-ok");
    const run = newRun("api-busy");
    const { page, errors } = await openChat(session, { run, scenario: "always_busy" });
    await sendMessage(page, "Why is the sky blue?");
    await waitForBanner(page, (b) => b.state === "waiting", 10000);
    const askHidden = () => page.$eval("#unbusy-status", (host) => host.shadowRoot.querySelector("[data-action=ask-api]").hidden);
    assert.equal(await askHidden(), true, "not offered while a short wait runs");
    // After the probe, the wait runs to the last minutes before the deadline: offered then.
    await waitForBanner(page, (b) => b.state === "waiting" && b.remainingMs >= 180000, 15000);
    assert.equal(await askHidden(), false, "offered while a wait of minutes runs");
    await pressBanner(page, "stop");
    await waitForBanner(page, (b) => b.state === "stopped", 5000);
    // Retries stopped: a new chat with the message is offered too (the article's "context flush").
    assert.equal(await page.$eval("#unbusy-status", (host) => host.shadowRoot.querySelector("[data-action=new-chat]").hidden), false);

    // Retries stopped (the user's Stop): offered. The panel: the chat's last prompt, where it
    // goes, nothing sent yet.
    let panel = await openPanel(session, page);
    assert.equal(await panel.$eval("#prompt", (el) => el.value), "Why is the sky blue?");
    assert.match(await panel.$eval("#destination", (el) => el.textContent), session.name === "chromium" ? /openrouter\.ai \(model deepseek\/deepseek-chat\)/ : /api\.deepseek\.com:\d+ \(model deepseek-chat\)/);
    assert.equal((await apiRequests(sim)).length, 0, "nothing sent before Send");
    await panel.$eval("#prompt", (el) => { el.value += " Answer briefly."; });
    assert.equal(await send(panel), ANSWER_DONE);
    const [request] = await apiRequests(sim);
    assert.equal(request.messages, 1, "only the one prompt");
    assert.equal(request.fixture, "api:sk-ok");
    // Markdown as DOM nodes; the link kept safe; usage shown.
    assert.equal(await panel.$eval("#answer strong", (el) => el.textContent), "the answer");
    assert.equal(await panel.$$eval("#answer li", (els) => els.length), 2);
    assert.deepEqual(await panel.$eval("#answer a", (a) => [a.getAttribute("href"), a.rel]), ["https://api-docs.deepseek.com/", "noopener noreferrer"]);
    assert.match(await panel.$eval("#usage", (el) => el.textContent), /9 for the message, 21 for the answer/);
    assert.equal(await panel.$eval("#copy", (el) => el.disabled), false);
    if (session.name === "chromium") assert.deepEqual(await screenshots(panel, "en"), []);
    await closePanel(panel);

    // Error rows, each from its key: what happened and what to do; a transient one is sent again
    // (before any token) within the cap, waiting at least 2 s, then 4 s (the simulator's log); a
    // request queued behind keep-alives is answered.
    for (const [key, said, attempts] of [["sk-bad", /refused the key\./, 1], ["sk-broke", /balance is used up \(402\)/, 1], ["sk-busy", /overloaded too\./, 3], ["sk-starved", /ran out of capacity[^]*billed/, 1], ["sk-cut", /connection dropped[^]*billed/, 1], ["sk-queue", /^The answer is complete\.$/, 1]]) {
      await setUpApi(session, sim, key);
      const before = (await apiRequests(sim)).length;
      panel = await openPanel(session, page);
      const row = await send(panel);
      assert.match(row, said, `${key}: ${row}`);
      const sent = (await apiRequests(sim)).slice(before);
      assert.equal(sent.length, attempts, `${key}: attempts`);
      sent.slice(1).forEach((entry, i) => assert.ok(entry.at_ms - sent[i].at_ms >= 2000 * 2 ** i, `${key}: waited ${entry.at_ms - sent[i].at_ms} ms`));
      assert.equal(await panel.$eval("#again", (el) => el.hidden), key === "sk-queue", `${key}: try again is offered after a failure`);
      await closePanel(panel);
    }

    if (session.name === "chromium") {
      // DeepSeek's API refuses browsers (no CORS): without the host permission, the panel says
      // so and offers to ask for it (the prompt itself cannot be accepted under automation).
      await setUpApi(session, sim, "sk-ok", "deepseek");
      panel = await openPanel(session, page);
      assert.match(await send(panel), /could not reach https:\/\/api\.deepseek\.com\./);
      assert.equal(await panel.$eval("#allow", (el) => el.hidden), false);
      await closePanel(panel);
    }

    // An opening Unbusy did not make (the page cannot load the panel; this is the nearest: the
    // panel's address without its token, or with a used one) shows nothing and sends nothing.
    const before = (await apiRequests(sim)).length;
    for (const address of ["panel.html", "panel.html#forged-token"]) {
      const forged = await session.openExtensionPage(address);
      await forged.waitForFunction(() => !document.getElementById("not-opened").hidden, { timeout: 5000 });
      assert.equal(await forged.$eval("#ask", (el) => el.hidden), true);
      await forged.close();
    }
    assert.equal((await apiRequests(sim)).length, before);

    // The key is in no storage area (content scripts can read storage.local).
    const reader = await session.openExtensionPage("popup.html");
    const stored = await storageText(reader);
    for (const key of ["sk-ok", "sk-bad", "sk-broke", "sk-busy", "sk-starved", "sk-cut", "sk-queue"]) assert.ok(!stored.includes(key), `${key} in storage`);
    assert.equal((await generations(sim, run)).length >= 1, true);
    assert.deepEqual(errors, []);
  }));

  test(`${browserName}: a message too long: the banner starts a new chat with it, and the user sends it`, () => withBrowser(launch, {}, async ({ sim, session }) => {
    const run = newRun("api-new-chat");
    const { page, errors } = await openChat(session, { run, scenario: "gen3_too_long" });
    await sendMessage(page, "A very long question");
    await waitForBanner(page, (b) => b.state === "explained", 10000);
    // The page unhides "Ask through the API" (the shadow root is open) and the user clicks it:
    // the view makes no such offer, so no panel opens.
    await page.evaluate(() => { document.getElementById("unbusy-status").shadowRoot.querySelector("[data-action=ask-api]").hidden = false; });
    const windows = session.browser.targets().length;
    await pressBanner(page, "ask-api");
    await sleep(1000);
    assert.equal(session.browser.targets().length, windows, "no panel for an offer the view did not make");
    await pressBanner(page, "new-chat");
    await page.waitForFunction(() => document.getElementById("chat-input").value === "A very long question" && !document.querySelector(".ds-message"), { timeout: 5000 });
    assert.equal(await page.evaluate(() => location.pathname), "/", "a new chat");
    await sleep(500);
    assert.equal((await generations(sim, run)).length, 1, "Unbusy never sends a chat message");
    assert.deepEqual(errors, []);
  }));
}

// The popup's own "Ask through the API" (on demand, for the chat used last), the reasoner's
// reasoning collapsed, and the panel in Simplified Chinese. Chromium: Firefox keeps the
// browser action's popup from automation (the popup's page is opened in a tab, as elsewhere).
test("Chromium, Simplified Chinese: the popup's Ask through the API; the reasoning collapsed; screenshots", () => withBrowser(launchChromium, { lang: "zh-CN" }, async ({ sim, session }) => {
  await setUpApi(session, sim, "sk-ok", "openrouter", "deepseek/deepseek-r1");
  const { page, errors } = await openChat(session, { run: newRun("api-popup"), scenario: "ok" });
  await sendMessage(page, "天空为什么是蓝色的？");
  await page.waitForFunction(() => document.querySelector(".msg")?.dataset.state === "done", { timeout: 15000 });
  const popup = await session.openExtensionPage("popup.html");
  const known = new Set(session.browser.targets());
  const opened = session.browser.waitForTarget((t) => !known.has(t) && t.type() === "page", { timeout: 10000 });
  await popup.click("#ask-api");
  const panel = await (await opened).page();
  await panel.waitForFunction(() => document.getElementById("prompt")?.value === "天空为什么是蓝色的？", { timeout: 10000 });
  assert.match(await panel.$eval("h1", (el) => el.textContent), /[\u4e00-\u9fff]/);
  await panel.click("#send");
  await panel.waitForFunction(() => document.getElementById("copy").disabled === false, { timeout: 15000 });
  assert.deepEqual(await panel.$eval("#reasoning-box", (el) => [el.hidden, el.open, el.textContent.includes("The user asks something simple.")]), [false, false, true], "shown, collapsed");
  assert.deepEqual(await screenshots(panel, "zh_CN"), []);
  assert.deepEqual(errors, []);
}));

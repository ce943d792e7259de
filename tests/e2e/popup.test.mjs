// The popup and options pages, in Chromium (Firefox keeps extension pages away from automation,
// see platform-notes): conflicts found from the page, planted cookies flagged and cleared (and
// nothing on another site), screenshots in both themes and both languages, axe-core.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { answerSettled, launchChromium, newRun, openChat, pollUntil, ROOT, sendMessage, startSim, storedPageHooks, waitForBanner, withBrowser } from "./harness.mjs";

const FIXTURE = path.join(ROOT, "tests/e2e/fixtures/other-helper");
const SHOTS = path.join(ROOT, "out/screenshots");
const AXE = readFileSync(path.join(ROOT, "tests/e2e/node_modules/axe-core/axe.min.js"), "utf8");
mkdirSync(SHOTS, { recursive: true });

async function openPopup(session, { dark = false } = {}) {
  const page = await session.browser.newPage();
  await page.setViewport({ width: 440, height: 900 });
  await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: dark ? "dark" : "light" }]);
  await page.goto(`chrome-extension://${session.extensionId}/popup.html`, { waitUntil: "load" });
  await page.waitForFunction(() => document.querySelectorAll("#fixes li, #more-fixes li").length > 0, { timeout: 10000 });
  return page;
}

// Answers (busy ones retried until answered) for the history the busy-by-hour chart draws: an
// hour is drawn from its third answer on. Few: the site allows 6 requests a minute, Unbusy keeps 2 spare.
async function answers(session, scenarios) {
  for (const scenario of scenarios) {
    const { page } = await openChat(session, { run: newRun("history"), scenario });
    await sendMessage(page);
    await page.waitForFunction(() => document.querySelector(".msg")?.dataset.state === "done", { timeout: 20000 });
    await page.close();
  }
}

async function chartDrawn(popup) {
  await popup.waitForFunction(() => !document.getElementById("chart-box").hidden && document.querySelector("#chart .bar[data-known=true]"), { timeout: 10000 });
  return popup.$eval("#chart", (el) => el.getAttribute("aria-label"));
}

const findingIds = (page) => page.$$eval("#findings li", (items) => items.map((li) => li.dataset.id));

async function axe(page) {
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations.map((v) => `${v.id}: ${v.nodes.length}`));
  return result;
}

describe("popup in Chromium", () => {
  let sim;
  let session;
  before(async () => {
    sim = await startSim();
    session = await launchChromium(sim, { alsoLoad: [FIXTURE] });
  });
  after(async () => {
    await session?.close();
    sim?.stop();
  });

  test("another helper wrapping fetch after Unbusy is named, with a busy verdict and ranked fixes", async () => {
    const run = newRun("popup");
    const { page } = await openChat(session, { run, scenario: "gen3_busy_expert,gen3_ok" });
    await sendMessage(page);
    await answerSettled(page);
    const waiting = await waitForBanner(page, (b) => b.state === "waiting");
    assert.match(waiting.text, /Instant mode may help/, "the banner suggests Instant mode for the expert model");
    // Unbusy retries the expert-busy answer; by then the page has made three JSON requests,
    // enough for the connection check, and the hook has reported other hooks (1.5 s after load).
    await page.waitForFunction(() => document.querySelector(".msg")?.dataset.state === "done", { timeout: 15000 });
    const popup = await openPopup(session);
    const ids = await findingIds(popup);
    assert.ok(ids.includes("page-hook:fetch"), `findings: ${ids}`);
    assert.ok(ids.includes("marker:deepseek-pp.fetch-hook-installed"), `findings: ${ids}`);
    const text = await popup.$eval("#findings", (el) => el.textContent);
    assert.match(text, /DeepSeek\+\+ may interfere/);
    const fixes = await popup.$$eval("#fixes li", (items) => items.map((li) => li.dataset.id));
    const unlikely = await popup.$$eval("#more-fixes li", (items) => items.map((li) => li.dataset.id));
    assert.equal(fixes.length + unlikely.length, 16, "every fix of the article, the filter-list and log-in fixes included");
    assert.ok([...fixes, ...unlikely].includes("connection_measured"), "measured from the page's own requests");
    assert.ok(!ids.includes("login-missing"), "the simulated user is logged in");
    assert.ok(fixes.includes("instant_mode"), `likely fixes: ${fixes}`);
    assert.ok(unlikely.includes("dns_flush"), `unlikely fixes: ${unlikely}`);
    // The answer came after a retry; what still stands out is the other helper.
    assert.match(await popup.$eval("#glance-text", (el) => el.textContent), /may get in DeepSeek's way/);
    // In words: the busy answer and the retry that got the answer, one line; raw labels only in the report.
    const events = await popup.$eval("#events", (el) => el.textContent);
    assert.match(events, /Busy \(expert model\) — retried 1×, answered after \d+ s/);
    assert.doesNotMatch(events, /busy:expert_busy_use_default|Answered/, "no raw label, no separate line for the answer");
    assert.doesNotMatch(events, /nrecognised/, "normal JSON answers are not events");
    await popup.close();
    await page.close();
  });

  test("a logged-out chat page is noticed from the token's presence alone", async () => {
    const run = newRun("logged-out");
    const { page } = await openChat(session, { run, scenario: "ok", users: "route_users_current_expired" });
    // The hook reports the login token's presence (never its value) 1.5 s after load.
    const hooks = await pollUntil(() => storedPageHooks(session, run), (h) => h !== null, 8000);
    assert.equal(hooks?.login_token, false, JSON.stringify(hooks));
    const popup = await openPopup(session);
    assert.ok((await findingIds(popup)).includes("login-missing"));
    assert.match(await popup.$eval("#findings", (el) => el.textContent), /logged out/);
    // The headline names the expired login; the first fix answers it.
    assert.match(await popup.$eval("#glance-text", (el) => el.textContent), /login has expired/);
    assert.equal(await popup.$eval("#fixes li", (li) => li.dataset.id), "log_in");
    assert.equal((await popup.$$('button[data-action="check_extensions"]')).length, 1, "Check my extensions, once");
    await popup.close();
    await page.close();
  });

  test("screenshots in both themes, with the busy-by-hour chart; axe-core finds no violations on popup and options", async () => {
    // With the first test's busy and answered messages, the third answer of this hour.
    await answers(session, ["ok"]);
    for (const dark of [false, true]) {
      const popup = await openPopup(session, { dark });
      assert.match(await chartDrawn(popup), /^(\d+:00 \d+%)(, \d+:00 \d+%)*$/, "the drawn hours, for screen readers");
      await popup.screenshot({ path: path.join(SHOTS, `popup-en-${dark ? "dark" : "light"}.png`), fullPage: true });
      assert.deepEqual(await axe(popup), [], `popup (${dark ? "dark" : "light"})`);
      await popup.close();
    }
    const options = await session.browser.newPage();
    await options.goto(`chrome-extension://${session.extensionId}/options.html`, { waitUntil: "load" });
    await options.waitForFunction(() => document.querySelector("input[name=max_attempts]").value !== "");
    await options.waitForFunction(() => document.getElementById("api-key-masked").textContent !== "");
    await options.setViewport({ width: 640, height: 900 });
    await options.screenshot({ path: path.join(SHOTS, "options-en-light.png"), fullPage: true });
    assert.deepEqual(await axe(options), [], "options");
    await options.close();
  });

  test("planted duplicate and oversize cookies are flagged, and the clear button removes them and nothing elsewhere", async () => {
    const big = "x".repeat(3900);
    await session.browser.setCookie(
      { name: "ds_session_id", value: "a", domain: ".deepseek.com", path: "/", secure: true },
      { name: "ds_session_id", value: "b", domain: "chat.deepseek.com", path: "/", secure: true },
      { name: "big_one", value: big, domain: "chat.deepseek.com", path: "/", secure: true },
      { name: "big_two", value: big, domain: ".deepseek.com", path: "/", secure: true },
      { name: "keep_me", value: "1", domain: "example.org", path: "/", secure: true },
    );
    const popup = await openPopup(session);
    const ids = await findingIds(popup);
    for (const id of ["cookie-duplicate:ds_session_id", "cookie-oversize:big_one|chat.deepseek.com|/", "cookie-header-size"]) {
      assert.ok(ids.includes(id), `${id} in ${ids}`);
    }
    const clear = await popup.waitForSelector('#findings li[data-id="cookie-header-size"] button[data-action="clear_site_data"]');
    await clear.click();
    await popup.waitForSelector("#clear-dialog[open]");
    assert.match(await popup.$eval("#clear-text", (el) => el.textContent), /all of deepseek\.com.*log in to DeepSeek again/s);
    await (await popup.$("#clear-confirm")).click();
    await popup.waitForFunction(() => document.getElementById("notice").textContent.includes("cleared"), { timeout: 10000 });
    const left = (await session.browser.cookies()).map((c) => `${c.name}@${c.domain}`);
    assert.ok(!left.some((c) => c.includes("deepseek.com")), `left: ${left}`);
    assert.ok(left.includes("keep_me@example.org"), `left: ${left}`);
    await popup.close();
  });

});

describe("popup in Simplified Chinese (Chromium)", () => {
  test("screenshots in both themes", async () => {
    await withBrowser(launchChromium, { lang: "zh-CN" }, async ({ sim, session }) => {
      await answers(session, ["gen3_busy_expert,gen3_ok", "ok"]);
      for (const dark of [false, true]) {
        const popup = await openPopup(session, { dark });
        await chartDrawn(popup);
        const title = await popup.$eval("h2", (el) => el.textContent);
        assert.match(title, /[\u4e00-\u9fff]/, `Chinese heading, got ${title}`);
        await popup.screenshot({ path: path.join(SHOTS, `popup-zh_CN-${dark ? "dark" : "light"}.png`), fullPage: true });
        await popup.close();
      }
    });
  });
});

describe("options in Chromium", () => {
  test("bad values are rejected with a message and never saved; good ones apply without reload", async () => {
    await withBrowser(launchChromium, {}, async ({ sim, session }) => {
      const page = await session.browser.newPage();
      await page.goto(`chrome-extension://${session.extensionId}/options.html`, { waitUntil: "load" });
      await page.waitForFunction(() => document.querySelector("input[name=max_attempts]").value === "20");
      await page.$eval("input[name=max_attempts]", (el) => { el.value = "60"; el.dispatchEvent(new Event("change", { bubbles: true })); });
      await page.waitForFunction(() => document.getElementById("result").textContent.includes("max_attempts"));
      assert.equal(await page.$eval("input[name=max_attempts]", (el) => el.value), "20", "the form shows the saved value again");
      assert.equal((await session.worker.evaluate(() => chrome.storage.sync.get("settings"))).settings, undefined, "nothing saved");
      await page.click("input[name=auto_retry]");
      await page.waitForFunction(() => document.getElementById("result").textContent === "Saved.");
      assert.equal((await session.worker.evaluate(() => chrome.storage.sync.get("settings"))).settings.auto_retry, false);
      // Applied at once: a busy answer now gets no countdown.
      const run = newRun("options");
      const { page: chat } = await openChat(session, { run, scenario: "always_busy" });
      await sendMessage(chat);
      await chat.waitForFunction(() => document.getElementById("unbusy-status")?.dataset.state === "stopped", { timeout: 8000 });
      assert.match(await chat.evaluate(() => document.getElementById("unbusy-status").shadowRoot.textContent), /Automatic retry is off/);
    });
  });
});

// The popup and options pages as a user meets them, in both browsers: a waiting tab's countdown
// ticks and the view follows the retries while the popup stays open; recent events read in words;
// every control is reached by Tab in reading order and works from the keyboard; the API key (issue
// 13) stays in the extension's own database, masked, bound to its endpoint's origin, removable.
import { test } from "node:test";
import assert from "node:assert/strict";
import { describeInBrowsers, newRun, openChat, pollUntil, sendMessage, sleep, waitForBanner } from "./harness.mjs";

// A control's name in the page: its id or field name, or its card and action, or its place.
const KEY = "(el) => el.id || el.name || (el.dataset.action ? `${el.closest('li[data-id]')?.dataset.id}/${el.dataset.action}` : `${el.closest('[id]')?.id}:${el.tagName}`)";
// The controls a Tab press can reach, in document order (the reading order): one stop per radio group.
const REACHABLE = `[...document.querySelectorAll("a[href], button, summary, input")]
  .filter((el) => el.checkVisibility() && !el.disabled && (el.type !== "radio" || el.checked)).map(${KEY})`;

// Where Tab goes, press by press, from the page's heading (a click there starts the sequence).
async function tabOrder(page, count) {
  await page.click("h1");
  const visited = [];
  for (let i = 0; i < count; i += 1) {
    await page.keyboard.press("Tab");
    visited.push(await page.evaluate(`(${KEY})(document.activeElement)`));
  }
  return visited;
}

const retryLine = (page) => page.evaluate(() => document.querySelector("#retries li")?.textContent ?? "");

describeInBrowsers("extension pages", (ctx) => {
  test("a waiting tab's countdown ticks in the open popup, which follows the next attempt by itself", async () => {
    const run = newRun("countdown");
    const { page } = await openChat(ctx.session, { run, scenario: "always_busy" });
    await sendMessage(page);
    await waitForBanner(page, (b) => b.state === "waiting");
    const popup = await ctx.session.openExtensionPage("popup.html");
    await popup.evaluate(() => { window.sameDocument = true; });
    // "Tab 3: attempt 1 in 4 s", read every 250 ms: the seconds fall without a reload.
    const seen = new Map();
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      const match = /attempt (\d+) in (\d+) s/.exec(await retryLine(popup));
      if (match) seen.set(match[0], [Number(match[1]), Number(match[2])]);
      await sleep(250);
    }
    const readings = [...seen.values()];
    const ticked = readings.some(([attempt, s]) => readings.some(([a2, s2]) => a2 === attempt && s2 < s));
    assert.ok(ticked, `countdown readings: ${JSON.stringify(readings)}`);
    // The first retry happens; the popup shows the second attempt's countdown unasked.
    const next = await pollUntil(() => retryLine(popup), (line) => /attempt 2 in \d+ s/.test(line), 20000);
    assert.match(next, /attempt 2 in \d+ s/);
    assert.equal(await popup.evaluate(() => window.sameDocument), true, "the same document, never reloaded");
    await popup.close();
    await page.close();
  });

  test("recent events in words, each fix once, and every popup control by keyboard in reading order", async () => {
    const run = newRun("keyboard");
    const { page } = await openChat(ctx.session, { run, scenario: "gen3_busy_expert,gen3_ok" });
    await sendMessage(page);
    await page.waitForFunction(() => document.querySelector(".msg")?.dataset.state === "done", { timeout: 20000 });
    const popup = await ctx.session.openExtensionPage("popup.html");
    await popup.waitForFunction(() => /answered after/.test(document.getElementById("events").textContent), { timeout: 10000 });
    assert.match(await popup.$eval("#events", (el) => el.textContent), /Busy \(expert model\) — retried 1×, answered after \d+ s/);
    assert.equal((await popup.$$('button[data-action="check_extensions"]')).length, 1, "Check my extensions, once");

    const expected = await popup.evaluate(REACHABLE);
    assert.ok(expected.includes("pause-button") && expected.includes("copy-report") && expected.includes("options"), JSON.stringify(expected));
    assert.deepEqual(await tabOrder(popup, expected.length), expected);

    // Enter opens the unlikely fixes, whose buttons then join the order.
    await popup.focus("#more-fixes-box summary");
    await popup.keyboard.press("Enter");
    assert.equal(await popup.$eval("#more-fixes-box", (el) => el.open), true);
    const opened = await popup.evaluate(REACHABLE);
    assert.ok(opened.length > expected.length, "the opened list's buttons are reachable");
    assert.deepEqual(await tabOrder(popup, opened.length), opened);

    // Pause and resume from the keyboard.
    await popup.focus("#pause-button");
    await popup.keyboard.press("Enter");
    await popup.waitForFunction(() => /Paused until/.test(document.getElementById("pause-text").textContent), { timeout: 5000 });
    await popup.focus("#pause-button");
    await popup.keyboard.press(" ");
    await popup.waitForFunction(() => document.getElementById("pause-text").textContent === "", { timeout: 5000 });
    await popup.close();
    await page.close();
  });

  test("every options control by keyboard in reading order; Space saves the switch", async () => {
    const options = await ctx.session.openExtensionPage("options.html");
    await options.waitForFunction(() => document.querySelector("input[name=max_attempts]")?.value !== "", { timeout: 10000 });
    await options.waitForFunction(() => document.getElementById("api-key-masked").textContent !== "", { timeout: 10000 });
    const expected = await options.evaluate(REACHABLE);
    // The API section's "Remove key" is disabled while no key is stored.
    assert.deepEqual(expected, ["auto_retry", "max_attempts", "deadline_minutes", "delay_scale", "hidden_tabs", "notify", "preset", "base", "model", "key", "api:BUTTON"]);
    assert.deepEqual(await tabOrder(options, expected.length), expected);
    assert.deepEqual(await options.$eval("input[name=max_attempts]", (el) => [el.min, el.max]), ["1", "20"], "the core's limits");
    await options.focus("input[name=auto_retry]");
    await options.keyboard.press(" ");
    await options.waitForFunction(() => document.getElementById("result").textContent === "Saved.", { timeout: 5000 });
    assert.equal(await options.$eval("input[name=auto_retry]", (el) => el.checked), false);
    await options.focus("input[name=auto_retry]");
    await options.keyboard.press(" ");
    await options.waitForFunction(() => document.querySelector("input[name=auto_retry]").checked, { timeout: 5000 });
    await options.close();
  });

  test("the API key stays in the extension's own database, masked, bound to its endpoint, removable", async () => {
    const KEY = "sk-e2e-0123456789abcdef";
    let options = await ctx.session.openExtensionPage("options.html");
    const masked = () => options.$eval("#api-key-masked", (el) => el.textContent);
    const said = () => options.$eval("#api-result", (el) => el.textContent);
    // Everything storage.* holds (content scripts can read storage.local), and the key record.
    const stored = () => options.evaluate(async () => {
      const api = globalThis.browser || globalThis.chrome;
      const areas = await Promise.all(["local", "sync", "session"].map((area) => api.storage[area].get(null)));
      const record = await new Promise((resolve) => {
        const open = indexedDB.open("unbusy", 1);
        open.onupgradeneeded = () => open.result.createObjectStore("secrets");
        open.onsuccess = () => {
          const get = open.result.transaction("secrets").objectStore("secrets").get("apiKey");
          get.onsuccess = () => { resolve(get.result ?? null); open.result.close(); };
        };
      });
      return { storage: JSON.stringify(areas), endpoint: areas[1].apiEndpoint, record };
    });
    const save = async () => {
      await options.$eval("#api-result", (el) => { el.textContent = ""; });
      await options.click("#api button[type=submit]");
      await options.waitForFunction(() => document.getElementById("api-result").textContent !== "", { timeout: 5000 });
    };
    await options.waitForFunction(() => document.getElementById("api-key-masked").textContent === "none", { timeout: 10000 });
    assert.equal(await options.$eval("input[name=base]", (el) => el.value), "https://api.deepseek.com", "the default endpoint");

    await options.type("input[name=key]", KEY);
    await save();
    assert.match(await said(), /^Saved\./);
    assert.equal(await masked(), "••••••••cdef");
    assert.equal(await options.$eval("input[name=key]", (el) => el.value), "", "the typed key leaves the field");
    // The host permission's prompt stays open under automation in both browsers: saving does not wait for it.
    let { storage, endpoint, record } = await stored();
    assert.deepEqual(record, { origin: "https://api.deepseek.com", key: KEY });
    assert.ok(!storage.includes(KEY) && !storage.includes("0123456789abcdef"), "no storage area holds the key");
    assert.deepEqual(endpoint, { preset: "deepseek", base: "https://api.deepseek.com", model: "deepseek-chat" }, "the endpoint is a synced setting");

    // Shown again in a new options page, still masked.
    await options.close();
    options = await ctx.session.openExtensionPage("options.html");
    await options.waitForFunction(() => document.getElementById("api-key-masked").textContent === "••••••••cdef", { timeout: 10000 });

    // A damaged or forged endpoint in synced storage is not shown, and costs no key.
    await options.evaluate(() => (globalThis.browser || globalThis.chrome).storage.sync.set({ apiEndpoint: { preset: "deepseek", base: "https://evil.example", model: "deepseek-chat" } }));
    await options.close();
    options = await ctx.session.openExtensionPage("options.html");
    await options.waitForFunction(() => document.getElementById("api-key-masked").textContent === "••••••••cdef", { timeout: 10000 });
    assert.equal(await options.$eval("input[name=base]", (el) => el.value), "https://api.deepseek.com");
    assert.equal((await stored()).record.key, KEY);

    // Not an https address: refused, nothing changes.
    await options.click("input[name=preset][value=custom]");
    await options.$eval("input[name=base]", (el) => { el.value = "http://llm.example.org/v1"; });
    await save();
    assert.equal(await said(), "The base URL must start with https://.");
    assert.equal((await stored()).record.key, KEY);

    // Another origin: the key was entered for DeepSeek's, so it is removed.
    await options.$eval("input[name=base]", (el) => { el.value = "https://llm.example.org/v1"; });
    await options.$eval("input[name=model]", (el) => { el.value = "local-model"; });
    await save();
    assert.equal(await masked(), "none");
    ({ endpoint, record } = await stored());
    assert.equal(record, null, "a key is bound to the origin it was entered for");
    assert.deepEqual(endpoint, { preset: "custom", base: "https://llm.example.org/v1", model: "local-model" });

    // A key for the custom endpoint, then removed with one click.
    await options.type("input[name=key]", "custom-key-42-abcdefgh");
    await save();
    assert.equal(await masked(), "••••••••efgh");
    await options.click("#api-key-remove");
    await options.waitForFunction(() => document.getElementById("api-key-masked").textContent === "none", { timeout: 5000 });
    assert.equal((await stored()).record, null);
    await options.close();
  });
});

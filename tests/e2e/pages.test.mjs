// The popup and options pages as a user meets them, in both browsers: a waiting tab's countdown
// ticks and the view follows the retries while the popup stays open; recent events read in words;
// every control is reached by Tab in reading order and works from the keyboard.
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
    const expected = await options.evaluate(REACHABLE);
    assert.deepEqual(expected, ["auto_retry", "max_attempts", "deadline_minutes", "delay_scale", "hidden_tabs", "notify"]);
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
});

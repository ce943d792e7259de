// The relay only acts on the core's word: a dropped stream is regenerated once at most and never
// with auto-retry off (set in the options page); a press is due but the failed answer is not in the page (a virtualised list
// scrolled away from it): no click, and the banner says why. Fresh profile per test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generations, launchChromium, launchFirefox, newRun, openChat, sendMessage, sleep, waitForBanner, waitForGenerations, withBrowser } from "./harness.mjs";

const answerDone = (page, count) =>
  page.waitForFunction((n) => [...document.querySelectorAll(".msg")].filter((m) => m.dataset.state === "done").length >= n, { timeout: 20000 }, count);

for (const [browserName, launch] of [["Chromium", launchChromium], ["Firefox", launchFirefox]]) {
  test(`${browserName}: a stream that never ends properly is regenerated once, never twice`, () => withBrowser(launch, {}, async ({ sim, session }) => {
    const run = newRun("dropped");
    const { page, errors } = await openChat(session, { run, scenario: "always_dropped" });
    await sendMessage(page);
    await waitForGenerations(sim, run, 2, 25000);
    const stopped = await waitForBanner(page, (b) => b.state === "stopped", 10000);
    assert.equal(stopped?.verdict, "dropped", JSON.stringify(stopped));
    await sleep(6000); // a second regeneration would come after the page's grace (15 s) at the earliest: none may
    const list = await generations(sim, run);
    assert.equal(list.length, 2, "the first request and one regeneration");
    assert.ok(list[1].at_ms - list[0].at_ms >= 15000, `the page got its grace to resume: ${list[1].at_ms - list[0].at_ms} ms`);
    assert.deepEqual(errors, []);
  }));

  test(`${browserName}: the failed answer scrolled out of a virtualised list: no click, the banner says why`, () => withBrowser(launch, {}, async ({ sim, session }) => {
    const run = newRun("virtual");
    const { page, errors } = await openChat(session, { run, scenario: "ok_then_busy" });
    await sendMessage(page, "one");
    await answerDone(page, 1);
    await sendMessage(page, "two");
    await waitForBanner(page, (b) => b.state === "waiting");
    // The newest messages leave the DOM; the last one left is the first answer, with its own regenerate icon.
    await page.click("#older");
    const stopped = await waitForBanner(page, (b) => b.state === "stopped", 10000);
    assert.match(stopped?.text ?? "", /not on screen/, JSON.stringify(stopped));
    await sleep(1000);
    assert.equal((await generations(sim, run)).length, 2, "no regeneration of the answer on screen");
    assert.deepEqual(errors, []);
  }));

  // "Pause Unbusy for an hour" in the popup: a busy answer is shown, not retried; "Resume now"
  // and the next busy answer is retried again.
  test(`${browserName}: paused from the popup: no automatic click until resumed`, () => withBrowser(launch, {}, async ({ sim, session }) => {
    const popup = await session.openExtensionPage("popup.html");
    await popup.waitForFunction(() => document.getElementById("pause-button").textContent !== "");
    await popup.click("#pause-button");
    await popup.waitForFunction(() => /Paused until/.test(document.getElementById("pause-text").textContent));
    const run = newRun("paused");
    const { page, errors } = await openChat(session, { run, scenario: "always_busy" });
    await sendMessage(page, "one");
    const stopped = await waitForBanner(page, (b) => b.state === "stopped", 10000);
    assert.match(stopped?.text ?? "", /Unbusy is paused.*Paused until/s, JSON.stringify(stopped));
    await sleep(7000); // past the first retry's delay (5 s ± 20 %)
    assert.equal((await generations(sim, run)).length, 1, "no regeneration while paused");
    // A background tab paints nothing, and a click waits for a paint: the popup's tab comes first.
    await popup.bringToFront();
    await popup.click("#pause-button");
    await popup.waitForFunction(() => document.getElementById("pause-text").textContent === "");
    await popup.close();
    await page.bringToFront();
    await sendMessage(page, "two");
    await waitForGenerations(sim, run, 3, 15000);
    assert.deepEqual((await generations(sim, run)).map((e) => e.path).slice(1), ["/api/v0/chat/completion", "/api/v0/chat/regenerate"]);
    assert.deepEqual(errors, []);
  }));

  // The user's path: the options page's checkbox, then a stream that never ends properly.
  test(`${browserName}: auto-retry off: a dropped stream is never regenerated`, () => withBrowser(launch, {}, async ({ sim, session }) => {
    const options = await session.openExtensionPage("options.html");
    await options.waitForFunction(() => document.querySelector("input[name=auto_retry]")?.checked === true);
    await options.click("input[name=auto_retry]");
    await options.waitForFunction(() => document.getElementById("result").textContent !== "");
    assert.equal(await options.evaluate(() => document.getElementById("result").textContent), "Saved.");
    await options.close();
    const run = newRun("dropped-off");
    const { page, errors } = await openChat(session, { run, scenario: "always_dropped" });
    await sendMessage(page);
    const stopped = await waitForBanner(page, (b) => b.state === "stopped", 10000);
    assert.match(stopped?.text ?? "", /Automatic retry is off/, JSON.stringify(stopped));
    await sleep(21000); // past the page's grace (15 s) and the background's backstop (+5 s)
    assert.equal((await generations(sim, run)).length, 1, "no regeneration");
    assert.deepEqual(errors, []);
  }));
}

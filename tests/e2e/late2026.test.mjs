// The site as it is in late 2026 (shared protocol notes, "Late-2026 observations"), end to end in
// Chromium and Firefox over XHR (the live page's transport): every form of the retry control, the
// Continue path for cut answers, silent time-outs, and DeepSeek's own crash screen. Each test gets
// a fresh browser profile, so the shared retry budget of one test never delays another's retry.
import { test } from "node:test";
import assert from "node:assert/strict";
import { answerSettled, banner, generations, launchChromium, launchFirefox, newRun, openChat, sendMessage, waitForBanner, withBrowser } from "./harness.mjs";

// Policy figures (src/retry.rs): busy envelope 5 s ± 20 %, floor 4 s; a cut answer waits at least
// incomplete_grace_ms (5 s) for the page's own auto-resume. Slack covers the page's round trips.
const SLACK_MS = 2500;
const gaps = (list) => list.slice(1).map((e, i) => e.at_ms - list[i].at_ms);
const answerDone = (page) => page.waitForFunction(() => document.querySelector(".msg")?.dataset.state === "done", { timeout: 20000 });

for (const [browserName, launch] of [["Chromium", launchChromium], ["Firefox", launchFirefox]]) {
  // The live page puts the id on a shape inside the icon's svg ("shape", the simulator's default);
  // older pages put it on the svg itself; an aria-label form is kept in the locator table too.
  const FORMS = { shape: "its id on a shape inside the svg (live site)", svg: "its id on the svg", label: "an aria-label only" };
  for (const [control, form] of Object.entries(FORMS)) {
    test(`${browserName}: the retry control with ${form} is found in the last answer and pressed once`, () => withBrowser(launch, {}, async ({ sim, session }) => {
      const run = newRun(`control-${control}`);
      const { page, errors } = await openChat(session, { run, scenario: "busy_once_then_ok", control });
      await sendMessage(page);
      await answerDone(page);
      const list = await generations(sim, run);
      assert.deepEqual(list.map((e) => e.path), ["/api/v0/chat/completion", "/api/v0/chat/regenerate"]);
      assert.ok(gaps(list)[0] >= 4000 && gaps(list)[0] <= 6000 + SLACK_MS, `gap ${gaps(list)[0]} ms`);
      assert.deepEqual(errors, []);
    }));
  }

  test(`${browserName}: a cut answer is continued, not regenerated; the partial text stays and the answer completes`, () => withBrowser(launch, {}, async ({ sim, session }) => {
    const run = newRun("continue");
    const { page, errors } = await openChat(session, { run, scenario: "gen3_incomplete,gen3_continue_ok" });
    await sendMessage(page);
    const waiting = await waitForBanner(page, (b) => b.state === "waiting" && b.verdict === "incomplete");
    assert.match(waiting?.text ?? "", /Pressing Continue in/, JSON.stringify(waiting));
    assert.equal(await page.$eval(".msg .msg-assistant", (el) => el.textContent), "Hello! How can", "the partial answer is kept while waiting");
    await answerDone(page);
    const list = await generations(sim, run);
    assert.deepEqual(list.map((e) => e.path), ["/api/v0/chat/completion", "/api/v0/chat/continue"], "Continue, never regenerate");
    const [gap] = gaps(list);
    assert.ok(gap >= 5000 && gap <= 6000 + SLACK_MS, `gap ${gap} ms`);
    assert.equal((await answerSettled(page)).text, "Hello! How can I help you today?");
    assert.deepEqual(errors, []);
  }));

  test(`${browserName}: a stream that only closes with 'retry' is a time-out, retried once as busy`, () => withBrowser(launch, {}, async ({ sim, session }) => {
    const run = newRun("silent-close");
    const { page } = await openChat(session, { run, scenario: "gen3_close_retry_only,gen3_ok" });
    await sendMessage(page);
    const waiting = await waitForBanner(page, (b) => b.state === "waiting");
    assert.equal(waiting?.verdict, "busy:generation_timeout");
    await answerDone(page);
    const list = await generations(sim, run);
    assert.equal(list.length, 2);
    assert.ok(gaps(list)[0] >= 4000 && gaps(list)[0] <= 6000 + SLACK_MS, `gap ${gaps(list)[0]} ms`);
  }));

  test(`${browserName}: a 'retry' close after answer text is not a verdict of its own: notified, never retried`, () => withBrowser(launch, {}, async ({ sim, session }) => {
    const run = newRun("close-after-text");
    const { page } = await openChat(session, { run, scenario: "gen3_close_retry_after_content,gen3_ok" });
    await sendMessage(page);
    const shown = await waitForBanner(page, (b) => b.verdict === "unknown" && !b.hidden);
    assert.equal(shown?.state, "explained");
    await new Promise((r) => setTimeout(r, 7000)); // longer than any first busy delay (6 s)
    assert.equal((await generations(sim, run)).length, 1);
  }));

  test(`${browserName}: a stream silent past the server's heartbeat limit is declared dead, never clicked`, () => withBrowser(launch, {}, async ({ sim, session }) => {
    const run = newRun("stalled");
    const { page } = await openChat(session, { run, scenario: "gen3_partial_heartbeat_5s@hang" });
    await sendMessage(page);
    // The header says 5 s; the core's floor is 20 s (src/classify.rs SILENCE_LIMIT_RANGE_MS).
    const shown = await waitForBanner(page, (b) => b.verdict === "stalled" && !b.hidden, 40000);
    assert.equal(shown?.state, "explained", JSON.stringify(shown));
    assert.match(shown.text, /No part of the answer arrived for \d+ s/);
    const list = await generations(sim, run);
    assert.equal(list.length, 1, "no click on a page that still waits");
    const silentFor = Date.now() - list[0].at_ms;
    assert.ok(silentFor >= 20000, `declared dead after ${silentFor} ms`);
  }));
}

test("Chromium: DeepSeek's crash screen puts the extension check first in the popup", () => withBrowser(launchChromium, {}, async ({ session }) => {
  const run = newRun("crash");
  const { page } = await openChat(session, { run, scenario: "ok", crash_after_ms: 300 });
  await page.waitForSelector(".crash-screen");
  const popup = await session.browser.newPage();
  const deadline = Date.now() + 10000;
  let view = null;
  while (Date.now() < deadline) {
    await popup.goto(`chrome-extension://${session.extensionId}/popup.html`, { waitUntil: "load" });
    await popup.waitForFunction(() => document.querySelectorAll("#fixes li").length > 0, { timeout: 10000 });
    view = await popup.evaluate(() => ({ findings: [...document.querySelectorAll("#findings li")].map((li) => li.dataset.id), fixes: [...document.querySelectorAll("#fixes li")].map((li) => li.dataset.id), text: document.getElementById("findings").textContent }));
    if (view.findings.includes("site-crash")) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal(view.findings[0], "site-crash", JSON.stringify(view));
  assert.match(view.text, /blamed a browser extension/);
  assert.equal(view.fixes[0], "extensions", JSON.stringify(view));
  assert.equal(await banner(page), null, "nothing of Unbusy's on the crashed page");
}));

// The auto-retry engine end to end, in Chromium and Firefox; every timing is read from the
// simulator's request log, and every bound comes from the policy (src/retry.rs, src/budget.rs).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { answerSettled, banner, describeInBrowsers, englishText, generations, launchChromium, launchFirefox, newRun, openChat, pollUntil, pressBanner, sendMessage, sleep, startSim, waitForBanner, waitForGenerations, waitForRecorded, withBrowser } from "./harness.mjs";

// Policy figures (src/retry.rs): busy probe after 5 s, then quiet until the last 4 minutes before the
// 15-minute deadline (every 45 s there), ±20 % jitter, floor 4 s;
// rate-limit cool-down 60 s (+0..20 %). Slack covers the page's own round trips after the click.
const SLACK_MS = 2500;
const gaps = (list) => list.slice(1).map((e, i) => e.at_ms - list[i].at_ms);
// The message each never-retried verdict below explains itself with (`Verdict::message`).
const REASON_KEYS = {
  auth_expired: "statusAuthExpired", content_filtered: "statusContentFiltered", "challenge:cloudflare": "statusChallenge",
  context_full: "statusContextFull", muted: "statusMutedUntil",
};

describeInBrowsers("auto-retry", (ctx) => {

  test("busy twice: a probe after 5 s, then a countdown to the last minutes before the deadline", async () => {
    const run = newRun("retry2");
    const { page, errors } = await openChat(ctx.session, { run, scenario: "busy_then_ok" });
    await sendMessage(page);
    // The first time Unbusy would press retry for the user, it says so and how to turn it off.
    const firstBanner = await waitForBanner(page, (b) => b.state === "waiting");
    assert.match(firstBanner.text, /presses DeepSeek's own retry button for you.*options/);
    const secondBanner = await waitForBanner(page, (b) => b.state === "waiting" && /attempt 2/.test(b.text), 15000);
    assert.doesNotMatch(secondBanner.text, /presses DeepSeek's own retry button/, "said once, not every time");
    // Then quiet until the closing window (4 min before the 15-minute deadline): 10 min ± 20 %,
    // never past 11 min after the first failure.
    assert.ok(secondBanner.remainingMs >= 480000 - SLACK_MS && secondBanner.remainingMs <= 660000, `second countdown ${secondBanner.remainingMs} ms`);
    await pressBanner(page, "retry-now");
    await page.waitForFunction(() => document.querySelector(".msg")?.dataset.state === "done", { timeout: 20000 });
    const list = await generations(ctx.sim, run);
    assert.deepEqual(list.map((e) => e.path), ["/api/v0/chat/completion", "/api/v0/chat/regenerate", "/api/v0/chat/regenerate"], "exactly one new generation request per retry");
    const [first] = gaps(list);
    assert.ok(first >= 4000 && first <= 6000 + SLACK_MS, `first gap ${first} ms`);
    assert.equal((await answerSettled(page)).text, "Hello! How can I help you today?");
    await sleep(1500);
    assert.equal((await generations(ctx.sim, run)).length, 3, "nothing more after the answer");
    if (ctx.session.worker) {
      const badge = await ctx.session.worker.evaluate(async () => {
        const [tab] = await chrome.tabs.query({ url: "https://chat.deepseek.com/*", active: true });
        return chrome.action.getBadgeText({ tabId: tab.id });
      });
      assert.equal(badge, "✓");
      const { found } = await waitForRecorded(ctx.session, (e) => e.label === "ok" && e.after_retries);
      assert.equal(found?.after_retries.attempts, 2, "the popup's event says how many retries");
      assert.ok(found.after_retries.waited_ms >= 4000, `waited ${found.after_retries.waited_ms} ms`);
    }
    assert.deepEqual(errors, []);
    await page.close();
  });

  for (const [scenario, label] of [["json_auth_expired", "auth_expired"], ["gen3_content_filter", "content_filtered"], ["html_cloudflare", "challenge:cloudflare"],
    ["gen3_context_length_exceeded", "context_full"], ["json_muted", "muted"], ["http_429_cf_challenge", "challenge:cloudflare"]]) {
    test(`${label}: zero retries and the reason shown`, async () => {
      const run = newRun(scenario);
      const { page } = await openChat(ctx.session, { run, scenario });
      await sendMessage(page);
      const shown = await waitForBanner(page, (b) => b.verdict === label && !b.hidden);
      assert.equal(shown?.state, "explained", JSON.stringify(shown));
      // The verdict's own sentence (src/verdict.rs), not only the banner's buttons.
      assert.ok(shown.text.includes(englishText(REASON_KEYS[label])), `the reason is written out: ${shown.text}`);
      await sleep(7000); // longer than the first busy delay could ever be (6 s)
      assert.equal((await generations(ctx.sim, run)).length, 1);
      await page.close();
    });
  }

  test('"Stop" stops', async () => {
    const run = newRun("stop");
    const { page } = await openChat(ctx.session, { run, scenario: "always_busy" });
    await sendMessage(page);
    await waitForBanner(page, (b) => b.state === "waiting");
    await pressBanner(page, "stop");
    assert.equal((await waitForBanner(page, (b) => b.state === "stopped")).state, "stopped", "the core stood down");
    await sleep(7000);
    assert.equal((await generations(ctx.sim, run)).length, 1);
    await page.close();
  });

  test('"Retry now" retries once', async () => {
    const run = newRun("now");
    const { page } = await openChat(ctx.session, { run, scenario: "always_busy" });
    await sendMessage(page);
    const waiting = await waitForBanner(page, (b) => b.state === "waiting");
    assert.ok(waiting.remainingMs > 2000);
    const pressed = Date.now();
    await pressBanner(page, "retry-now");
    const list = await waitForGenerations(ctx.sim, run, 2, 3000);
    assert.equal(list.length, 2);
    assert.ok(list[1].at_ms - pressed < 2000, "at once, not at the end of the countdown");
    // The second failure starts a new, longer countdown: nothing else within the next 3 s.
    await sleep(3000);
    assert.equal((await generations(ctx.sim, run)).length, 2);
    await page.close();
  });

  test("typing in the message box cancels the countdown and keeps the text", async () => {
    const run = newRun("typing");
    const { page } = await openChat(ctx.session, { run, scenario: "always_busy" });
    await sendMessage(page);
    await waitForBanner(page, (b) => b.state === "waiting");
    await page.focus("#chat-input");
    await page.keyboard.type("a follow-up");
    assert.equal((await waitForBanner(page, (b) => b.state === "stopped")).state, "stopped");
    await sleep(7000);
    assert.equal((await generations(ctx.sim, run)).length, 1);
    assert.equal(await page.$eval("#chat-input", (el) => el.value), "a follow-up");
    await page.close();
  });
});

// Long waits (a minute of cool-down, the shared budget) run in both browsers at once.
describe("shared limits, both browsers at once", () => {
  let sims = [];
  let sessions = [];
  before(async () => {
    sims = await Promise.all([startSim(), startSim()]);
    sessions = await Promise.all([launchChromium(sims[0]), launchFirefox(sims[1])]);
  });
  after(async () => {
    await Promise.all(sessions.map((s) => s.close()));
    sims.forEach((s) => s.stop());
  });

  test("rate limited: no retry before the cool-down ends", async () => {
    await Promise.all(sessions.map(async (session, i) => {
      const run = newRun(`cooldown-${session.name}`);
      const { page } = await openChat(session, { run, scenario: "gen3_rate_limit,gen3_ok" });
      await sendMessage(page);
      const waiting = await waitForBanner(page, (b) => b.state === "waiting");
      assert.ok(waiting.remainingMs >= 55000, `${session.name}: countdown ${waiting.remainingMs} ms`);
      const list = await waitForGenerations(sims[i], run, 2, 80000);
      assert.equal(list.length, 2, `${session.name}: one retry after the cool-down`);
      const [gap] = gaps(list);
      assert.ok(gap >= 60000 && gap <= 72000 + SLACK_MS, `${session.name}: cool-down gap ${gap} ms`);
      await page.waitForFunction(() => document.querySelector(".msg")?.dataset.state === "done", { timeout: 10000 });
    }));
  });

  test("three tabs busy at once share one budget: retries stay within it and are not simultaneous", async () => {
    // Fresh browsers: the budget counts every earlier request of the profile, as it should.
    const fresh = await Promise.all([launchChromium(sims[0]), launchFirefox(sims[1])]);
    try {
      await Promise.all(fresh.map(async (session, i) => {
        const tabs = [];
        for (let n = 0; n < 3; n++) {
          const run = newRun(`tabs-${session.name}-${n}`);
          tabs.push({ run, ...(await openChat(session, { run, scenario: "always_busy" })) });
        }
        await Promise.all(tabs.map((tab) => sendMessage(tab.page)));
        await sleep(25000);
        const all = (await Promise.all(tabs.map((tab) => generations(sims[i], tab.run)))).flat().sort((a, b) => a.at_ms - b.at_ms);
        const automatic = all.filter((e) => e.attempt > 0);
        // Budget (src/budget.rs): at most 6 − 2 generation requests a minute, the 3 sent by hand included.
        assert.equal(all.length - automatic.length, 3);
        assert.equal(automatic.length, 1, `${session.name}: ${automatic.length} automatic retries in 25 s`);
        assert.ok(automatic[0].at_ms - all[2].at_ms >= 3000, "not simultaneous with the hand-sent requests");
        const waiting = await Promise.all(tabs.map((tab) => banner(tab.page)));
        assert.ok(waiting.filter((b) => b.state === "waiting").length >= 2, `${session.name}: the other tabs wait their turn: ${JSON.stringify(waiting)}`);
      }));
    } finally {
      await Promise.all(fresh.map((s) => s.close()));
    }
  });
});

describe("Chromium: the background stopped in the middle of a cool-down", () => {
  test("the retry still happens once, at the right time", async () => {
    await withBrowser(launchChromium, { attachWorker: false }, async ({ sim, session }) => {
      const run = newRun("sw-stop");
      const { page } = await openChat(session, { run, scenario: "busy_once_then_ok" });
      await sendMessage(page);
      await waitForBanner(page, (b) => b.state === "waiting");
      // Stop the extension's service worker through the DevTools protocol.
      const cdp = await page.createCDPSession();
      const versions = [];
      cdp.on("ServiceWorker.workerVersionUpdated", (event) => versions.push(...event.versions.filter((v) => v.scriptURL.endsWith("/background.js"))));
      await cdp.send("ServiceWorker.enable");
      assert.equal(await pollUntil(() => versions.at(-1)?.runningStatus, (s) => s === "running", 3000), "running");
      const beforeStop = versions.length;
      await cdp.send("ServiceWorker.stopWorker", { versionId: versions.at(-1).versionId });
      // Any update after the request counts: a message from the page may start the worker again at once.
      const stopped = await pollUntil(() => versions.slice(beforeStop).some((v) => v.runningStatus === "stopped"), Boolean, 3000);
      assert.ok(stopped, `the service worker was stopped: ${JSON.stringify(versions.slice(beforeStop).map((v) => v.runningStatus))}`);
      await page.waitForFunction(() => document.querySelector(".msg")?.dataset.state === "done", { timeout: 20000 });
      const list = await generations(sim, run);
      assert.equal(list.length, 2, "exactly one retry");
      const [gap] = gaps(list);
      assert.ok(gap >= 4000 && gap <= 6000 + SLACK_MS, `gap ${gap} ms`);
    });
  });
});

describe("Chromium: hidden tabs with the 'pause' setting", () => {
  test("the countdown waits while the tab is hidden and goes on when it is shown", async () => {
    await withBrowser(launchChromium, {}, async ({ sim, session }) => {
      await session.worker.evaluate(() => chrome.storage.sync.set({ settings: { auto_retry: true, max_attempts: 6, delay_scale: 1, hidden_tabs: "pause", notify: false } }));
      const run = newRun("hidden");
      const { page } = await openChat(session, { run, scenario: "busy_once_then_ok" });
      await sendMessage(page);
      await waitForBanner(page, (b) => b.state === "waiting");
      const other = await session.browser.newPage();
      await other.bringToFront();
      assert.equal(await page.evaluate(() => document.visibilityState), "hidden");
      await sleep(8000); // longer than the first delay (at most 6 s)
      assert.equal((await generations(sim, run)).length, 1, "no retry while hidden");
      const shown = Date.now();
      await page.bringToFront();
      const list = await waitForGenerations(sim, run, 2, 9000);
      assert.equal(list.length, 2, "the retry follows once the tab is shown");
      assert.ok(list[1].at_ms - shown <= 6000 + SLACK_MS, "within what was left of the countdown");
    });
  });
});

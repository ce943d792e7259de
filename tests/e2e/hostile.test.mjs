// A hostile page, end to end (issue 8), in Chromium and Firefox: the simulator's page script
// (sim/page/hostile.js) forges hook traffic, races the handshake, floods, sends the `id`
// amplification and invents hook markers. For each: no automatic click and no finding of the
// page's text; a second tab on a busy answer still gets its verdict and its retry when due (read
// from the simulator's log); in Chromium also no cool-down (the core's stored state) and the
// drop counters of the popup's diagnosis. Firefox keeps extension pages and the background away
// from automation: there the cool-down is ruled out by the second tab's timing (a cool-down holds
// every tab for 60 s or more) and the counters are not read.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { answerSettled, banner, DIST, generations, launchChromium, launchFirefox, newRun, openChat, sendMessage, sleep, statusVerdict, waitForGenerations, withBrowser } from "./harness.mjs";

// Policy figures (src/retry.rs): the busy probe comes 5 s ± 20 % after the verdict, floor 4 s.
const SLACK_MS = 2500;
const PAGE_TEXT = "555-0100";
const RETRY_PATHS = ["/api/v0/chat/regenerate", "/api/v0/chat/continue"];
// Verdict latency of the second tab per attack, printed at the end (a figure, not an assertion).
const latencies = [];

async function openHostile(session, { run, attack, scenario = "ok" }) {
  const page = await session.browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(session.chatUrl({ run, scenario, transport: "xhr", hostile: attack }), { waitUntil: "load" });
  return { page, errors };
}

async function attackDone(page, timeout = 40000) {
  await page.waitForFunction(() => window.__hostile && window.__hostile.done, { timeout, polling: 200 });
  return page.evaluate(() => ({ ...window.__hostile }));
}

// The moment (wall clock) the page first shows `label` in Unbusy's status element.
async function watchVerdict(page, label) {
  await page.evaluate((want) => {
    window.__verdictAt = null;
    const check = () => { if (!window.__verdictAt && document.getElementById("unbusy-status")?.dataset.verdict === want) window.__verdictAt = Date.now(); };
    new MutationObserver(check).observe(document.documentElement, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-verdict"] });
  }, label);
}

// A second tab on a busy answer: its verdict, and the retry 5 s later (bounds from the log).
async function secondTabServed(session, sim, attack) {
  const run = newRun(`victim-${attack}`);
  const { page, errors } = await openChat(session, { run, scenario: "busy_once_then_ok" });
  await watchVerdict(page, "busy:server_busy");
  await sendMessage(page);
  const list = await waitForGenerations(sim, run, 2, 20000);
  assert.deepEqual(list.map((e) => e.path), ["/api/v0/chat/completion", "/api/v0/chat/regenerate"], `${attack}: the second tab's retry`);
  const gap = list[1].at_ms - list[0].at_ms;
  assert.ok(gap >= 4000 && gap <= 6000 + SLACK_MS, `${attack}: retry ${gap} ms after the busy answer`);
  const verdictAt = await page.evaluate(() => window.__verdictAt);
  assert.ok(verdictAt, `${attack}: the second tab got its verdict`);
  latencies.push({ browser: session.name, attack, verdict_ms: Math.round(verdictAt - list[0].at_ms) });
  await page.waitForFunction(() => document.querySelector(".msg")?.dataset.state === "done", { timeout: 15000 });
  assert.deepEqual(errors, []);
  await page.close();
}

// Chromium: the core's stored state, read in the service worker (or an extension page).
async function hubState(session, extPage) {
  const read = async () => (await chrome.storage.session.get("hubState")).hubState || null;
  return session.worker ? session.worker.evaluate(read) : extPage.evaluate(read);
}

// Chromium: the popup as the user sees it, and what the background told it (its facts).
async function diagnosis(session, extensionId) {
  const popup = await session.browser.newPage();
  await popup.goto(`chrome-extension://${extensionId}/popup.html`, { waitUntil: "load" });
  await popup.waitForFunction(() => document.querySelectorAll("#fixes li, #more-fixes li").length > 0, { timeout: 10000 });
  const ids = await popup.$$eval("#findings li", (items) => items.map((li) => li.dataset.id));
  const text = await popup.$eval("body", (el) => el.textContent);
  const facts = await popup.evaluate(async () => (await chrome.runtime.sendMessage({ type: "ui_facts" })).facts);
  const state = await hubState(session, popup);
  await popup.close();
  return { ids, text, facts, drops: facts.drops, state };
}

// `heardNothing`: no script of Unbusy's ran in the tab, so the core may not have stored a state yet.
function assertNoCoolDown(state, what, heardNothing = false) {
  if (heardNothing && state === null) return;
  assert.ok(state, `${what}: the core stored its state`);
  assert.ok(state.budget.cooldown_until_ms <= Date.now(), `${what}: cool-down until ${state.budget.cooldown_until_ms}`);
  assert.equal(state.rate_limit_strikes, 0, `${what}: no rate limit counted`);
}

async function assertNothingShownFromPage(session, extensionId, what, heardNothing = false) {
  const seen = await diagnosis(session, extensionId);
  assert.doesNotMatch(seen.text, new RegExp(PAGE_TEXT), `${what}: the popup shows no text of the page's`);
  assert.doesNotMatch(JSON.stringify(seen.facts), new RegExp(PAGE_TEXT), `${what}: nor does what the background told it`);
  assertNoCoolDown(seen.state, what, heardNothing);
  return seen;
}

async function noClicks(sim, run, what) {
  const log = await sim.log(run);
  assert.deepEqual(log.filter((e) => RETRY_PATHS.includes(e.path)), [], `${what}: no automatic click in the hostile tab`);
}

// The hostile tab shows no verdict of the page's making (its real answers are all fine).
async function noForgedVerdict(page, what) {
  const shown = await banner(page);
  assert.ok(!shown || shown.verdict === "ok" || shown.verdict === undefined, `${what}: ${JSON.stringify(shown)}`);
}

for (const [name, launch, dist] of [["Chromium", launchChromium, DIST.chrome], ["Firefox", launchFirefox, DIST.firefox]]) {
  const chromium = name === "Chromium";

  describe(`a hostile page in ${name}`, () => {
    // Drops the page's events and ports cause, as the hook and relay count them (by_relay).
    const forgedCount = (s) => s.portsOffered + s.forgedStateEvents + s.forgedLoadEvents;

    for (const attack of ["forge", "amplify", "markers", "race", "flood"]) {
      test(`${attack}: nothing forged is believed, another tab is served`, async () => {
        await withBrowser(launch, {}, async ({ sim, session }) => {
          const run = newRun(`hostile-${attack}`);
          const { page, errors } = await openHostile(session, { run, attack });
          // The flood runs while the second tab waits for its answer.
          const [state] = await Promise.all([attackDone(page), secondTabServed(session, sim, attack)]);
          assert.equal(state.error, null);
          assert.equal(state.stolenPorts, 0, "the hook's port never reaches the page");
          await noForgedVerdict(page, attack);
          await noClicks(sim, run, attack);
          if (chromium) {
            await sleep(1500); // the relay reports drops within a second
            const seen = await assertNothingShownFromPage(session, session.extensionId, attack);
            console.log(`# ${name} ${attack}: dropped ${JSON.stringify(seen.drops)}; page: ${JSON.stringify(state)}`);
            assert.ok(seen.drops.by_relay >= forgedCount(state), `${attack}: ${seen.drops.by_relay} counted, ${forgedCount(state)} forged`);
            if (attack === "markers") assert.equal(seen.drops.unknown_markers, 0, "no page-chosen marker even reached the core");
            assert.ok(!seen.ids.includes("not-watched-until-reload"), "a tab loaded after install is watched");
          }
          assert.deepEqual(errors, []);
        });
      });
    }

    test("race after a re-injection: the open tab is watched only from its next reload", async () => {
      await withBrowser(launch, { extension: "later" }, async ({ sim, session }) => {
        const run = newRun("hostile-late");
        const { page, errors } = await openHostile(session, { run, attack: "race", scenario: "always_busy" });
        // A real install while the page races the handshake (Chromium runs no content script in
        // an open tab; Firefox injects manifest scripts into open tabs itself, late).
        const installed = await session.browser.installExtension(dist);
        const extensionId = chromium ? installed : null;
        if (chromium) {
          const target = await session.browser.waitForTarget((t) => t.type() === "service_worker" && t.url().endsWith("/background.js"), { timeout: 15000 });
          session.worker = await target.worker();
        }
        await sleep(1500);
        // A real busy answer in the open tab: not watched, so neither shown nor retried.
        await sendMessage(page);
        assert.equal((await answerSettled(page)).state, "error");
        const state = await attackDone(page);
        assert.equal(state.stolenPorts, 0);
        assert.equal(await banner(page), null, "nothing shown in a tab Unbusy does not watch");
        await sleep(7000); // longer than the first busy delay could ever be (6 s)
        assert.equal((await generations(sim, run)).length, 1, "no automatic click");
        if (chromium) {
          // Chromium ran no content script in the open tab: the core has not heard of it.
          const seen = await assertNothingShownFromPage(session, extensionId, "late", true);
          assert.ok(seen.ids.includes("not-watched-until-reload"), `findings: ${seen.ids}`);
          assert.match(seen.text, /Unbusy watches this tab from its next reload/);
        }
        // The reload: the page races again, but the hook and relay now meet before it runs.
        await page.reload({ waitUntil: "load" });
        await sendMessage(page);
        assert.equal((await statusVerdict(page, "busy:server_busy", 10000))?.verdict, "busy:server_busy");
        const list = await waitForGenerations(sim, run, 3, 20000);
        assert.deepEqual(list.map((e) => e.path), ["/api/v0/chat/completion", "/api/v0/chat/completion", "/api/v0/chat/regenerate"]);
        const gap = list[2].at_ms - list[1].at_ms;
        assert.ok(gap >= 4000 && gap <= 6000 + SLACK_MS, `retry ${gap} ms after the busy answer`);
        const again = await attackDone(page);
        assert.equal(again.stolenPorts, 0);
        if (chromium) {
          await sleep(1500);
          const seen = await assertNothingShownFromPage(session, extensionId, "reloaded");
          assert.ok(!seen.ids.includes("not-watched-until-reload"), `findings: ${seen.ids}`);
          assert.ok(seen.drops.by_relay >= again.portsOffered, `${seen.drops.by_relay} counted, ${again.portsOffered} ports offered`);
        }
        assert.deepEqual(errors, []);
      });
    });
  });
}

test("figures: the second tab's verdict latency per attack (printed, not asserted)", () => {
  for (const browser of new Set(latencies.map((l) => l.browser))) {
    const mine = latencies.filter((l) => l.browser === browser);
    const quiet = mine.filter((l) => l.attack !== "flood").map((l) => l.verdict_ms).sort((a, b) => a - b);
    const flood = mine.find((l) => l.attack === "flood");
    const median = quiet.length ? quiet[Math.floor(quiet.length / 2)] : NaN;
    console.log(`# ${browser}: verdict latency ${mine.map((l) => `${l.attack} ${l.verdict_ms} ms`).join(", ")}; the flood adds ${flood ? Math.round(flood.verdict_ms - median) : "?"} ms to the median of the others`);
  }
});

// Every wire fixture, served by the simulator over fetch and over XHR, yields its expected verdict
// in both browsers (Chromium: read in the background; Firefox: through the in-page status element),
// and the page renders exactly what it renders without the extension.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { answerSettled, launchChromium, launchFirefox, newRun, ROOT, sendMessage, startSim, statusVerdict, waitForRecorded, withBrowser } from "./harness.mjs";

const FIXTURES = readFileSync(path.join(ROOT, "tests/fixtures/verdicts.tsv"), "utf8")
  .split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split("\t")).map(([name, label, rendered]) => ({ name, label, rendered }));
// XHR first: the live page's main transport in late 2026.
const TRANSPORTS = ["xhr", "fetch"];

// One chat per case on a reused tab: returns the settled answer and the page's errors.
async function runCase(session, tab, { scenario, transport, users, send = true }) {
  const run = newRun(`${scenario}-${transport}`);
  const started = Date.now();
  tab.errors.length = 0;
  const query = { run, scenario, transport };
  if (users) query.users = users;
  await tab.page.goto(session.chatUrl(query), { waitUntil: "load" });
  if (!send) return { run, started };
  await sendMessage(tab.page);
  const answer = await answerSettled(tab.page);
  return { run, answer, started };
}

async function openTab(session) {
  const page = await session.browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  return { page, errors };
}

// What the page shows without Unbusy: the reference for "renders exactly the same".
const baseline = new Map();

describe("reference rendering without the extension (Chromium)", () => {
  test("every fixture renders", async () => {
    await withBrowser(launchChromium, { extension: false }, async ({ sim, session }) => {
      const tab = await openTab(session);
      for (const fixture of FIXTURES) {
        for (const transport of TRANSPORTS) {
          const { answer } = await runCase(session, tab, { scenario: fixture.name, transport });
          baseline.set(`${fixture.name}/${transport}`, answer);
          if (fixture.rendered !== "-") assert.equal(answer.text, fixture.rendered, `${fixture.name} over ${transport}`);
        }
      }
    });
  });
});

for (const launch of [launchChromium, launchFirefox]) {
  const browserName = launch === launchChromium ? "Chromium" : "Firefox";
  describe(`verdicts in ${browserName}`, () => {
    let sim;
    let session;
    let tab;
    before(async () => {
      sim = await startSim();
      session = await launch(sim);
      tab = await openTab(session);
    });
    after(async () => {
      await session?.close();
      sim?.stop();
    });

    for (const transport of TRANSPORTS) {
      test(`every fixture over ${transport}`, async () => {
        const failures = [];
        for (const fixture of FIXTURES) {
          const { answer, started } = await runCase(session, tab, { scenario: fixture.name, transport });
          const expectedPage = baseline.get(`${fixture.name}/${transport}`);
          // Without a reference there is nothing to compare with: that is a failure, not a pass.
          if (!expectedPage) {
            failures.push(`${fixture.name}: no reference rendering (the reference test in this file must run first)`);
          } else if (JSON.stringify(answer) !== JSON.stringify(expectedPage)) {
            failures.push(`${fixture.name}: page differs from the reference: ${JSON.stringify(answer)} vs ${JSON.stringify(expectedPage)}`);
          }
          const status = await statusVerdict(tab.page, fixture.label, fixture.label === "ok" ? 400 : 5000);
          const shown = status && !status.hidden ? status.verdict : "ok";
          if (shown !== fixture.label) failures.push(`${fixture.name}: in-page status ${JSON.stringify(status)}, expected ${fixture.label}`);
          if (session.worker) {
            const { found } = await waitForRecorded(session, (e) => e.label === fixture.label && e.transport === transport && e.at_ms >= started);
            if (!found) failures.push(`${fixture.name}: background did not record ${fixture.label} over ${transport}`);
          }
          if (tab.errors.length) failures.push(`${fixture.name}: page errors ${tab.errors.join("; ")}`);
        }
        assert.deepEqual(failures, []);
      });

      test(`an expired login on a JSON route over ${transport}`, async () => {
        // The page checks the login on load: no message is sent, so no later verdict replaces this one.
        await runCase(session, tab, { scenario: "ok", transport, users: "route_users_current_expired", send: false });
        const status = await statusVerdict(tab.page, "auth_expired");
        assert.equal(status?.verdict, "auth_expired");
        assert.equal(status?.route, "/api/v0/users/current");
      });

      test(`a muted account on a JSON route over ${transport}: says until when`, async () => {
        await runCase(session, tab, { scenario: "ok", transport, users: "route_users_current_muted", send: false });
        const status = await statusVerdict(tab.page, "muted");
        assert.equal(status?.verdict, "muted");
        const text = await tab.page.evaluate(() => document.getElementById("unbusy-status")?.shadowRoot?.textContent ?? "");
        assert.match(text, /muted until 2030-01-01 00:00 UTC/);
      });
    }
  });
}

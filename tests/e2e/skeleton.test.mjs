// Walking skeleton, in both browsers: the extension loads cleanly, a busy stream is classified
// busy by the Rust core in the background (over the relay), a normal answer renders untouched.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { answerSettled, launchChromium, launchFirefox, newRun, openChat, recordedEvents, sendMessage, startSim, statusVerdict, waitForRecorded } from "./harness.mjs";

const ANSWER = "Hello! How can I help you today?";

for (const launch of [launchChromium, launchFirefox]) {
  describe(`skeleton in ${launch === launchChromium ? "Chromium" : "Firefox"}`, () => {
    let sim;
    let session;
    before(async () => {
      sim = await startSim();
      session = await launch(sim);
    });
    after(async () => {
      await session?.close();
      sim?.stop();
    });

    test("the extension loads with no errors", async () => {
      assert.ok(session.extensionId, "extension id");
      if (session.worker) {
        // The WASM core instantiated in the service worker.
        const coreReady = await session.worker.evaluate(() => typeof WebAssembly === "object" && chrome.runtime.getManifest().manifest_version);
        assert.equal(coreReady, 3);
      }
      const run = newRun("load");
      const { page, errors } = await openChat(session, { run });
      await page.waitForSelector("#chat-input");
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(errors, []);
      await page.close();
    });

    test("a busy stream is classified busy by the core in the background", async () => {
      const run = newRun("busy");
      const { page, errors } = await openChat(session, { run, scenario: "always_busy" });
      await sendMessage(page);
      const answer = await answerSettled(page);
      assert.equal(answer.state, "error");
      const status = await statusVerdict(page, "busy:server_busy");
      assert.deepEqual(status, { verdict: "busy:server_busy", hidden: false, route: "/api/v0/chat/completion" });
      if (session.worker) {
        const { found, events } = await waitForRecorded(session, (e) => e.label === "busy:server_busy");
        assert.ok(found, `recorded in the background: ${JSON.stringify(events)}`);
        assert.equal(found.route, "/api/v0/chat/completion");
        assert.equal(found.transport, "fetch");
        assert.equal(found.verdict.kind, "busy");
      }
      const log = await sim.log(run);
      assert.equal(log.filter((e) => e.attempt !== null).length, 1, "no retry and no extra request from the extension");
      assert.deepEqual(errors, []);
      await page.close();
    });

    test("a normal answer is not disturbed and renders in full", async () => {
      const run = newRun("ok");
      const { page, errors } = await openChat(session, { run, scenario: "ok" });
      await sendMessage(page);
      const answer = await answerSettled(page);
      assert.equal(answer.state, "done");
      assert.equal(answer.text, ANSWER);
      if (session.worker) {
        const { found } = await waitForRecorded(session, (e) => e.label === "ok" && e.tab_id !== undefined);
        assert.ok(found, "the ok verdict reached the background");
      }
      const status = await statusVerdict(page, "never", 300);
      assert.ok(status === null || status.hidden, "no status element for a normal answer");
      const log = await sim.log(run);
      assert.deepEqual(log.map((e) => e.path), ["/", "/static/chat.css", "/static/chat.js", "/api/v0/users/current", "/api/v0/chat/create_pow_challenge", "/api/v0/chat/completion"].filter((p) => log.some((e) => e.path === p)));
      assert.equal(log.filter((e) => e.attempt !== null).length, 1);
      assert.deepEqual(errors, []);
      await page.close();
    });
  });
}

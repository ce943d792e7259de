// Walking skeleton, in both browsers: the extension loads cleanly, a busy stream is classified
// busy by the Rust core in the background (over the relay), a normal answer renders untouched.
import { test } from "node:test";
import assert from "node:assert/strict";
import { answerSettled, describeInBrowsers, newRun, openChat, pollUntil, sendMessage, sleep, statusVerdict, storedPageHooks, waitForRecorded } from "./harness.mjs";

const ANSWER = "Hello! How can I help you today?";

describeInBrowsers("skeleton", (ctx) => {
  test("the extension loads with no errors and the core answers the page's first messages", async () => {
    assert.ok(ctx.session.extensionId, "extension id");
    const run = newRun("load");
    const { page, errors } = await openChat(ctx.session, { run });
    await page.waitForSelector("#chat-input");
    if (ctx.session.worker) {
      // The hook's report on fetch/XHR is the last message of a page load; the core stores what
      // it read from it, so this is the core answering, not only the worker running.
      const hooks = await pollUntil(() => storedPageHooks(ctx.session, run), (h) => h !== null, 8000);
      assert.deepEqual(hooks, { fetch: "clean", xhr: "clean", markers: [], login_token: true });
    } else {
      // Firefox's background cannot be read from here (the busy test below shows its core answers):
      // give the load's messages (the hook reports 1.5 s after load) time to go wrong.
      await sleep(2000);
    }
    assert.deepEqual(errors, []);
    assert.equal(await page.evaluate(() => document.getElementById("unbusy-status")), null, "a normal page load shows nothing of Unbusy's");
    await page.close();
  });

  test("a busy stream is classified busy by the core in the background", async () => {
    const run = newRun("busy");
    const { page, errors } = await openChat(ctx.session, { run, scenario: "always_busy" });
    await sendMessage(page);
    const answer = await answerSettled(page);
    assert.equal(answer.state, "error");
    const status = await statusVerdict(page, "busy:server_busy");
    assert.deepEqual(status, { verdict: "busy:server_busy", hidden: false, route: "/api/v0/chat/completion" });
    if (ctx.session.worker) {
      const { found, events } = await waitForRecorded(ctx.session, (e) => e.label === "busy:server_busy");
      assert.ok(found, `recorded in the background: ${JSON.stringify(events)}`);
      assert.equal(found.route, "/api/v0/chat/completion");
      assert.equal(found.transport, "xhr");
      assert.equal(found.verdict.kind, "busy");
    }
    const log = await ctx.sim.log(run);
    assert.equal(log.filter((e) => e.attempt !== null).length, 1, "no retry and no extra request from the extension");
    assert.deepEqual(errors, []);
    await page.close();
  });

  test("a normal answer is not disturbed and renders in full", async () => {
    const run = newRun("ok");
    const { page, errors } = await openChat(ctx.session, { run, scenario: "ok" });
    await sendMessage(page);
    const answer = await answerSettled(page);
    assert.equal(answer.state, "done");
    assert.equal(answer.text, ANSWER);
    if (ctx.session.worker) {
      const { found } = await waitForRecorded(ctx.session, (e) => e.label === "ok" && e.tab_id !== undefined);
      assert.ok(found, "the ok verdict reached the background");
    }
    const status = await statusVerdict(page, "never", 300);
    assert.ok(status === null || status.hidden, "no status element for a normal answer");
    const log = await ctx.sim.log(run);
    assert.deepEqual(log.map((e) => e.path), ["/", "/static/chat.css", "/static/chat.js", "/api/v0/users/current", "/api/v0/chat/create_pow_challenge", "/api/v0/chat/completion"].filter((p) => log.some((e) => e.path === p)));
    assert.equal(log.filter((e) => e.attempt !== null).length, 1);
    assert.deepEqual(errors, []);
    await page.close();
  });
});

// Installed while a chat tab is already open: the tab gets Unbusy's scripts without a reload
// (Chromium: injected by the background on install; Firefox injects manifest scripts itself), but
// they ran after the page's own, so nothing from the page can be told apart from Unbusy's hook:
// the tab is watched from its next reload (hostile.test.mjs: the popup says so; a page racing
// the handshake gets nothing).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { answerSettled, DIST, launchChromium, launchFirefox, newRun, openChat, pollUntil, sendMessage, sleep, statusVerdict, storedPageHooks, withBrowser } from "./harness.mjs";

for (const [name, launch, dist] of [["Chromium", launchChromium, DIST.chrome], ["Firefox", launchFirefox, DIST.firefox]]) {
  describe(`install with a chat tab open in ${name}`, () => {
    test("the open tab is watched from its next reload", async () => {
      await withBrowser(launch, { extension: "later" }, async ({ sim, session }) => {
        const run = newRun("install");
        const { page, errors } = await openChat(session, { run, scenario: "always_busy" });
        await page.evaluate(() => { window.loadedOnce = true; });
        await session.browser.installExtension(dist);
        if (session.name === "chromium") {
          // The relay injected on install tells the core it came late: wait until the core has
          // noted the tab as not watched (its page-hooks entry with nothing seen).
          const target = await session.browser.waitForTarget((t) => t.type() === "service_worker" && t.url().endsWith("/background.js"), { timeout: 15000 });
          const worker = await target.worker();
          const hooks = await pollUntil(() => storedPageHooks({ worker }, run), (h) => h !== null, 8000);
          assert.deepEqual(hooks, { fetch: null, xhr: null, markers: [], login_token: null }, "the core knows the tab is not watched yet");
        } else {
          // Firefox's background cannot be read from here, and a late relay gives the page no sign.
          await sleep(1500);
        }
        await sendMessage(page);
        await answerSettled(page);
        assert.equal(await statusVerdict(page, "busy:server_busy", 2000), null, "not watched before the reload");
        assert.equal(await page.evaluate(() => window.loadedOnce), true, "the page was not reloaded");
        await page.reload({ waitUntil: "load" });
        await sendMessage(page);
        await answerSettled(page);
        const status = await statusVerdict(page, "busy:server_busy");
        assert.equal(status?.verdict, "busy:server_busy");
        assert.deepEqual(errors, []);
      });
    });
  });
}

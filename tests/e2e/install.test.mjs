// Installed while a chat tab is already open: the tab gets Unbusy's scripts without a reload
// (Chromium: injected by the background on install; Firefox injects manifest scripts itself).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { answerSettled, DIST, launchChromium, launchFirefox, newRun, openChat, sendMessage, statusVerdict, withBrowser } from "./harness.mjs";

for (const [name, launch, dist] of [["Chromium", launchChromium, DIST.chrome], ["Firefox", launchFirefox, DIST.firefox]]) {
  describe(`install with a chat tab open in ${name}`, () => {
    test("the open tab is watched without a reload", async () => {
      await withBrowser(launch, { extension: "later" }, async ({ sim, session }) => {
        const run = newRun("install");
        const { page, errors } = await openChat(session, { run, scenario: "always_busy" });
        await page.evaluate(() => {
          window.loadedOnce = true;
          // The hook hands the relay its port with this event: both of Unbusy's scripts are in the page.
          window.addEventListener("unbusy:hook-port", () => { window.unbusyConnected = true; }, true);
        });
        await session.browser.installExtension(dist);
        await page.waitForFunction(() => window.unbusyConnected === true, { timeout: 10000 });
        await sendMessage(page);
        await answerSettled(page);
        const status = await statusVerdict(page, "busy:server_busy");
        assert.equal(status?.verdict, "busy:server_busy");
        assert.equal(await page.evaluate(() => window.loadedOnce), true, "the page was not reloaded");
        assert.deepEqual(errors, []);
      });
    });
  });
}

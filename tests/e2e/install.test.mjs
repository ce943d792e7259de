// Installed while a chat tab is already open: Chromium runs no content script there, Firefox
// injects them after the page's own scripts, so nothing from the page could be told apart from
// Unbusy's hook: the tab is watched from its next reload, and the popup says so (hostile.test.mjs:
// a page racing the handshake gets nothing).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { answerSettled, DIST, launchChromium, launchFirefox, newRun, openChat, sendMessage, sleep, statusVerdict, withBrowser } from "./harness.mjs";

for (const [name, launch, dist] of [["Chromium", launchChromium, DIST.chrome], ["Firefox", launchFirefox, DIST.firefox]]) {
  describe(`install with a chat tab open in ${name}`, () => {
    test("the open tab is watched from its next reload", async () => {
      await withBrowser(launch, { extension: "later" }, async ({ sim, session }) => {
        const run = newRun("install");
        const { page, errors } = await openChat(session, { run, scenario: "always_busy" });
        await page.evaluate(() => { window.loadedOnce = true; });
        await session.browser.installExtension(dist);
        if (session.name === "chromium") {
          // Chromium runs no content script in a tab open before the install.
          const target = await session.browser.waitForTarget((t) => t.type() === "service_worker" && t.url().endsWith("/background.js"), { timeout: 15000 });
          session.extensionId = new URL(target.url()).host;
        } else {
          // Firefox injects the relay late; it tells the core so (the popup reads that).
          await sleep(1500);
        }
        // The popup lists the chat tabs: one the core never heard of, or heard of too late, is
        // watched from its next reload, and says so.
        const popup = await session.openExtensionPage("popup.html");
        await popup.waitForFunction(() => document.querySelector('#findings li[data-id="not-watched-until-reload"]') !== null, { timeout: 10000 });
        assert.match(await popup.$eval("#findings", (el) => el.textContent), /Unbusy watches this tab from its next reload/);
        await popup.close();
        await page.bringToFront();
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

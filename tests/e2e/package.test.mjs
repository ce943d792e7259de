// The store packages themselves: `cargo xtask test` zips dist/ reproducibly, checks the source
// archive rebuilds them byte for byte, and unpacks them into target/packaged/; here each browser
// loads what is in its zip and rescues a busy answer, and the popup opens.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { PACKAGED, answerSettled, generations, launchChromium, launchFirefox, newRun, openChat, sendMessage, waitForBanner, waitForGenerations, withBrowser } from "./harness.mjs";

const SLACK_MS = 2500;

for (const [browserName, launch, dist] of [["Chromium", launchChromium, PACKAGED.chrome], ["Firefox", launchFirefox, PACKAGED.firefox]]) {
  test(`${browserName}: the packaged zip retries a busy answer, and its popup opens`, { skip: !existsSync(dist) && "no packaged zip unpacked (run `cargo xtask test`)" }, () =>
    withBrowser(launch, { dist }, async ({ sim, session }) => {
      const run = newRun("packaged");
      const { page, errors } = await openChat(session, { run, scenario: "busy_once_then_ok" });
      await sendMessage(page);
      assert.equal((await waitForBanner(page, (b) => b.state === "waiting"))?.verdict, "busy:server_busy");
      const list = await waitForGenerations(sim, run, 2, 15000);
      assert.deepEqual(list.map((e) => e.path), ["/api/v0/chat/completion", "/api/v0/chat/regenerate"]);
      const gap = list[1].at_ms - list[0].at_ms;
      assert.ok(gap >= 4000 && gap <= 6000 + SLACK_MS, `retry ${gap} ms after the busy answer`);
      await page.waitForFunction(() => document.querySelector(".msg")?.dataset.state === "done", { timeout: 20000 });
      assert.equal((await answerSettled(page)).state, "done");
      assert.equal((await generations(sim, run)).length, 2);
      const popup = await session.openExtensionPage("popup.html");
      await popup.waitForFunction(() => document.querySelectorAll("#fixes li").length > 0, { timeout: 10000 });
      assert.match(await popup.$eval("#events", (el) => el.textContent), /Server busy — retried 1×, answered after \d+ s/);
      await popup.close();
      assert.deepEqual(errors, []);
    }));
}

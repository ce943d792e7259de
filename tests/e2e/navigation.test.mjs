// A countdown belongs to one conversation in one document: moving to another conversation in place,
// or reloading, before the click is due means no click, and the banner says why (both browsers).
// Each test gets a fresh profile so the shared budget of one never delays another.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generations, launchChromium, launchFirefox, newRun, openChat, pollUntil, sendMessage, sleep, waitForBanner, withBrowser } from "./harness.mjs";

for (const [browserName, launch] of [["Chromium", launchChromium], ["Firefox", launchFirefox]]) {
  test(`${browserName}: busy, then another conversation before the click is due: no click, the banner says why`, () => withBrowser(launch, {}, async ({ sim, session }) => {
    const run = newRun("navigate");
    const { page, errors } = await openChat(session, { run, scenario: "busy_once_then_ok" });
    // The first message gives the new chat its address (as the app does): still the same conversation.
    await sendMessage(page);
    await waitForBanner(page, (b) => b.state === "waiting");
    assert.match(await page.evaluate(() => location.pathname), /^\/a\/chat\/s\//);
    await page.click("#new-chat");
    const stopped = await waitForBanner(page, (b) => b.state === "stopped", 3000);
    assert.match(stopped?.text ?? "", /another conversation/, JSON.stringify(stopped));
    await sleep(7000); // longer than the first busy delay could ever be (6 s)
    assert.equal((await generations(sim, run)).length, 1, "no automatic request");
    assert.deepEqual(errors, []);
  }));

  test(`${browserName}: busy, then a reload before the click is due: no click, the new page says why`, () => withBrowser(launch, {}, async ({ sim, session }) => {
    const run = newRun("reload");
    const { page } = await openChat(session, { run, scenario: "busy_once_then_ok" });
    await sendMessage(page);
    await waitForBanner(page, (b) => b.state === "waiting");
    await page.reload({ waitUntil: "load" });
    const stopped = await waitForBanner(page, (b) => b.state === "stopped", 3000);
    assert.match(stopped?.text ?? "", /page was reloaded/, JSON.stringify(stopped));
    if (session.worker) {
      // The background forgot the old document's pending retry (not only the page's countdown).
      const tabs = await pollUntil(
        () => session.worker.evaluate(async () => (await chrome.storage.session.get("hubState")).hubState.tabs),
        (list) => list.length > 0 && list.every((t) => t.pending === null),
        3000,
      );
      assert.ok(tabs.length > 0 && tabs.every((t) => t.pending === null), JSON.stringify(tabs));
    }
    await sleep(12000); // past the first delay and the background's backstop (due + 5 s)
    assert.equal((await generations(sim, run)).length, 1, "no automatic request after the reload");
  }));
}

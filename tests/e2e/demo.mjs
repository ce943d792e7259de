// `cargo xtask demo`: the simulator plus Chromium with Unbusy, on the simulated chat.
// With a display the browser stays open for you; without one it runs headless, takes a
// screenshot and writes a log, and says where they are.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { answerSettled, launchChromium, newRun, openChat, recordedEvents, ROOT, sendMessage, startSim, statusVerdict } from "./harness.mjs";

const outDir = path.join(ROOT, "out");
mkdirSync(outDir, { recursive: true });
const simLog = path.join(outDir, "demo-sim.log");
const headless = !process.env.DISPLAY;
const sim = await startSim({ logFile: simLog });
const session = await launchChromium(sim, { headless });
const run = newRun("demo");
const { page } = await openChat(session, { run, scenario: "always_busy" });
await page.setViewport({ width: 1100, height: 700 });
await sendMessage(page, "Why is the sky blue?");
await answerSettled(page);
const status = await statusVerdict(page, "busy:server_busy");

if (headless) {
  const screenshot = path.join(outDir, "demo.png");
  await page.screenshot({ path: screenshot });
  const events = await recordedEvents(session);
  const log = path.join(outDir, "demo.log");
  writeFileSync(log, JSON.stringify({ extensionId: session.extensionId, statusElement: status, recentEvents: events, simulatorRequests: await sim.log(run) }, null, 2) + "\n");
  console.log(`No display: ran headless.\n  screenshot: ${screenshot}\n  log:        ${log}\n  simulator:  ${simLog}`);
  await session.close();
  sim.stop();
} else {
  console.log(`Chromium is open on the simulated chat (https://chat.deepseek.com mapped to the simulator on port ${sim.port}).\nUnbusy's popup: chrome-extension://${session.extensionId}/popup.html\nClose the browser or press Ctrl-C to stop.`);
  const stop = async () => { sim.stop(); process.exit(0); };
  session.browser.on("disconnected", stop);
  process.on("SIGINT", stop);
}

// The browser half of `cargo xtask bench`: what Unbusy costs the chat page in real Chromium and
// Firefox, and how long a stopped background takes to its first verdict. It prints its figures
// and writes its section of BENCHMARKS.md to target/bench/browsers.md. Figures only: nothing here passes or fails on a time.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, answerSettled, launchChromium, launchFirefox, newRun, openChat, pollUntil, sendMessage, sleep, startSim } from "./harness.mjs";

// Answers per browser and side (with / without Unbusy), half over fetch and half over XHR.
const ANSWERS = Number(process.env.UNBUSY_BENCH_ANSWERS || 200);
const COLD_SAMPLES = Number(process.env.UNBUSY_BENCH_COLD || 10);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2 : NaN;
};
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const ms = (x) => `${x.toFixed(1)} ms`;

// One answer in `page`: the page's own marks (sim/page/chat.js) from its generation request to
// the first and the last body text.
async function timedAnswer(page, text) {
  await page.evaluate(() => performance.clearMarks());
  await sendMessage(page, text);
  const settled = await answerSettled(page, 20000);
  if (settled.state !== "done") throw new Error(`an answer ended ${settled.state}`);
  return page.evaluate(() => {
    const at = (name) => performance.getEntriesByName(name).at(-1).startTime;
    return { ttft: at("sim:first-text") - at("sim:request"), ttlt: at("sim:last-text") - at("sim:request") };
  });
}

async function overhead(sim, browserName, launch) {
  const sides = { with: await launch(sim), without: await launch(sim, { extension: false }) };
  const samples = { with: { ttft: [], ttlt: [] }, without: { ttft: [], ttlt: [] } };
  const requests = { with: 0, without: 0 };
  const blocking = {};
  try {
    for (const transport of ["fetch", "xhr"]) {
      const pages = {};
      const runs = {};
      for (const side of ["with", "without"]) {
        runs[side] = newRun(`overhead-${side}-${transport}`);
        pages[side] = (await openChat(sides[side], { run: runs[side], transport, scenario: "ok", measure: 1 })).page;
      }
      await sleep(1000); // the extension's start-up is not the page's steady state
      for (let i = 0; i < ANSWERS / 2; i++) {
        // Interleaved, each side first in turn: drift on the machine falls on both alike.
        for (const side of i % 2 ? ["with", "without"] : ["without", "with"]) {
          const t = await timedAnswer(pages[side], `message ${i}`);
          samples[side].ttft.push(t.ttft);
          samples[side].ttlt.push(t.ttlt);
        }
      }
      for (const side of ["with", "without"]) {
        requests[side] += (await sim.log(runs[side])).length;
        const m = await pages[side].evaluate(() => globalThis.simMeasure);
        const b = (blocking[side] ??= { longTasks: [], timerLateMs: [] });
        b.longTasks.push(...m.longTasks);
        b.timerLateMs.push(...m.timerLateMs);
        await pages[side].close();
      }
    }
  } finally {
    await sides.with.close();
    await sides.without.close();
  }
  const row = {
    browser: browserName,
    answers: samples.with.ttft.length,
    ttft: { with: median(samples.with.ttft), without: median(samples.without.ttft) },
    ttlt: { with: median(samples.with.ttlt), without: median(samples.without.ttlt) },
    requests,
    longTask: { with: Math.max(0, ...blocking.with.longTasks), without: Math.max(0, ...blocking.without.longTasks), count: { with: blocking.with.longTasks.length, without: blocking.without.longTasks.length } },
    timerLate: { with: quantile(blocking.with.timerLateMs, 0.99), without: quantile(blocking.without.timerLateMs, 0.99), maxWith: Math.max(...blocking.with.timerLateMs), maxWithout: Math.max(...blocking.without.timerLateMs) },
  };
  console.log(`${browserName}: ${row.answers} answers a side; TTFT ${ms(row.ttft.with)} / ${ms(row.ttft.without)} = ${(row.ttft.with / row.ttft.without).toFixed(3)}; TTLT ${ms(row.ttlt.with)} / ${ms(row.ttlt.without)} = ${(row.ttlt.with / row.ttlt.without).toFixed(3)}; requests ${requests.with} / ${requests.without}`);
  return row;
}

// From the first body text of a busy answer to the banner naming its verdict, observed in the page.
async function timeToVerdict(page) {
  await page.evaluate(() => {
    globalThis.simVerdictAt = null;
    new MutationObserver((_, observer) => {
      const host = document.getElementById("unbusy-status");
      if (host && host.dataset.verdict) { globalThis.simVerdictAt = performance.now(); observer.disconnect(); }
    }).observe(document.documentElement, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-verdict"] });
  });
  await sendMessage(page);
  const verdictAt = await pollUntil(() => page.evaluate(() => globalThis.simVerdictAt), Boolean, 20000);
  if (!verdictAt) throw new Error("no verdict in 20 s");
  return page.evaluate((v) => v - performance.getEntriesByName("sim:first-text").at(-1).startTime, verdictAt);
}

// Chromium: the worker is stopped through the DevTools protocol (as MV3 does after 30 s idle).
async function coldStartChromium(sim) {
  const session = await launchChromium(sim, { attachWorker: false });
  const result = { warm: [], cold: [] };
  try {
    for (let i = 0; i < COLD_SAMPLES * 2; i++) {
      const cold = i % 2 === 1;
      const { page } = await openChat(session, { run: newRun("cold"), scenario: "busy_once_then_ok" });
      const cdp = await page.createCDPSession();
      const versions = [];
      cdp.on("ServiceWorker.workerVersionUpdated", (e) => versions.push(...e.versions.filter((v) => v.scriptURL.endsWith("/background.js"))));
      await cdp.send("ServiceWorker.enable");
      await sleep(500);
      if (cold) {
        const since = versions.length;
        await cdp.send("ServiceWorker.stopWorker", { versionId: versions.at(-1).versionId });
        const stopped = await pollUntil(() => versions.slice(since).some((v) => v.runningStatus === "stopped"), Boolean, 5000);
        if (!stopped) throw new Error("the worker did not stop");
      }
      result[cold ? "cold" : "warm"].push(await timeToVerdict(page));
      await page.close();
    }
  } finally {
    await session.close();
  }
  return result;
}

// Firefox suspends its event page after `extensions.background.idle.timeout` without events:
// set to 1 s here, so 3 s of quiet leave it suspended (no automation can stop it directly).
async function coldStartFirefox(sim) {
  const result = { warm: [], cold: [] };
  for (const cold of [false, true]) {
    const session = await launchFirefox(sim, { prefs: cold ? { "extensions.background.idle.timeout": 1000 } : {} });
    try {
      for (let i = 0; i < COLD_SAMPLES; i++) {
        const { page } = await openChat(session, { run: newRun("cold"), scenario: "busy_once_then_ok" });
        await sleep(cold ? 3000 : 500);
        result[cold ? "cold" : "warm"].push(await timeToVerdict(page));
        await page.close();
      }
    } finally {
      await session.close();
    }
  }
  return result;
}

function section(rows, cold) {
  const ratio = (x) => (x.with / x.without).toFixed(3);
  const lines = [
    "## The page with and without Unbusy, in real browsers",
    "",
    `\`node tests/e2e/overhead.mjs\` (run by \`cargo xtask bench\`) writes this section. The simulator's chat over HTTPS on loopback, the production extension, Chromium ${rows.chromiumVersion} and Firefox ${rows.firefoxVersion} headless on ${os.cpus().length} × ${os.cpus()[0].model.trim()}. Per browser, ${rows.overhead[0].answers} answers with Unbusy and as many without, in two browser instances, interleaved one for one, half over fetch and half over XMLHttpRequest (the \`ok\` fixture, its frames 20 ms apart). Times are the page's own, from its generation request to its first and its last body text (\`performance.mark\` in sim/page/chat.js); medians.`,
    "",
    "| browser | time to first token, with / without | ratio (added) | time to last token, with / without | ratio (added) | requests to the chat host, with / without | longest long task, with / without | 10 ms timer lateness p99 (max), with / without |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows.overhead) {
    const longTask = r.longTask.count.with + r.longTask.count.without === 0 && r.browser === "Firefox" ? "not reported (no Long Tasks API)" : `${ms(r.longTask.with)} (${r.longTask.count.with}) / ${ms(r.longTask.without)} (${r.longTask.count.without})`;
    const added = (x) => `${ratio(x)} (${x.with - x.without >= 0 ? "+" : ""}${ms(x.with - x.without)})`;
    lines.push(`| ${r.browser} | ${ms(r.ttft.with)} / ${ms(r.ttft.without)} | ${added(r.ttft)} | ${ms(r.ttlt.with)} / ${ms(r.ttlt.without)} | ${added(r.ttlt)} | ${r.requests.with} / ${r.requests.without} | ${longTask} | ${ms(r.timerLate.with)} (${ms(r.timerLate.maxWith)}) / ${ms(r.timerLate.without)} (${ms(r.timerLate.maxWithout)}) |`);
  }
  lines.push(
    "",
    "The simulator answers on loopback in a few milliseconds, so a ratio of first-token times compares Unbusy's fixed cost per answer (the added milliseconds) with almost nothing; against the live site's first tokens (a second or more) the same cost is a ratio under 1.01. *Requests* are all the simulator saw for those pages (page, scripts, proof-of-work challenges, generations): Unbusy adds none. *Long tasks* (over 50 ms, with their count) are the page's, where the browser reports them (Chromium); Firefox has no Long Tasks API, so both browsers also run a 10 ms timer in the page and report how late it fired (main-thread blocking of any source).",
    "",
    "### From a stopped background to the first verdict",
    "",
    `Time from the first body text of a busy answer to the banner naming its verdict (observed in the page), ${COLD_SAMPLES} samples each; the background running (warm) or stopped (cold): Chromium's service worker stopped through the DevTools protocol (its stop is seen in the protocol's events), as MV3 does after 30 s idle. Firefox: its idle timeout set to 1 s and 3 s of quiet before the message; no automation can see whether the event page was suspended, so its cold row may be a warm one.`,
    "",
    "| browser | warm, median (max) | cold, median (max) |",
    "| --- | ---: | ---: |",
  );
  for (const [name, c] of Object.entries(cold)) lines.push(`| ${name} | ${ms(median(c.warm))} (${ms(Math.max(...c.warm))}) | ${ms(median(c.cold))} (${ms(Math.max(...c.cold))}) |`);
  return lines.join("\n");
}

// `cargo xtask bench` puts it in its section of BENCHMARKS.md.
function writeSection(markdown) {
  mkdirSync(path.join(ROOT, "target/bench"), { recursive: true });
  writeFileSync(path.join(ROOT, "target/bench/browsers.md"), `${markdown}\n`);
}

const sim = await startSim();
try {
  const rows = { overhead: [] };
  for (const [name, launch] of [["Chromium", launchChromium], ["Firefox", launchFirefox]]) {
    const probe = await launch(sim, { extension: false });
    rows[`${name.toLowerCase()}Version`] = (await probe.browser.version()).replace(/^[A-Za-z ]*\//, "");
    await probe.close();
    rows.overhead.push(await overhead(sim, name, launch));
  }
  const cold = { Chromium: await coldStartChromium(sim), Firefox: await coldStartFirefox(sim) };
  for (const [name, c] of Object.entries(cold)) console.log(`${name}: first verdict warm ${ms(median(c.warm))}, cold ${ms(median(c.cold))}`);
  writeSection(section(rows, cold));
} finally {
  sim.stop();
}

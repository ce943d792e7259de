// The WASM half of `cargo xtask bench`: the built core (dist/chrome/core) in V8, fed the same
// workload as the native benchmark, through the same calls the background makes.
import { copyFileSync, readFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "./harness.mjs";

// The glue is an ES module named .js without a package.json: give Node an .mjs copy.
const glue = path.join(ROOT, "target/bench-unbusy.mjs");
copyFileSync(path.join(ROOT, "dist/chrome/core/unbusy.js"), glue);
const { initSync, Core } = await import(glue);
initSync({ module: readFileSync(path.join(ROOT, "dist/chrome/core/unbusy_bg.wasm")) });

const body = readFileSync(path.join(ROOT, "target/bench-workload.sse"));
const mb = body.length / (1024 * 1024);
// Messages 10 ms apart, as a streaming page sends them: the core's per-tab rate caps (800 messages
// and 8 MiB a second) refuse a whole workload stamped with one instant, as they should.
const MESSAGE_GAP_MS = 10;
const at = (n) => ({ tab_id: 1, frame_id: 0, incognito: false, now_ms: n * MESSAGE_GAP_MS });

function latin1(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  return text;
}

// One chunk size per process (`node bench.mjs 1024`): Node 20's V8 stops with a fatal error in its
// deoptimizer ("unreachable code") when one process runs two sizes after another.
for (const chunk of [Number(process.argv[2]) || 1024]) {
  const messages = [];
  for (let i = 0; i < body.length; i += chunk) messages.push({ type: "cs_stream_bytes", stream: 1, bytes: latin1(body.subarray(i, i + chunk)) });
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const core = new Core();
    const start = performance.now();
    core.handle({ type: "cs_stream_open", stream: 1, route: "/api/v0/chat/completion", transport: "fetch", status: 200, headers: { "content-type": "text/event-stream" } }, at(0));
    // The core's view carries the verdict; it comes with the bytes that decide it (or at the end).
    let verdict = null;
    const judged = (out) => { if (out.reply?.banner?.verdict) verdict = out.reply.banner.verdict; };
    messages.forEach((message, i) => judged(core.handle(message, at(i + 1))));
    judged(core.handle({ type: "cs_stream_end", stream: 1, end: "complete" }, at(messages.length + 1)));
    best = Math.min(best, (performance.now() - start) / 1000);
    if (round === 0 && verdict !== "ok") throw new Error(`unexpected verdict ${verdict}`);
    core.free();
  }
  console.log(`wasm (V8), ${String(chunk).padStart(5)} B chunks: watcher messages ${(mb / best).toFixed(1).padStart(7)} MB/s`);
}

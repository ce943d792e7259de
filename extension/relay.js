// Unbusy's relay (ISOLATED content script, document_start). Everything from the page hook is
// untrusted: it is checked against the protocol's shapes and size and rate caps, malformed or
// excess messages are dropped and counted (never thrown), and the rest goes to the background,
// where the Rust core decides. Verdicts other than "ok" are shown in a small in-page element.
(() => {
  "use strict";
  if (globalThis.unbusyRelayStarted) return;
  globalThis.unbusyRelayStarted = true;
  const api = globalThis.browser || globalThis.chrome;

  // Must match src/protocol.rs.
  const STREAM_ROUTES = ["/api/v0/chat/completion", "/api/v0/chat/regenerate", "/api/v0/chat/continue", "/api/v0/chat/edit_message", "/api/v0/chat/resume_stream"];
  const JSON_ROUTES = ["/api/v0/chat_session/create", "/api/v0/chat/create_pow_challenge", "/api/v0/users/current"];
  const HEADER_NAMES = ["content-type", "retry-after", "x-amzn-waf-action", "cf-mitigated", "x-ds-sse-heartbeat-timeout-secs"];
  const TRANSPORTS = ["fetch", "xhr"];
  const ENDS = ["complete", "aborted", "network_error"];
  const MAX_CHUNK_BYTES = 256 * 1024;
  const MAX_STREAM_BYTES = 16 * 1024 * 1024;
  const MAX_MESSAGES_PER_SECOND = 400;
  const MAX_TEXT = 256;

  let port = null;
  let dropped = 0;
  let windowStart = 0;
  let windowCount = 0;
  const streamBytes = new Map();

  const isInt = (v, lo, hi) => Number.isInteger(v) && v >= lo && v <= hi;
  const isShortText = (v) => typeof v === "string" && v.length <= MAX_TEXT;
  const isOptional = (v, check) => v === undefined || check(v);
  // Not `instanceof`: in Firefox the page's objects come from another compartment.
  const isBytes = (v) => Object.prototype.toString.call(v) === "[object Uint8Array]";

  function headersOk(headers) {
    if (!headers || typeof headers !== "object") return false;
    return Object.keys(headers).every((k) => HEADER_NAMES.includes(k) && isShortText(headers[k]));
  }

  function envelopeOk(env) {
    if (!env || typeof env !== "object") return false;
    const keys = ["code", "msg", "biz_code", "biz_msg", "mute_until"];
    return Object.keys(env).every((k) => keys.includes(k))
      && isOptional(env.code, Number.isSafeInteger) && isOptional(env.biz_code, Number.isSafeInteger)
      && isOptional(env.mute_until, (v) => Number.isSafeInteger(v) && v > 0)
      && isOptional(env.msg, isShortText) && isOptional(env.biz_msg, isShortText);
  }

  // Bytes travel as one char per byte: Chromium's extension messaging is JSON.
  function latin1(bytes) {
    let text = "";
    for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
    return text;
  }

  // Returns the message to send to the background, or null to drop it.
  function check(msg) {
    if (!msg || typeof msg !== "object") return null;
    switch (msg.type) {
      case "cs_stream_open":
        if (!isInt(msg.stream, 1, 2 ** 31) || !STREAM_ROUTES.includes(msg.route) || !TRANSPORTS.includes(msg.transport) || !isInt(msg.status, 0, 999) || !headersOk(msg.headers)) return null;
        streamBytes.set(msg.stream, 0);
        return { type: msg.type, stream: msg.stream, route: msg.route, transport: msg.transport, status: msg.status, headers: msg.headers };
      case "cs_stream_bytes": {
        if (!isInt(msg.stream, 1, 2 ** 31) || !isBytes(msg.bytes) || msg.bytes.length > MAX_CHUNK_BYTES) return null;
        const total = streamBytes.get(msg.stream);
        if (total === undefined || total + msg.bytes.length > MAX_STREAM_BYTES) return null;
        streamBytes.set(msg.stream, total + msg.bytes.length);
        return { type: msg.type, stream: msg.stream, bytes: latin1(msg.bytes) };
      }
      case "cs_stream_end":
        if (!isInt(msg.stream, 1, 2 ** 31) || !ENDS.includes(msg.end) || !streamBytes.delete(msg.stream)) return null;
        return { type: msg.type, stream: msg.stream, end: msg.end };
      case "cs_json_response":
        if (!JSON_ROUTES.includes(msg.route) || !TRANSPORTS.includes(msg.transport) || !isInt(msg.status, 0, 999) || !headersOk(msg.headers) || !envelopeOk(msg.envelope)) return null;
        if (!isOptional(msg.elapsed_ms, (v) => isInt(v, 0, 600000))) return null;
        return { type: msg.type, route: msg.route, transport: msg.transport, status: msg.status, headers: msg.headers, envelope: msg.envelope, elapsed_ms: msg.elapsed_ms };
      case "cs_page_hooks": {
        const states = ["clean", "wrapped_before", "replaced_after"];
        if (!states.includes(msg.fetch) || !states.includes(msg.xhr) || !Array.isArray(msg.markers) || msg.markers.length > 8 || !msg.markers.every(isShortText)) return null;
        if (!isOptional(msg.login_token, (v) => typeof v === "boolean")) return null;
        return { type: msg.type, fetch: msg.fetch, xhr: msg.xhr, markers: [...msg.markers], login_token: msg.login_token };
      }
      default:
        return null;
    }
  }

  function withinRate() {
    const now = Date.now();
    if (now - windowStart >= 1000) { windowStart = now; windowCount = 0; }
    return ++windowCount <= MAX_MESSAGES_PER_SECOND;
  }

  // After an update or removal of Unbusy, this old script stays in open pages: stop quietly.
  const contextAlive = () => { try { return Boolean(api.runtime && api.runtime.id); } catch { return false; } };

  function detach() {
    if (port) { try { port.postMessage({ type: "detach" }); port.close(); } catch { /* already closed */ } }
    port = null;
  }

  function send(message) {
    if (!contextAlive()) return detach();
    let sending;
    try { sending = api.runtime.sendMessage(message); } catch { return detach(); }
    Promise.resolve(sending).then(onReply, () => { if (!contextAlive()) detach(); });
  }

  function onHookMessage(msg) {
    const clean = withinRate() ? check(msg) : null;
    if (!clean) { dropped += 1; return; }
    if (clean.type === "cs_stream_open") onGenerationStarted();
    if (dropped) { send({ type: "cs_dropped", count: dropped }); dropped = 0; }
    send(clean);
  }

  // ---- handshake (see hook.js) ----
  // One hook port per document, taken only while no page script can have run (both content
  // scripts run at document_start, before the page's; the page cannot read this world). Injected
  // into a tab that was already open (Unbusy installed or updated; Chromium's background sets
  // `unbusyInjectedLate` in this world first), the relay cannot tell the hook from a page script:
  // it takes no port, and the tab is watched from its next reload (the popup says so).
  const pageScriptsMayHaveRun = () => document.scripts.length > 0;
  const late = Boolean(globalThis.unbusyInjectedLate) || document.readyState !== "loading" || pageScriptsMayHaveRun();
  // Ports offered after the first, and events the hook saw dispatched by a script, are counted
  // as dropped (reported within a second, for the self-check).
  let dropReport = null;
  function countDropped(n) {
    if (!isInt(n, 1, 1e6)) return;
    dropped += n;
    dropReport = dropReport || setTimeout(() => {
      dropReport = null;
      if (dropped) { send({ type: "cs_dropped", count: dropped }); dropped = 0; }
    }, 1000);
  }
  function onPort(event) {
    window.removeEventListener("unbusy:hook-ready", announce, true);
    if (port || pageScriptsMayHaveRun() || !event.ports || !event.ports[0]) return countDropped(1);
    port = event.ports[0];
    port.onmessage = (e) => {
      try {
        if (e.data && e.data.type === "hook_ignored") countDropped(e.data.count);
        else onHookMessage(e.data);
      } catch { dropped += 1; }
    };
  }
  function announce() {
    if (pageScriptsMayHaveRun()) window.removeEventListener("unbusy:hook-ready", announce, true);
    else window.dispatchEvent(new Event("unbusy:relay-ready"));
  }
  // A new document: whatever the background had pending for this tab belonged to the old one.
  if (window === window.top) send({ type: "cs_page_loaded", late });
  if (!late) {
    window.addEventListener("unbusy:hook-port", onPort, true);
    window.addEventListener("unbusy:hook-ready", announce, true);
    announce();
  }

  // ---- the banner: reason, countdown, "Retry now", "Stop" (shadow DOM, never takes focus) ----
  const SUGGESTION_KEYS = {
    instant_mode: "suggestInstantMode", search_off: "suggestSearchOff", new_chat: "suggestNewChat",
    log_in: "suggestLogIn", reload_page: "suggestReloadPage", check_status: "suggestCheckStatus",
    check_network: "suggestCheckNetwork",
  };
  const STOP_KEYS = { attempt_cap: "bannerAttemptCap", deadline: "bannerDeadline", auto_retry_off: "bannerAutoRetryOff" };
  // The conversation a countdown belongs to: the page's own address (the app changes it in place).
  const conversationNow = () => location.pathname;
  // Where the page's own controls are. Only the last assistant message of the conversation is
  // searched: a control elsewhere belongs to another answer. Each entry says where it was seen; when
  // none matches, Unbusy says "not found" (the self-check) and never guesses. Class names are hashed
  // by the site's build except the ds-* ones.
  const MESSAGE_BLOCK = "div.ds-message"; // stable class, 2026 (protocol notes, "DOM")
  const USER_MESSAGE = '[data-role="user"]';
  const CONTROL_LOCATORS = {
    retry: [
      // The id sits on a shape inside the icon's svg (userscripts: `svg rect#重新生成`, 2025-09..2026-09),
      // or on the svg itself; climb to the enclosing icon button.
      { select: '[id="重新生成"]', climb: '.ds-icon-button, [role="button"], button', source: "userscripts, 2025-09 to 2026-09" },
      { select: '[aria-label="重新生成"], [aria-label="Regenerate"]', climb: '.ds-icon-button, [role="button"], button', source: "aria-label form, 2025" },
    ],
    continue: [
      { select: 'div[role="button"].ds-button--secondary', texts: ["继续生成", "Continue"], source: "reverse-engineered client notes, 2026-09" },
      { select: 'button, [role="button"]', texts: ["继续生成", "Continue"], source: "text fallback, 2026-09" },
    ],
  };
  const CONFIRM_MS = 5000;
  const t = (key, ...args) => api.i18n.getMessage(key, args.map(String)) || key;

  let banner = null;
  let countdown = null; // { attempt, max, dueAt, remaining, timer, ticker, resume }
  let confirmTimer = null;
  let suggestion = ""; // what may help with the current failure, kept across countdown restarts
  let clickExplained = true;
  try { api.storage.local.get("clickExplained").then((v) => { clickExplained = Boolean(v.clickExplained); }, () => {}); } catch { /* no storage */ }

  function makeButton(action, label, onClick) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.action = action;
    button.textContent = label;
    Object.assign(button.style, { font: "inherit", padding: "3px 10px", borderRadius: "6px", border: "1px solid #c2410c", background: "#fff", color: "#7c2d12", cursor: "pointer" });
    button.addEventListener("click", onClick);
    return button;
  }

  function ensureBanner() {
    if (banner) return banner;
    // Styled through the CSSOM: the page's CSP may forbid inline <style>.
    const host = document.createElement("div");
    host.id = "unbusy-status";
    // Open, so assistive tools and tests can reach it; the page's styles still cannot.
    const shadow = host.attachShadow({ mode: "open" });
    const box = document.createElement("div");
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", "Unbusy");
    Object.assign(box.style, {
      position: "fixed", right: "16px", top: "16px", zIndex: "2147483647", maxWidth: "380px",
      display: "flex", flexDirection: "column", gap: "6px", padding: "10px 12px", borderRadius: "10px",
      font: "14px/1.4 system-ui, 'Noto Sans CJK SC', sans-serif", color: "#1f2937", background: "#fff7ed",
      border: "1px solid #fdba74", boxShadow: "0 4px 16px rgba(0,0,0,.15)",
    });
    const top = document.createElement("div");
    Object.assign(top.style, { display: "flex", gap: "10px", alignItems: "flex-start" });
    const reason = document.createElement("span");
    reason.setAttribute("role", "status");
    reason.setAttribute("aria-live", "polite");
    reason.style.flex = "1";
    const close = document.createElement("button");
    close.type = "button";
    close.textContent = "×";
    close.setAttribute("aria-label", t("statusDismiss"));
    Object.assign(close.style, { border: "0", background: "transparent", font: "inherit", fontSize: "18px", lineHeight: "1", cursor: "pointer", color: "inherit" });
    close.addEventListener("click", () => { host.hidden = true; });
    top.append(reason, close);
    const detail = document.createElement("span");
    const note = document.createElement("span");
    Object.assign(note.style, { fontSize: "12px", color: "#7c2d12" });
    const actions = document.createElement("div");
    Object.assign(actions.style, { display: "flex", gap: "8px" });
    actions.append(makeButton("retry-now", t("bannerRetryNow"), () => retryNow()), makeButton("stop", t("bannerStop"), () => cancel("stop", "bannerStopped")));
    box.append(top, detail, note, actions);
    shadow.append(box);
    banner = { host, reason, detail, note, actions };
    return banner;
  }

  function show({ reply, detail = "", state }) {
    const b = ensureBanner();
    b.host.hidden = false;
    if (reply) {
      b.host.dataset.verdict = reply.label;
      b.host.dataset.route = reply.route;
      b.reason.textContent = t(reply.message, ...reply.message_args);
    }
    b.host.dataset.state = state;
    b.detail.textContent = detail;
    b.actions.hidden = state !== "waiting";
    b.note.textContent = state === "waiting" ? [suggestion, clickExplained ? "" : t("bannerFirstClick")].filter(Boolean).join(" ") : "";
    if (!b.host.isConnected) document.documentElement.append(b.host);
  }

  function stopTimers() {
    if (countdown) { clearTimeout(countdown.timer); clearInterval(countdown.ticker); }
    clearTimeout(confirmTimer);
    confirmTimer = null;
  }

  // Another conversation on screen (in-app navigation): the control there belongs to another answer.
  function leftConversation() {
    if (!countdown || countdown.conversation === conversationNow()) return false;
    cancel("navigated", "bannerNavigated");
    return true;
  }

  function renderCountdown() {
    if (!countdown || !banner || leftConversation()) return;
    const left = countdown.paused ? countdown.remaining : Math.max(0, countdown.dueAt - Date.now());
    const seconds = Math.ceil(left / 1000);
    const key = countdown.resume ? "bannerAwaitResume" : countdown.control === "continue" ? "bannerContinueIn" : "bannerRetryIn";
    banner.detail.textContent = countdown.resume ? t(key, seconds) : t(key, seconds, countdown.attempt, countdown.max);
    banner.host.dataset.remainingMs = String(Math.round(left));
  }

  function startCountdown(ms, fields) {
    stopTimers();
    countdown = { conversation: conversationNow(), ...countdown, ...fields, dueAt: Date.now() + ms, remaining: ms, paused: false };
    show({ state: "waiting", detail: "" });
    if (countdown.pauseHidden && document.hidden) pauseCountdown();
    else countdown.timer = setTimeout(onDue, ms);
    countdown.ticker = setInterval(renderCountdown, 1000);
    renderCountdown();
  }

  function pauseCountdown() {
    if (!countdown || countdown.paused) return;
    clearTimeout(countdown.timer);
    countdown.remaining = Math.max(0, countdown.dueAt - Date.now());
    countdown.paused = true;
  }

  window.addEventListener("popstate", () => leftConversation());

  document.addEventListener("visibilitychange", () => {
    if (!countdown || !countdown.pauseHidden) return;
    if (document.hidden) pauseCountdown();
    else if (countdown.paused) startCountdown(countdown.remaining, {});
  });

  function cancel(reason, messageKey) {
    if (!countdown && !confirmTimer) return;
    stopTimers();
    countdown = null;
    send({ type: "cs_retry_cancel", reason });
    show({ state: "stopped", detail: t(messageKey) });
  }

  function onDue() { ask(false); }
  function retryNow() { ask(true); }

  async function ask(manual, tries = 3) {
    if (!countdown || !contextAlive()) return;
    let reply = null;
    try { reply = await api.runtime.sendMessage({ type: "cs_retry_due", manual }); } catch { /* background restarting */ }
    if (!countdown) return;
    if (!reply) {
      // The background may be starting up again; ask once more shortly, a bounded number of times.
      if (tries > 1) countdown.timer = setTimeout(() => ask(manual, tries - 1), 1000);
      return;
    }
    if (reply.type === "bg_retry_go") fire(reply.control);
    else if (reply.type === "bg_retry_wait") startCountdown(reply.delay_ms, {});
    else { stopTimers(); countdown = null; }
  }

  function lastAssistantMessage() {
    const blocks = document.querySelectorAll(MESSAGE_BLOCK);
    const last = blocks[blocks.length - 1];
    return last && !last.matches(USER_MESSAGE) ? last : null;
  }

  // The control `kind` ("retry" or "continue") of the last assistant message, or null.
  function locateControl(kind) {
    const scope = lastAssistantMessage();
    if (!scope) return null;
    for (const locator of CONTROL_LOCATORS[kind] || []) {
      const found = [...scope.querySelectorAll(locator.select)]
        .map((el) => (locator.climb ? el.closest(locator.climb) : el))
        .filter((el) => el && scope.contains(el) && el.getClientRects().length > 0)
        .filter((el) => !locator.texts || locator.texts.includes(el.textContent.trim()));
      if (found.length) return found[found.length - 1];
    }
    return null;
  }

  function fire(controlKind) {
    if (leftConversation()) return;
    stopTimers();
    const control = locateControl(controlKind);
    if (!control) {
      countdown = null;
      send({ type: "cs_retry_cancel", reason: "no_control" });
      show({ state: "stopped", detail: t("bannerNoControl") });
      return;
    }
    // Tell the background first, so the request that follows is counted as automatic.
    send({ type: "cs_retry_fired" });
    countdown = null;
    show({ state: "retrying", detail: t(controlKind === "continue" ? "bannerContinuing" : "bannerRetrying") });
    if (!clickExplained) {
      clickExplained = true;
      api.storage.local.set({ clickExplained: true }).catch(() => {});
    }
    confirmTimer = setTimeout(() => {
      confirmTimer = null;
      send({ type: "cs_retry_cancel", reason: "unconfirmed" });
      show({ state: "stopped", detail: t("bannerUnconfirmed") });
    }, CONFIRM_MS);
    control.click();
  }

  // DeepSeek's own crash screen blames browser extensions: tell the background (no page text),
  // once per document. Checked at most once a second while the page changes.
  const CRASH_SCREEN_TEXTS = ["This page may have crashed due to changes made by certain browser extensions", "页面崩溃可能与浏览器插件对页面内容的修改有关"];
  let crashReported = false;
  let crashCheck = null;
  new MutationObserver(() => {
    if (crashReported || crashCheck) return;
    crashCheck = setTimeout(() => {
      crashCheck = null;
      // The crash screen replaces the chat: while a message is on screen, no need to read the text.
      if (document.querySelector(MESSAGE_BLOCK)) return;
      const text = document.body ? document.body.textContent : "";
      if (CRASH_SCREEN_TEXTS.some((t) => text.includes(t))) {
        crashReported = true;
        send({ type: "cs_site_crashed" });
      }
    }, 1000);
  }).observe(document, { childList: true, subtree: true });

  // The user is in charge: typing in the message box stands the countdown down.
  document.addEventListener("input", (event) => {
    const target = event.target;
    if (!countdown || !event.isTrusted || !target) return;
    if (target.tagName === "TEXTAREA" || target.tagName === "INPUT" || target.isContentEditable) cancel("typed", "bannerStoodDown");
  }, true);

  // A new generation request: ours (confirming the click) or the user's own (sent, edited, retried).
  function onGenerationStarted() {
    if (confirmTimer) {
      clearTimeout(confirmTimer);
      confirmTimer = null;
    } else if (countdown) {
      stopTimers();
      countdown = null;
    }
    if (banner && banner.host.dataset.state !== "retrying") banner.host.hidden = true;
  }

  function onVerdict(reply) {
    const decision = reply.decision || { action: "explain", suggestion: null };
    if (reply.verdict.kind === "ok") {
      if (banner) { banner.host.hidden = true; banner.host.dataset.verdict = reply.label; banner.host.dataset.state = "ok"; }
      return;
    }
    if (!reply.stream && countdown) return; // a JSON route's error does not replace a retry in progress
    suggestion = decision.suggestion ? t(SUGGESTION_KEYS[decision.suggestion]) : "";
    if (decision.action === "retry" || decision.action === "await_resume") {
      show({ reply, state: "waiting" });
      startCountdown(decision.action === "retry" ? decision.delay_ms : decision.grace_ms, {
        attempt: decision.attempt, max: decision.max_attempts, resume: decision.action === "await_resume", pauseHidden: reply.pause_hidden, control: decision.control,
      });
      return;
    }
    stopTimers();
    countdown = null;
    const stop = decision.action === "stop" ? t(STOP_KEYS[decision.reason]) : "";
    show({ reply, state: decision.action === "stop" ? "stopped" : "explained", detail: [stop, suggestion].filter(Boolean).join(" ") });
  }

  function onReply(reply) {
    if (reply && reply.type === "bg_verdict" && reply.verdict) onVerdict(reply);
  }

  // The background's backstop: a countdown whose timer did not fire (a throttled hidden tab).
  // And a verdict found without a message from this tab (a stream that went silent).
  api.runtime.onMessage.addListener((message) => {
    if (message && message.type === "bg_retry_poke" && countdown && !countdown.paused) onDue();
    if (message && message.type === "bg_verdict") onReply(message);
  });
})();

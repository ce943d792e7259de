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
  const HEADER_NAMES = ["content-type", "retry-after", "x-fetch-after-sec", "x-amzn-waf-action"];
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
    const keys = ["code", "msg", "biz_code", "biz_msg"];
    return Object.keys(env).every((k) => keys.includes(k))
      && isOptional(env.code, Number.isSafeInteger) && isOptional(env.biz_code, Number.isSafeInteger)
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
        return { type: msg.type, route: msg.route, transport: msg.transport, status: msg.status, headers: msg.headers, envelope: msg.envelope };
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
    if (msg && msg.type === "ping") {
      if (contextAlive()) port.postMessage({ type: "alive" }); else detach();
      return;
    }
    const clean = withinRate() ? check(msg) : null;
    if (!clean) { dropped += 1; return; }
    if (dropped) { send({ type: "cs_dropped", count: dropped }); dropped = 0; }
    send(clean);
  }

  // ---- handshake (see hook.js) ----
  function onPort(event) {
    if (port || !event.ports || !event.ports[0]) return;
    window.removeEventListener("unbusy:hook-port", onPort, true);
    window.removeEventListener("unbusy:hook-ready", announce, true);
    port = event.ports[0];
    port.onmessage = (e) => { try { onHookMessage(e.data); } catch { dropped += 1; } };
  }
  function announce() { window.dispatchEvent(new Event("unbusy:relay-ready")); }
  window.addEventListener("unbusy:hook-port", onPort, true);
  window.addEventListener("unbusy:hook-ready", announce, true);
  announce();

  // ---- in-page status element (the seed of the retry banner) ----
  const MESSAGE_KEYS = {
    busy: "statusBusy", search_busy: "statusSearchBusy", rate_limited: "statusRateLimited", parallel_limit: "statusParallelLimit",
    auth_expired: "statusAuthExpired", pow_rejected: "statusPowRejected", content_filtered: "statusContentFiltered",
    too_long: "statusTooLong", challenge: "statusChallenge", maintenance: "statusMaintenance", dropped: "statusDropped",
    http_error: "statusHttpError", server_message: "statusServerMessage", unknown: "statusUnknown",
  };
  let statusHost = null;
  let statusText = null;

  function describe(verdict) {
    const key = MESSAGE_KEYS[verdict.kind] || "statusUnknown";
    const arg = verdict.kind === "http_error" ? String(verdict.status) : verdict.kind === "server_message" ? verdict.msg : undefined;
    return api.i18n.getMessage(key, arg) || verdict.kind;
  }

  function showStatus(reply) {
    if (!statusHost) {
      // Styled through the CSSOM: the page's CSP may forbid inline <style>.
      statusHost = document.createElement("div");
      statusHost.id = "unbusy-status";
      const shadow = statusHost.attachShadow({ mode: "closed" });
      const box = document.createElement("div");
      box.setAttribute("role", "status");
      Object.assign(box.style, {
        position: "fixed", right: "16px", top: "16px", zIndex: "2147483647", maxWidth: "360px",
        display: "flex", gap: "10px", alignItems: "flex-start", padding: "10px 12px", borderRadius: "10px",
        font: "14px/1.4 system-ui, sans-serif", color: "#1f2937", background: "#fff7ed",
        border: "1px solid #fdba74", boxShadow: "0 4px 16px rgba(0,0,0,.15)",
      });
      statusText = document.createElement("span");
      const close = document.createElement("button");
      close.type = "button";
      close.textContent = "×";
      close.setAttribute("aria-label", api.i18n.getMessage("statusDismiss") || "Dismiss");
      Object.assign(close.style, { border: "0", background: "transparent", font: "inherit", fontSize: "18px", lineHeight: "1", cursor: "pointer", color: "inherit" });
      close.addEventListener("click", () => { statusHost.hidden = true; });
      box.append(statusText, close);
      shadow.append(box);
    }
    statusHost.hidden = false;
    statusHost.dataset.verdict = reply.label;
    statusHost.dataset.route = reply.route;
    statusText.textContent = describe(reply.verdict);
    if (!statusHost.isConnected) document.documentElement.append(statusHost);
  }

  function onReply(reply) {
    if (!reply || reply.type !== "bg_verdict" || !reply.verdict) return;
    if (reply.verdict.kind === "ok") {
      if (statusHost) { statusHost.hidden = true; statusHost.dataset.verdict = reply.label; }
      return;
    }
    showStatus(reply);
  }
})();

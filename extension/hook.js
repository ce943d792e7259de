// Unbusy's page hook (MAIN world, document_start). It observes the chat's own fetch and
// XMLHttpRequest responses and passes what it sees to Unbusy's relay over a private
// MessageChannel. The page always gets its original response: the hook reads a clone (fetch) or
// the text the page itself receives (XHR), adds no await to the page's path and makes no request.
// Whatever fails in here, the page's request goes on as if the hook were not there.
(() => {
  "use strict";
  const MARK = Symbol.for("unbusy.hook");
  if (window[MARK]) return;
  Object.defineProperty(window, MARK, { value: true });

  const STREAM_ROUTES = new Set([
    "/api/v0/chat/completion", "/api/v0/chat/regenerate", "/api/v0/chat/continue",
    "/api/v0/chat/edit_message", "/api/v0/chat/resume_stream",
  ]);
  const JSON_ROUTES = new Set(["/api/v0/chat_session/create", "/api/v0/chat/create_pow_challenge", "/api/v0/users/current"]);
  const HEADERS = ["content-type", "retry-after", "x-amzn-waf-action", "cf-mitigated", "x-ds-sse-heartbeat-timeout-secs"];
  const MAX_JSON_CHARS = 64 * 1024;

  let port = null;
  let detached = false;
  let nextStream = 1;
  let relayCheck = null;

  // Handshake with the relay, before any page script runs (both scripts run at document_start):
  // whichever side starts second completes it synchronously, so no page script sees the port.
  function connect() {
    const channel = new MessageChannel();
    channel.port1.onmessage = (event) => onRelayMessage(event.data);
    if (port) port.close();
    port = channel.port1;
    detached = false;
    window.dispatchEvent(new MessageEvent("unbusy:hook-port", { ports: [channel.port2] }));
  }
  function onRelayMessage(data) {
    if (!data) return;
    if (data.type === "detach") detached = true;
    if (data.type === "alive" && relayCheck) { clearTimeout(relayCheck); relayCheck = null; }
    if (data.type === "detach" && relayCheck) { clearTimeout(relayCheck); relayCheck = null; connect(); }
  }
  // A later relay (Unbusy updated while this tab stayed open) takes over only if ours does not
  // answer that it is still alive: a page script cannot take the channel from a live relay.
  window.addEventListener("unbusy:relay-ready", () => {
    if (!port) return connect();
    if (relayCheck) return;
    relayCheck = setTimeout(() => { relayCheck = null; connect(); }, 1000);
    try { port.postMessage({ type: "ping" }); } catch { /* the old relay is gone */ }
  }, true);
  window.dispatchEvent(new Event("unbusy:hook-ready"));

  function post(message, transfer) {
    if (!port || detached) return;
    try { port.postMessage(message, transfer || []); } catch { /* the relay is gone */ }
  }

  function routeOf(url) {
    try {
      const parsed = new URL(String(url), location.href);
      if (parsed.hostname !== location.hostname) return null;
      if (STREAM_ROUTES.has(parsed.pathname) || JSON_ROUTES.has(parsed.pathname)) return parsed.pathname;
    } catch { /* not a URL we watch */ }
    return null;
  }

  function pickHeaders(get) {
    const picked = {};
    for (const name of HEADERS) {
      const value = get(name);
      if (value !== null && value !== undefined) picked[name] = String(value).slice(0, 256);
    }
    return picked;
  }

  // Only the error envelope of a JSON answer leaves the page, never account data.
  function envelopeOf(text) {
    const envelope = {};
    let body;
    try { body = JSON.parse(text); } catch { return envelope; }
    if (!body || typeof body !== "object") return envelope;
    if (typeof body.code === "number") envelope.code = body.code;
    if (typeof body.msg === "string" && body.code) envelope.msg = body.msg.slice(0, 200);
    const data = body.data;
    if (data && typeof data === "object" && typeof data.biz_code === "number") {
      envelope.biz_code = data.biz_code;
      if (typeof data.biz_msg === "string" && data.biz_code) envelope.biz_msg = data.biz_msg.slice(0, 200);
      // A muted account: only until when (`/users/current` keeps it under `chat`).
      const biz = data.biz_data && typeof data.biz_data === "object" ? data.biz_data : null;
      const mute = biz && (biz.is_muted ? biz : biz.chat && biz.chat.is_muted ? biz.chat : null);
      if (mute && Number.isSafeInteger(mute.mute_until) && mute.mute_until > 0) envelope.mute_until = mute.mute_until;
    }
    return envelope;
  }

  // ---- fetch ----
  async function readStream(id, response) {
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (detached) { reader.cancel().catch(() => {}); return; }
        post({ type: "cs_stream_bytes", stream: id, bytes: value }, [value.buffer]);
      }
      post({ type: "cs_stream_end", stream: id, end: "complete" });
    } catch (error) {
      post({ type: "cs_stream_end", stream: id, end: error && error.name === "AbortError" ? "aborted" : "network_error" });
    }
  }

  function observeFetch(route, response, elapsedMs) {
    const headers = pickHeaders((name) => response.headers.get(name));
    if (STREAM_ROUTES.has(route)) {
      const copy = response.clone();
      const id = nextStream++;
      post({ type: "cs_stream_open", stream: id, route, transport: "fetch", status: response.status, headers });
      if (copy.body) readStream(id, copy);
      else post({ type: "cs_stream_end", stream: id, end: "complete" });
    } else {
      response.clone().text().then((text) => {
        post({ type: "cs_json_response", route, transport: "fetch", status: response.status, headers, envelope: envelopeOf(text.slice(0, MAX_JSON_CHARS)), elapsed_ms: elapsedMs });
      }, () => {});
    }
  }

  // ---- other extensions' hooks (for the popup's conflict check) ----
  // Must match HOOK_MARKERS in src/diagnose/conflicts.rs: symbols on window or fetch, and traces
  // other helpers leave on the page's own requests (seen while watching them).
  const MARKERS = ["deepseek-pp.fetch-hook-installed"];
  const seenOnRequests = new Set();
  function noteRequestMarker(marker) {
    if (seenOnRequests.has(marker)) return;
    seenOnRequests.add(marker);
    if (document.readyState === "complete") reportPageHooks();
  }
  const isNative = (fn) => {
    try { return typeof fn === "function" && /\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(fn)); } catch { return false; }
  };
  const fetchAtStart = isNative(window.fetch) ? "clean" : "wrapped_before";
  const xhrAtStart = window.XMLHttpRequest && isNative(XMLHttpRequest.prototype.send) && isNative(XMLHttpRequest.prototype.open) ? "clean" : "wrapped_before";
  let ourFetch = null;
  let ourOpen = null;
  let ourSend = null;
  function reportPageHooks() {
    try {
      const proto = window.XMLHttpRequest && XMLHttpRequest.prototype;
      const markers = MARKERS.filter((m) => { const key = Symbol.for(m); return key in window || (typeof window.fetch === "function" && key in window.fetch); })
        .concat([...seenOnRequests]);
      post({
        type: "cs_page_hooks",
        fetch: ourFetch && window.fetch !== ourFetch ? "replaced_after" : fetchAtStart,
        xhr: proto && ourSend && (proto.send !== ourSend || proto.open !== ourOpen) ? "replaced_after" : xhrAtStart,
        markers,
        login_token: (() => { try { return localStorage.getItem("userToken") !== null; } catch { return undefined; } })(),
      });
    } catch { /* nothing to report */ }
  }
  // Other extensions' scripts run at document_start or soon after the page loads.
  window.addEventListener("load", () => setTimeout(reportPageHooks, 1500), { once: true });

  const nativeFetch = window.fetch;
  if (typeof nativeFetch === "function") {
    const fetch = function fetch(input, init) {
      const started = performance.now();
      const result = nativeFetch.apply(this, arguments);
      try {
        const route = !detached && routeOf(input instanceof Request ? input.url : input);
        if (route && init && init.headers && new Headers(init.headers).has("x-dpp-bypass-hook")) noteRequestMarker("header:x-dpp-bypass-hook");
        if (route) result.then((response) => { try { observeFetch(route, response, Math.round(performance.now() - started)); } catch { /* page unaffected */ } }, () => {});
      } catch { /* page unaffected */ }
      return result;
    };
    Object.defineProperty(fetch, MARK, { value: true });
    window.fetch = fetch;
    ourFetch = fetch;
  }

  // ---- XMLHttpRequest ----
  const XHR = window.XMLHttpRequest && window.XMLHttpRequest.prototype;
  if (XHR) {
    const routes = new WeakMap();
    const nativeOpen = XHR.open;
    const nativeSend = XHR.send;
    const encoder = new TextEncoder();

    const watchXhr = (xhr, route) => {
      const isStream = STREAM_ROUTES.has(route);
      const id = isStream ? nextStream++ : 0;
      let opened = false;
      let seen = 0;
      let ended = false;
      const started = performance.now();
      let elapsedMs;
      const textSoFar = () => {
        try { return xhr.responseType === "" || xhr.responseType === "text" ? xhr.responseText : null; } catch { return null; }
      };
      const flush = () => {
        if (!isStream) return;
        if (!opened && xhr.readyState >= 2) {
          opened = true;
          post({ type: "cs_stream_open", stream: id, route, transport: "xhr", status: xhr.status, headers: pickHeaders((n) => xhr.getResponseHeader(n)) });
        }
        const text = textSoFar();
        if (opened && text && text.length > seen) {
          const bytes = encoder.encode(text.slice(seen));
          seen = text.length;
          post({ type: "cs_stream_bytes", stream: id, bytes }, [bytes.buffer]);
        }
      };
      const end = (kind) => {
        if (ended) return;
        ended = true;
        if (isStream) {
          flush();
          if (opened) post({ type: "cs_stream_end", stream: id, end: kind });
        } else if (kind === "complete") {
          const text = textSoFar();
          const body = text !== null ? text : (xhr.responseType === "json" ? JSON.stringify(xhr.response) : "");
          post({
            type: "cs_json_response", route, transport: "xhr", status: xhr.status,
            headers: pickHeaders((n) => xhr.getResponseHeader(n)), envelope: envelopeOf(String(body).slice(0, MAX_JSON_CHARS)), elapsed_ms: elapsedMs,
          });
        }
      };
      xhr.addEventListener("readystatechange", () => {
        try {
          if (elapsedMs === undefined && xhr.readyState >= 2) elapsedMs = Math.round(performance.now() - started);
          flush();
        } catch { /* page unaffected */ }
      });
      xhr.addEventListener("load", () => { try { end("complete"); } catch { /* page unaffected */ } });
      xhr.addEventListener("abort", () => { try { end("aborted"); } catch { /* page unaffected */ } });
      xhr.addEventListener("error", () => { try { end("network_error"); } catch { /* page unaffected */ } });
      xhr.addEventListener("timeout", () => { try { end("network_error"); } catch { /* page unaffected */ } });
    };

    XHR.open = function open(method, url) {
      try { routes.set(this, routeOf(url)); } catch { /* page unaffected */ }
      return nativeOpen.apply(this, arguments);
    };
    XHR.send = function send() {
      try {
        const route = routes.get(this);
        if (route && "__bdsRequestMeta" in this) noteRequestMarker("xhr:__bdsRequestMeta");
        if (route && !detached) watchXhr(this, route);
      } catch { /* page unaffected */ }
      return nativeSend.apply(this, arguments);
    };
    Object.defineProperty(XHR.open, MARK, { value: true });
    Object.defineProperty(XHR.send, MARK, { value: true });
    ourOpen = XHR.open;
    ourSend = XHR.send;
  }
})();

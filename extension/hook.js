// Unbusy's page hook (MAIN world, document_start). It observes the chat's own fetch and
// XMLHttpRequest responses and passes what it sees to Unbusy's relay over a private
// MessageChannel. The page always gets its original response: the hook reads a clone (fetch) or
// the text the page itself receives (XHR), adds no await to the page's path and makes no request.
// Whatever fails in here, the page's request goes on as if the hook were not there.
(() => {
  "use strict";
  // The generated protocol module ran just before, in this world: keep it, and take it out of the page's sight.
  const P = globalThis.UnbusyProtocol;
  const T = P.types;
  delete globalThis.UnbusyProtocol;
  const MARK = Symbol.for("unbusy.hook");
  if (window[MARK]) return;

  // The page's scripts run after this point and may replace any member of any prototype (or of
  // one request). Everything that turns an observation into a message is read through these
  // references, taken now, and called with Reflect.apply: what the page overrides later is not seen.
  const apply = Reflect.apply;
  const getter = (proto, name) => Object.getOwnPropertyDescriptor(proto, name).get;
  const then = Promise.prototype.then;
  const slice = String.prototype.slice;
  const hasOwn = Object.hasOwn;
  const parseJson = JSON.parse;
  const stringifyJson = JSON.stringify;
  const NativeURL = URL;
  const urlHostname = getter(URL.prototype, "hostname");
  const urlPathname = getter(URL.prototype, "pathname");
  const encode = TextEncoder.prototype.encode;
  const bufferOf = getter(Object.getPrototypeOf(Uint8Array.prototype), "buffer");
  const bytesLength = getter(Object.getPrototypeOf(Uint8Array.prototype), "length");
  const copyBytes = Object.getPrototypeOf(Uint8Array.prototype).slice;
  const errorName = getter(DOMException.prototype, "name");
  const postToPort = MessagePort.prototype.postMessage;
  const listen = EventTarget.prototype.addEventListener;
  const documentScripts = getter(Document.prototype, "scripts");
  const collectionLength = getter(HTMLCollection.prototype, "length");
  const response = {
    clone: Response.prototype.clone, text: Response.prototype.text, status: getter(Response.prototype, "status"),
    headers: getter(Response.prototype, "headers"), body: getter(Response.prototype, "body"), url: getter(Response.prototype, "url"),
  };
  const headersGet = Headers.prototype.get;
  const getReader = ReadableStream.prototype.getReader;
  const readChunk = ReadableStreamDefaultReader.prototype.read;
  const cancelReader = ReadableStreamDefaultReader.prototype.cancel;
  const XHR = window.XMLHttpRequest && window.XMLHttpRequest.prototype;
  const xhrGet = XHR && {
    readyState: getter(XHR, "readyState"), status: getter(XHR, "status"), responseText: getter(XHR, "responseText"),
    responseType: getter(XHR, "responseType"), response: getter(XHR, "response"), responseURL: getter(XHR, "responseURL"),
  };
  const xhrHeader = XHR && XHR.getResponseHeader;
  const later = setTimeout;

  // Whether any page script may have run: a parser-inserted script is in the document before it runs.
  const pageScriptsMayHaveRun = () => apply(collectionLength, apply(documentScripts, document, []), []) > 0;
  // Injected into a document whose scripts already ran (Unbusy installed or updated while the tab
  // was open): the relay takes no port there, so stay out of the page until it reloads.
  if (document.readyState !== "loading" || pageScriptsMayHaveRun()) return;
  Object.defineProperty(window, MARK, { value: true });

  // Null-prototype tables: a page cannot add routes or headers through Object.prototype or Set.
  const ROUTES = Object.create(null);
  for (const route of P.routes.stream) ROUTES[route] = "stream";
  for (const route of P.routes.json) ROUTES[route] = "json";
  const isStreamRoute = (route) => ROUTES[route] === "stream";

  let port = null;
  let detached = false;
  let nextStream = 1;

  // Handshake with the relay, once, before any page script runs: both scripts run at
  // document_start and whichever starts second completes it synchronously. No second port is
  // ever made, so a page script that asks later gets nothing and can take nothing over.
  function onRelayReady() {
    window.removeEventListener(P.events.relayReady, onRelayReady, true);
    if (port || pageScriptsMayHaveRun()) return;
    const channel = new MessageChannel();
    channel.port1.onmessage = (event) => { if (event.data && event.data.type === T.detach) detached = true; };
    port = channel.port1;
    window.dispatchEvent(new MessageEvent(P.events.hookPort, { ports: [channel.port2] }));
  }
  window.addEventListener(P.events.relayReady, onRelayReady, true);
  window.dispatchEvent(new Event(P.events.hookReady));

  function post(message, transfer) {
    if (!port || detached) return;
    try { apply(postToPort, port, [message, transfer || []]); } catch { /* the relay is gone */ }
  }

  // Body bytes in pieces no larger than the relay takes: it refuses a larger one, and a stream
  // missing bytes cannot be judged.
  function postBytes(stream, bytes) {
    const cap = P.caps.chunkBytes;
    const length = apply(bytesLength, bytes, []);
    for (let at = 0; at < length; at += cap) {
      const piece = length <= cap ? bytes : apply(copyBytes, bytes, [at, at + cap]);
      post({ type: T.csStreamBytes, stream, bytes: piece }, [apply(bufferOf, piece, [])]);
    }
  }

  // Events a script dispatched on a watched request are never read, only counted (the popup's
  // self-check), at most one report a second.
  let ignored = 0;
  function countIgnored() {
    if (ignored++ === 0) apply(later, window, [() => { post({ type: T.hookIgnored, count: ignored }); ignored = 0; }, 1000]);
  }

  // The route of a URL the page really fetched, or null.
  function routeOf(url) {
    try {
      const parsed = new NativeURL(String(url), location.href);
      if (apply(urlHostname, parsed, []) !== location.hostname) return null;
      const path = apply(urlPathname, parsed, []);
      if (ROUTES[path]) return path;
    } catch { /* not a URL we watch */ }
    return null;
  }

  function pickHeaders(get) {
    const picked = {};
    for (let i = 0; i < P.headers.length; i += 1) {
      const value = get(P.headers[i]);
      if (value !== null && value !== undefined) picked[P.headers[i]] = apply(slice, String(value), [0, P.caps.textChars]);
    }
    return picked;
  }

  // Only the error envelope of a JSON answer leaves the page, never account data. Own fields only:
  // the page may put anything on Object.prototype.
  function envelopeOf(text) {
    const envelope = {};
    const own = (object, key) => (object && typeof object === "object" && apply(hasOwn, null, [object, key]) ? object[key] : undefined);
    const cut = (value) => apply(slice, value, [0, 200]);
    let body;
    try { body = parseJson(text); } catch { return envelope; }
    const code = own(body, "code");
    if (typeof code === "number") envelope.code = code;
    const msg = own(body, "msg");
    if (typeof msg === "string" && code) envelope.msg = cut(msg);
    const data = own(body, "data");
    const bizCode = own(data, "biz_code");
    if (typeof bizCode === "number") {
      envelope.biz_code = bizCode;
      const bizMsg = own(data, "biz_msg");
      if (typeof bizMsg === "string" && bizCode) envelope.biz_msg = cut(bizMsg);
      // A muted account: only until when (`/users/current` keeps it under `chat`).
      const biz = own(data, "biz_data");
      const chat = own(biz, "chat");
      const mute = own(biz, "is_muted") ? biz : own(chat, "is_muted") ? chat : null;
      const until = own(mute, "mute_until");
      if (Number.isSafeInteger(until) && until > 0) envelope.mute_until = until;
    }
    return envelope;
  }

  function postJson(route, transport, status, headers, text, elapsedMs) {
    post({ type: T.csJsonResponse, route, transport, status, headers, envelope: envelopeOf(apply(slice, text, [0, P.caps.jsonChars])), elapsed_ms: elapsedMs });
  }

  // ---- fetch ----
  function readStream(id, reader) {
    const ended = (error) => {
      let name = "";
      try { name = apply(errorName, error, []); } catch { /* not a DOMException */ }
      post({ type: T.csStreamEnd, stream: id, end: name === "AbortError" ? "aborted" : "network_error" });
    };
    // Chained through the captured `then` (no `await`: it may consult a replaced Promise.prototype.then).
    const next = () => apply(then, apply(readChunk, reader, []), [(result) => {
      if (result.done) return post({ type: T.csStreamEnd, stream: id, end: "complete" });
      if (detached) return apply(then, apply(cancelReader, reader, []), [undefined, () => {}]);
      postBytes(id, result.value);
      return next();
    }, ended]);
    next();
  }

  function observeFetch(answer, elapsedMs) {
    // The URL that answered, not the one the page passed: its own objects could say one thing to
    // fetch and another to us.
    const route = routeOf(apply(response.url, answer, []));
    if (!route) return;
    const status = apply(response.status, answer, []);
    const headerList = apply(response.headers, answer, []);
    const headers = pickHeaders((name) => apply(headersGet, headerList, [name]));
    const copy = apply(response.clone, answer, []);
    if (isStreamRoute(route)) {
      const id = nextStream++;
      post({ type: T.csStreamOpen, stream: id, route, transport: "fetch", status, headers });
      const body = apply(response.body, copy, []);
      if (body) readStream(id, apply(getReader, body, []));
      else post({ type: T.csStreamEnd, stream: id, end: "complete" });
    } else {
      apply(then, apply(response.text, copy, []), [(text) => postJson(route, "fetch", status, headers, text, elapsedMs), () => {}]);
    }
  }

  // ---- other extensions' hooks (for the popup's conflict check) ----
  // HOOK_MARKERS of src/diagnose/conflicts.rs: symbols on window or fetch, and traces other
  // helpers leave on the page's own requests (seen while watching them). Only these names are
  // ever sent, built without the page's Array or Set methods; the core drops any other.
  const MARKERS = P.markers.symbols;
  const [[BYPASS_HEADER, BYPASS_MARKER]] = P.markers.requestHeaders;
  const [[META_PROPERTY, META_MARKER]] = P.markers.xhrProperties;
  const REQUEST_MARKERS = [BYPASS_MARKER, META_MARKER];
  const seenOnRequests = Object.create(null);
  function noteRequestMarker(marker) {
    if (seenOnRequests[marker]) return;
    seenOnRequests[marker] = true;
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
      const markers = [];
      for (let i = 0; i < MARKERS.length; i += 1) {
        const key = Symbol.for(MARKERS[i]);
        if (key in window || (typeof window.fetch === "function" && key in window.fetch)) markers[markers.length] = MARKERS[i];
      }
      for (let i = 0; i < REQUEST_MARKERS.length; i += 1) if (seenOnRequests[REQUEST_MARKERS[i]]) markers[markers.length] = REQUEST_MARKERS[i];
      post({
        type: T.csPageHooks,
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
      const result = apply(nativeFetch, this, arguments);
      try {
        if (!detached) {
          apply(then, result, [(answer) => {
            try { observeFetch(answer, Math.round(performance.now() - started)); } catch { /* page unaffected */ }
          }, () => {}]);
        }
        // After the observation is set up: odd headers must not cost Unbusy the response.
        if (init && init.headers && routeOf(input instanceof Request ? input.url : input) && new Headers(init.headers).has(BYPASS_HEADER)) {
          noteRequestMarker(BYPASS_MARKER);
        }
      } catch { /* page unaffected */ }
      return result;
    };
    Object.defineProperty(fetch, MARK, { value: true });
    window.fetch = fetch;
    ourFetch = fetch;
  }

  // ---- XMLHttpRequest ----
  if (XHR) {
    const routes = new WeakMap();
    const weakGet = WeakMap.prototype.get;
    const weakSet = WeakMap.prototype.set;
    const nativeOpen = XHR.open;
    const nativeSend = XHR.send;
    const encoder = new TextEncoder();

    const watchXhr = (xhr, route) => {
      const read = (name) => apply(xhrGet[name], xhr, []);
      const header = (name) => apply(xhrHeader, xhr, [name]);
      const isStream = isStreamRoute(route);
      const id = isStream ? nextStream++ : 0;
      let opened = false;
      let elsewhere = false;
      let seen = 0;
      let ended = false;
      const started = performance.now();
      let elapsedMs;
      // The URL that answered must be the route asked for (a page's URL object could say one
      // thing to open and another to us).
      const answeredHere = () => {
        if (!elsewhere && routeOf(read("responseURL")) !== route) elsewhere = true;
        return !elsewhere;
      };
      const textSoFar = () => {
        try {
          const type = read("responseType");
          return type === "" || type === "text" ? read("responseText") : null;
        } catch { return null; }
      };
      const flush = () => {
        if (!isStream) return;
        // A response head arrived (status 0: aborted or failed before one; Firefox then still
        // reports the URL and readyState 4): nothing to judge, as with fetch.
        if (!opened && read("readyState") >= 2 && read("status") !== 0) {
          if (!answeredHere()) return;
          opened = true;
          post({ type: T.csStreamOpen, stream: id, route, transport: "xhr", status: read("status"), headers: pickHeaders(header) });
        }
        const text = textSoFar();
        if (opened && text && text.length > seen) {
          const bytes = apply(encode, encoder, [apply(slice, text, [seen])]);
          seen = text.length;
          postBytes(id, bytes);
        }
      };
      const end = (kind) => {
        if (ended) return;
        ended = true;
        if (isStream) {
          flush();
          if (opened) post({ type: T.csStreamEnd, stream: id, end: kind });
        } else if (kind === "complete" && answeredHere()) {
          const text = textSoFar();
          const body = text !== null ? text : (read("responseType") === "json" ? stringifyJson(read("response")) : "");
          postJson(route, "xhr", read("status"), pickHeaders(header), String(body), elapsedMs);
        }
      };
      // Through the captured addEventListener, and only the browser's own events: a page can
      // dispatch a "readystatechange" of its own on this request, but it is not trusted.
      const on = (type, handler) => apply(listen, xhr, [type, (event) => {
        try { if (event.isTrusted) handler(); else countIgnored(); } catch { /* page unaffected */ }
      }]);
      on("readystatechange", () => {
        if (elapsedMs === undefined && read("readyState") >= 2) elapsedMs = Math.round(performance.now() - started);
        flush();
      });
      on("load", () => end("complete"));
      on("abort", () => end("aborted"));
      on("error", () => end("network_error"));
      on("timeout", () => end("network_error"));
    };

    XHR.open = function open(method, url) {
      try { apply(weakSet, routes, [this, routeOf(url)]); } catch { /* page unaffected */ }
      return apply(nativeOpen, this, arguments);
    };
    XHR.send = function send() {
      try {
        const route = apply(weakGet, routes, [this]);
        if (route && META_PROPERTY in this) noteRequestMarker(META_MARKER);
        if (route && !detached) watchXhr(this, route);
      } catch { /* page unaffected */ }
      return apply(nativeSend, this, arguments);
    };
    Object.defineProperty(XHR.open, MARK, { value: true });
    Object.defineProperty(XHR.send, MARK, { value: true });
    ourOpen = XHR.open;
    ourSend = XHR.send;
  }
})();

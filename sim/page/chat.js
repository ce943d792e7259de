// The simulator's chat page: a small stand-in for DeepSeek's web app. It sends generation requests
// with XMLHttpRequest (as the app did in September 2026) or fetch (earlier bundles), renders the
// three stream framings, and on an error shows the message with a retry control built like the
// real one; a cut answer (status INCOMPLETE) keeps its text and offers Continue instead.
"use strict";

const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
const RUN = meta("sim-run");
const TRANSPORT = meta("sim-transport");
// How the retry icon carries its id: "shape" (live site, 2026: a <rect> inside the svg), "svg"
// (the id on the <svg> itself) or "label" (no id, an aria-label only).
const CONTROL_FORM = meta("sim-control");
// Milliseconds after load at which the app shows its own crash screen (0: never).
const CRASH_AFTER_MS = Number(meta("sim-crash-after-ms"));
// `?measure=1` (benchmarks): the page keeps its long tasks (where the browser reports them) and
// the longest delay of a 10 ms timer, a measure of main-thread blocking in any browser.
if (meta("sim-measure") === "1") {
  globalThis.simMeasure = { longTasks: [], timerLateMs: [] };
  if (PerformanceObserver.supportedEntryTypes.includes("longtask")) {
    new PerformanceObserver((list) => simMeasure.longTasks.push(...list.getEntries().map((e) => e.duration))).observe({ type: "longtask", buffered: true });
  }
  let expected = performance.now() + 10;
  setInterval(() => {
    const now = performance.now();
    simMeasure.timerLateMs.push(now - expected);
    expected = now + 10;
  }, 10);
}
const messages = document.getElementById("messages");
const input = document.getElementById("chat-input");
let lastPrompt = "";

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

// One request; calls onText(chunkText) as the body arrives, resolves with {status, contentType}.
function send(method, path, body, onText) {
  const headers = { "content-type": "application/json", "x-sim-run": RUN };
  // Continue carries no proof of work (late-2026 observations).
  if (path.endsWith("/completion") || path.endsWith("/regenerate")) {
    headers["x-ds-pow-response"] = btoa(JSON.stringify({ nonce: Math.random() }));
  }
  if (TRANSPORT === "xhr") {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      let seen = 0;
      xhr.open(method, path);
      for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
      const flush = () => {
        const text = xhr.responseText;
        if (text.length > seen) onText(text.slice(seen));
        seen = text.length;
      };
      xhr.onprogress = flush;
      xhr.onload = () => { flush(); resolve({ status: xhr.status, contentType: xhr.getResponseHeader("content-type") || "" }); };
      xhr.onerror = () => reject(new Error("network error"));
      xhr.send(body === undefined ? null : JSON.stringify(body));
    });
  }
  return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }).then(async (response) => {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      onText(decoder.decode(value, { stream: true }));
    }
    return { status: response.status, contentType: response.headers.get("content-type") || "" };
  });
}

// Applies DeepSeek's JSON patches (`p` path, `o` APPEND/SET/BATCH, `v` value) to a plain object.
function applyPatch(root, path, op, value) {
  if (op === "BATCH") {
    for (const sub of value) applyPatch(root, path + "/" + sub.p, sub.o, sub.v);
    return;
  }
  const keys = path.split("/").filter(Boolean);
  let node = root;
  for (const key of keys.slice(0, -1)) node = node[key] ??= {};
  const last = keys[keys.length - 1];
  if (op === "APPEND" && Array.isArray(node[last])) node[last].push(...value);
  else if (op === "APPEND" && typeof value === "string") node[last] = (node[last] || "") + value;
  else node[last] = value;
}

class Answer {
  constructor(container) {
    this.container = container;
    this.think = container.appendChild(element("div", "msg-think"));
    this.text = container.appendChild(element("div", "msg-assistant"));
    this.root = { response: {} };
    this.lastPath = "";
    this.error = null;
    this.finished = false;
    this.buffer = "";
    this.event = "";
    this.data = [];
  }

  feed(text) {
    this.buffer += text;
    const lines = this.buffer.split(/\r\n|\r|\n/);
    this.buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (this.data.length || this.event) this.frame(this.event, this.data.join("\n"));
        this.event = "";
        this.data = [];
      } else if (line.startsWith("event:")) this.event = line.slice(6).trim();
      else if (line.startsWith("data:")) this.data.push(line.slice(5).replace(/^ /, ""));
    }
    this.render();
  }

  frame(event, data) {
    if (data === "[DONE]") { this.finished = true; return; }
    let obj;
    try { obj = data ? JSON.parse(data) : {}; } catch { return; }
    if (event === "finish") { this.finished = true; return; }
    if (event === "close") { if (obj.click_behavior === "retry" && !this.error) this.error = "Something went wrong."; return; }
    if (event === "hint" || event === "toast") { if (obj.type === "error") this.error = obj.content; return; }
    if (obj.type === "error") { this.error = obj.content; return; }
    if (obj.v && obj.v.type === "error") { this.error = obj.v.content; return; }
    if (obj.code) { this.error = obj.msg; return; }
    if (obj.choices) {
      for (const choice of obj.choices) {
        const delta = choice.delta || {};
        const key = delta.type === "thinking" ? "thinking_content" : "content";
        if (delta.content) applyPatch(this.root, "response/" + key, "APPEND", delta.content);
        if (choice.finish_reason) this.finished = true;
      }
      return;
    }
    if (!("v" in obj)) return;
    if (obj.p) { this.lastPath = obj.p; this.lastOp = obj.o; }
    if (obj.p === undefined && typeof obj.v === "object" && obj.v !== null && !Array.isArray(obj.v)) {
      Object.assign(this.root, obj.v);
      return;
    }
    applyPatch(this.root, obj.p || this.lastPath, obj.o || (obj.p ? "SET" : "APPEND"), obj.v);
    const status = this.root.response && this.root.response.status;
    if (status === "FINISHED") this.finished = true;
    if (status === "INCOMPLETE") this.incomplete = true;
    if (status === "CONTENT_FILTER") this.error = "This content may violate our usage policies.";
  }

  render() {
    const response = this.root.response || {};
    const fragments = response.fragments || [];
    const think = fragments.filter((f) => f.type === "THINK").map((f) => f.content).join("") + (response.thinking_content || "");
    const answer = fragments.filter((f) => f.type === "RESPONSE" || f.type === "TEMPLATE_RESPONSE").map((f) => f.content).join("") + (response.content || "");
    this.think.textContent = think;
    this.think.hidden = !think;
    this.text.textContent = answer;
  }

  showError(message, retry) {
    const box = this.container.appendChild(element("div", "msg-error"));
    box.appendChild(element("span", "msg-error-text", message));
    const button = element("div", "ds-icon-button");
    button.setAttribute("role", "button");
    button.tabIndex = 0;
    button.appendChild(retryIcon());
    button.addEventListener("click", () => { box.remove(); retry(); });
    box.appendChild(button);
  }

  // A cut answer keeps its text; the app offers a secondary "Continue" button (继续生成).
  showContinue(message, resume) {
    const box = this.container.appendChild(element("div", "msg-error"));
    box.appendChild(element("span", "msg-error-text", message));
    const button = element("div", "ds-button ds-button--secondary", document.documentElement.lang.startsWith("zh") ? "继续生成" : "Continue");
    button.setAttribute("role", "button");
    button.tabIndex = 0;
    button.addEventListener("click", () => { box.remove(); resume(); });
    box.appendChild(button);
  }
}

// The retry icon as the live site draws it: the id 重新生成 ("regenerate") sits on a shape inside
// the svg (userscripts match `svg rect#重新生成`); the other forms are for older or redesigned pages.
function retryIcon() {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  for (const [k, v] of Object.entries({ width: "20", height: "20", viewBox: "0 0 20 20", "aria-hidden": "true" })) svg.setAttribute(k, v);
  const shape = svg.appendChild(document.createElementNS(NS, "rect"));
  for (const [k, v] of Object.entries({ width: "20", height: "20", fill: "none" })) shape.setAttribute(k, v);
  const arrow = svg.appendChild(document.createElementNS(NS, "path"));
  arrow.setAttribute("d", "M10 3a7 7 0 1 0 7 7h-2a5 5 0 1 1-1.5-3.5L11 9h6V3l-2.1 2.1A7 7 0 0 0 10 3z");
  arrow.setAttribute("fill", "currentColor");
  if (CONTROL_FORM === "svg") svg.id = "重新生成";
  else if (CONTROL_FORM === "label") svg.setAttribute("aria-label", "重新生成");
  else shape.id = "重新生成";
  if (CONTROL_FORM === "label") {
    const wrapper = element("span");
    wrapper.appendChild(svg);
    wrapper.setAttribute("aria-label", "重新生成");
    return wrapper;
  }
  return svg;
}

async function generate(container, path, attempt) {
  container.dataset.state = "streaming";
  container.dataset.attempts = String(attempt);
  container.replaceChildren();
  const answer = new Answer(container);
  // Continue re-sends the whole answer so far, then appends: it renders into a fresh answer.
  const body = path.endsWith("/continue")
    ? { chat_session_id: "sim", message_id: 2, fallback_to_resume: true }
    : { chat_session_id: "sim", parent_message_id: null, prompt: lastPrompt, ref_file_ids: [], thinking_enabled: false, search_enabled: false };
  let response;
  // Timings as the page sees them (read by `cargo xtask bench`): from the generation request to
  // its first and its last body text.
  let firstText = true;
  try {
    if (!path.endsWith("/continue")) await send("POST", "/api/v0/chat/create_pow_challenge", { target_path: path }, () => {});
    performance.mark("sim:request");
    response = await send("POST", path, body, (text) => {
      if (firstText) performance.mark("sim:first-text");
      firstText = false;
      answer.feed(text);
    });
    performance.mark("sim:last-text");
    answer.feed("\n\n");
  } catch {
    answer.error = "Network error. Please check your connection.";
  }
  if (response && !response.contentType.includes("text/event-stream") && !answer.error) {
    answer.error = response.status >= 400 ? "Server error " + response.status + "." : "Something went wrong.";
  }
  if (answer.incomplete && !answer.finished) {
    container.dataset.state = "incomplete";
    answer.showContinue(answer.error || "Connection interrupted.", () => generate(container, "/api/v0/chat/continue", attempt + 1));
  } else if (answer.error || !answer.finished) {
    container.dataset.state = "error";
    answer.showError(answer.error || "Connection interrupted.", () => generate(container, "/api/v0/chat/regenerate", attempt + 1));
  } else {
    container.dataset.state = "done";
    // Like the site, a finished answer keeps its own regenerate icon.
    const actions = container.appendChild(element("div", "msg-actions"));
    const button = actions.appendChild(element("div", "ds-icon-button"));
    button.setAttribute("role", "button");
    button.tabIndex = 0;
    button.appendChild(retryIcon());
    button.addEventListener("click", () => generate(container, "/api/v0/chat/regenerate", attempt + 1));
  }
}

document.getElementById("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const prompt = input.value.trim();
  if (!prompt) return;
  lastPrompt = prompt;
  input.value = "";
  const user = messages.appendChild(element("div", "msg-user ds-message", prompt));
  user.dataset.role = "user";
  generate(messages.appendChild(element("div", "msg ds-message")), "/api/v0/chat/completion", 1);
});

// Like the app: a new chat changes the address in place (no page load) and empties the list.
document.getElementById("new-chat").addEventListener("click", () => {
  history.pushState({}, "", `/${location.search}`);
  messages.replaceChildren();
});

// Like the app: a new chat (at "/") gets its own address once its first message is sent.
document.getElementById("composer").addEventListener("submit", () => {
  if (location.pathname === "/") history.replaceState({}, "", `/a/chat/s/${Math.random().toString(36).slice(2, 10)}${location.search}`);
});

// Like the app's virtualised list: scrolled far up, the newest messages leave the DOM (and come
// back when the user returns to the bottom).
let offscreen = [];
document.getElementById("older").addEventListener("click", () => {
  offscreen = [...messages.children].slice(-2);
  for (const block of offscreen) block.remove();
});
document.getElementById("latest").addEventListener("click", () => {
  messages.append(...offscreen);
  offscreen = [];
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    document.getElementById("composer").requestSubmit();
  }
});

send("GET", "/api/v0/users/current", undefined, (text) => {
  try {
    const body = JSON.parse(text);
    // Like the web app, a logged-in page keeps its token in localStorage `userToken`.
    if (body.code) localStorage.removeItem("userToken");
    else localStorage.setItem("userToken", JSON.stringify({ value: "sim-token", __version: "0" }));
    if (body.code) messages.appendChild(element("div", "msg-error", body.msg));
  } catch { /* partial or non-JSON: nothing to show */ }
});

// DeepSeek's own crash screen, which blames browser extensions.
if (CRASH_AFTER_MS > 0) {
  setTimeout(() => {
    const screen = element("div", "crash-screen");
    screen.append(element("h2", "", "页面崩溃可能与浏览器插件对页面内容的修改有关，请尝试禁用插件后刷新页面。"),
      element("p", "", "This page may have crashed due to changes made by certain browser extensions. Please try disabling extensions and refreshing the page."));
    document.body.replaceChildren(screen);
  }, CRASH_AFTER_MS);
}

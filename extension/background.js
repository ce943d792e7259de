// Unbusy's background (Chromium: module service worker; Firefox: module background script).
// It only connects the browser to the Rust core: every decision is made in `core.handle`.
import init, { Core } from "./core/unbusy.js";

const api = globalThis.browser || globalThis.chrome;
const CHAT_PAGES = "https://chat.deepseek.com/*";
const RECENT_EVENTS_KEY = "recentEvents";
const RECENT_EVENTS_LIMIT = 50;

// Listeners are registered synchronously below; the core is awaited inside them.
const core = init({ module_or_path: api.runtime.getURL("core/unbusy_bg.wasm") }).then(() => new Core());

// Recent verdicts live in session storage: they survive the worker being stopped, not the browser.
let recording = Promise.resolve();
function record(event) {
  recording = recording.then(async () => {
    const stored = await api.storage.session.get(RECENT_EVENTS_KEY);
    const events = [event, ...(stored[RECENT_EVENTS_KEY] || [])].slice(0, RECENT_EVENTS_LIMIT);
    await api.storage.session.set({ [RECENT_EVENTS_KEY]: events });
  }).catch(() => {});
  return recording;
}

api.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (sender.id !== api.runtime.id || !sender.tab) return false;
  const from = { tab_id: sender.tab.id, frame_id: sender.frameId || 0, incognito: Boolean(sender.tab.incognito), now_ms: Date.now() };
  core.then(async (c) => {
    const outcome = c.handle(message, from);
    if (outcome.record) await record(outcome.record);
    sendResponse(outcome.reply);
  }).catch(() => sendResponse(null));
  return true;
});

api.tabs.onRemoved.addListener((tabId) => { core.then((c) => c.forgetTab(tabId)); });

// Chromium does not run content scripts in tabs that were open before install or update:
// inject them (the hook hands over to the new relay, the old relay stands down).
// Firefox injects manifest content scripts into open tabs itself.
api.runtime.onInstalled.addListener(async () => {
  if (typeof globalThis.browser !== "undefined") return;
  const tabs = await api.tabs.query({ url: CHAT_PAGES });
  for (const tab of tabs) {
    const target = { tabId: tab.id, allFrames: false };
    api.scripting.executeScript({ target, files: ["hook.js"], world: "MAIN" })
      .then(() => api.scripting.executeScript({ target, files: ["relay.js"] }))
      .catch(() => {});
  }
});

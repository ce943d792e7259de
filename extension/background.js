// Unbusy's background (Chromium: module service worker; Firefox: module background script).
// It only connects the browser to the Rust core: every decision is made in `Core`.
import init, { Core } from "./core/unbusy.js";

const api = globalThis.browser || globalThis.chrome;
const CHAT_PAGES = "https://chat.deepseek.com/*";
const RECENT_EVENTS_KEY = "recentEvents";
const RECENT_EVENTS_LIMIT = 50;
const STATE_KEY = "hubState";
const HISTORY_KEY = "busyHistory";
const SETTINGS_KEY = "settings";
const BACKSTOP_ALARM = "retry-backstop";
const SILENCE_ALARM = "stream-silence";
const BADGES = { waiting: ["…", "#b45309"], recovered: ["✓", "#047857"], problem: ["!", "#b91c1c"] };

// Listeners are registered synchronously below; the core is awaited inside them. Its state lives
// in session storage, so a stopped and restarted background picks up where it was.
const core = init({ module_or_path: api.runtime.getURL("core/unbusy_bg.wasm") })
  .then(() => Promise.all([api.storage.session.get(STATE_KEY), api.storage.sync.get(SETTINGS_KEY), api.storage.local.get(HISTORY_KEY)]))
  .then(([session, sync, local]) => new Core(session[STATE_KEY], sync[SETTINGS_KEY], local[HISTORY_KEY]));

// Storage writes, one after another.
let writing = Promise.resolve();
function write(task) {
  writing = writing.then(task).catch(() => {});
  return writing;
}

function record(event) {
  return write(async () => {
    const stored = await api.storage.session.get(RECENT_EVENTS_KEY);
    const events = [event, ...(stored[RECENT_EVENTS_KEY] || [])].slice(0, RECENT_EVENTS_LIMIT);
    await api.storage.session.set({ [RECENT_EVENTS_KEY]: events });
  });
}

function setBadge(tabId, kind) {
  const [text, color] = BADGES[kind] || ["", "#000"];
  api.action.setBadgeText({ tabId, text }).catch(() => {});
  if (text) api.action.setBadgeBackgroundColor({ tabId, color }).catch(() => {});
}

async function announceRecovery(c, recovered) {
  setBadge(recovered.tab_id, "recovered");
  const permitted = api.notifications && c.settings().notify;
  if (!permitted) return;
  api.notifications.create(`recovered-${recovered.tab_id}`, {
    type: "basic",
    iconUrl: api.runtime.getURL("icons/icon-128.png"),
    title: api.i18n.getMessage("notifyRecoveredTitle"),
    message: api.i18n.getMessage("notifyRecovered", [String(recovered.attempts), String(Math.round(recovered.waited_ms / 1000))]),
  }).catch(() => {});
}

async function applyOutcome(c, outcome, tabId) {
  if (outcome.record) await record(outcome.record);
  if (outcome.persist) write(() => api.storage.session.set({ [STATE_KEY]: c.state() }));
  if (outcome.history_changed) write(() => api.storage.local.set({ [HISTORY_KEY]: c.history() }));
  if (outcome.alarm_at_ms) api.alarms.create(BACKSTOP_ALARM, { when: outcome.alarm_at_ms });
  if (outcome.silence_check_at_ms) api.alarms.create(SILENCE_ALARM, { when: outcome.silence_check_at_ms });
  if (outcome.recovered) announceRecovery(c, outcome.recovered);
  const reply = outcome.reply;
  if (reply && reply.type === "bg_verdict") {
    const action = reply.decision && reply.decision.action;
    setBadge(tabId, reply.verdict.kind === "ok" ? (outcome.recovered ? "recovered" : "") : action === "retry" || action === "await_resume" ? "waiting" : "problem");
  }
}

api.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (sender.id !== api.runtime.id) return false;
  const fromOwnPage = !sender.tab || (sender.url || "").startsWith(api.runtime.getURL(""));
  core.then(async (c) => {
    if (fromOwnPage) {
      const reply = c.handleUi(message);
      if (reply && reply.saved) await api.storage.sync.set({ [SETTINGS_KEY]: reply.settings });
      sendResponse(reply);
      return;
    }
    const from = { tab_id: sender.tab.id, frame_id: sender.frameId || 0, incognito: Boolean(sender.tab.incognito), now_ms: Date.now(), local_hour: new Date().getHours() };
    const outcome = c.handle(message, from);
    await applyOutcome(c, outcome, sender.tab.id);
    sendResponse(outcome.reply);
  }).catch(() => sendResponse(null));
  return true;
});

// Settings changed on another device (storage.sync) or in the options page.
api.storage.onChanged.addListener((changes, area) => {
  if (area === "sync" && changes[SETTINGS_KEY]) core.then((c) => c.applyStoredSettings(changes[SETTINGS_KEY].newValue));
});

// Backstop for a countdown whose page timer did not fire: poke the tabs whose retry is overdue.
api.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name === BACKSTOP_ALARM) {
    core.then((c) => {
      for (const tabId of c.overdueTabs(Date.now())) api.tabs.sendMessage(tabId, { type: "bg_retry_poke" }).catch(() => {});
    });
  }
  // Streams that went silent past the server's heartbeat limit: the core names them dead.
  if (alarm.name === SILENCE_ALARM) {
    core.then(async (c) => {
      for (const { tab_id: tabId, outcome } of c.stalled(Date.now())) {
        await applyOutcome(c, outcome, tabId);
        if (outcome.reply) api.tabs.sendMessage(tabId, outcome.reply).catch(() => {});
      }
    });
  }
});

api.tabs.onRemoved.addListener((tabId) => {
  core.then((c) => {
    c.forgetTab(tabId);
    write(() => api.storage.session.set({ [STATE_KEY]: c.state() }));
  });
});

// Chromium does not run content scripts in tabs that were open before install or update:
// inject them (the hook hands over to the new relay, the old relay stands down).
// Firefox injects manifest content scripts into open tabs itself.
api.runtime.onInstalled.addListener(async () => {
  if (api.runtime.getURL("").startsWith("moz-extension:")) return;
  const tabs = await api.tabs.query({ url: CHAT_PAGES });
  for (const tab of tabs) {
    const target = { tabId: tab.id, allFrames: false };
    api.scripting.executeScript({ target, files: ["hook.js"], world: "MAIN" })
      .then(() => api.scripting.executeScript({ target, files: ["relay.js"] }))
      .catch(() => {});
  }
});

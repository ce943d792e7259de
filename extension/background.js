// Unbusy's background (Chromium: module service worker; Firefox: module background script).
// It only connects the browser to the Rust core: every decision is made in `Core`.
import "./generated/protocol.js";
import init, { Core, reinitCore } from "./core/unbusy.js";

const api = globalThis.browser || globalThis.chrome;
const P = globalThis.UnbusyProtocol;
const { hubState: STATE_KEY, busyHistory: HISTORY_KEY, settings: SETTINGS_KEY, coreFaults: FAULTS_KEY, recentEvents: RECENT_EVENTS_KEY } = P.storage;
const BACKSTOP_ALARM = "retry-backstop";
const SILENCE_ALARM = "stream-silence";
const PAUSE_ALARM = "pause-end";
// A core that traps is replaced at most this often; past that it stays down until the window moves.
const MAX_RESTARTS = 3;
const RESTART_WINDOW_MS = 10 * 60 * 1000;

// Listeners are registered synchronously below; the core is awaited inside them. Its state lives
// in session storage, so a stopped and restarted background picks up where it was.
// The module is compiled once; a core that trapped is replaced by a fresh instance of it.
const wasmModule = fetch(api.runtime.getURL("core/unbusy_bg.wasm")).then((r) => r.arrayBuffer()).then((bytes) => WebAssembly.compile(bytes));
// Faults survive the worker being stopped: { count, last_ms, restarts: [times within the window] }.
let faults = { count: 0, last_ms: 0, restarts: [] };
const broken = new WeakSet();

async function startCore(fresh) {
  const module = await wasmModule;
  if (fresh) await init({ module_or_path: module });
  else await reinitCore(module);
  const [session, sync, local] = await Promise.all([api.storage.session.get([STATE_KEY, FAULTS_KEY]), api.storage.sync.get(SETTINGS_KEY), api.storage.local.get(HISTORY_KEY)]);
  if (fresh && session[FAULTS_KEY]) faults = { ...faults, ...session[FAULTS_KEY] };
  const c = new Core(session[STATE_KEY], sync[SETTINGS_KEY], local[HISTORY_KEY]);
  c.noteCoreFaults(faults.count, faults.last_ms);
  return c;
}

let core = startCore(true).catch(() => null);

// Runs `task` (calls into the core only) and returns its result; `null` if the core is down or
// faulted during the call. No call into the core throws by design: one that does trapped (the
// release build aborts on panic) or found the instance poisoned by a trap. That instance is
// dropped, and a fresh one is started from the stored state on the next call, at most
// MAX_RESTARTS times within RESTART_WINDOW_MS.
async function callCore(task) {
  const awaited = core;
  let c = await awaited;
  if (!c && core === awaited) {
    const now = Date.now();
    faults.restarts = faults.restarts.filter((t) => now - t < RESTART_WINDOW_MS);
    if (faults.restarts.length >= MAX_RESTARTS) return null;
    faults.restarts.push(now);
    core = startCore(false).catch(() => null);
  }
  if (!c) c = await core;
  if (!c || broken.has(c)) return null;
  try {
    return task(c);
  } catch {
    broken.add(c);
    faults.count += 1;
    faults.last_ms = Date.now();
    // Inert from now on: its finalizer must not free its pointer in the next instance.
    try { c.__destroy_into_raw(); } catch { /* nothing to undo */ }
    write(() => api.storage.session.set({ [FAULTS_KEY]: faults }));
    core = Promise.resolve(null);
    return null;
  }
}

// Storage writes, one after another.
let writing = Promise.resolve();
function write(task) {
  writing = writing.then(task).catch(() => {});
  return writing;
}

function record(event) {
  return write(async () => {
    const stored = await api.storage.session.get(RECENT_EVENTS_KEY);
    const events = [event, ...(stored[RECENT_EVENTS_KEY] || [])].slice(0, P.caps.recentEvents);
    await api.storage.session.set({ [RECENT_EVENTS_KEY]: events });
  });
}

// One tab's badge, or every tab's (no tab: the pause).
function setBadge(tabId, badge) {
  const where = tabId === undefined ? {} : { tabId };
  api.action.setBadgeText({ ...where, text: badge.text }).catch(() => {});
  if (badge.text) api.action.setBadgeBackgroundColor({ ...where, color: badge.color }).catch(() => {});
}

// The pause the user set in the popup: its badge, an alarm at its end, the views of the tabs
// whose countdown it ended.
function applyPause(pause) {
  setBadge(undefined, pause.badge);
  for (const { tab_id: tabId, view } of pause.tabs || []) api.tabs.sendMessage(tabId, view).catch(() => {});
  if (pause.until_ms) api.alarms.create(PAUSE_ALARM, { when: pause.until_ms });
  else api.alarms.clear(PAUSE_ALARM).catch(() => {});
  persist(api.storage.session, STATE_KEY, (c) => c.state());
}

// The core asks for a notification only if the user turned them on; the permission may be gone since.
function notify(notice) {
  const say = (text) => api.i18n.getMessage(text.key, text.args);
  if (!api.notifications) return;
  api.notifications.create(notice.id, { type: "basic", iconUrl: api.runtime.getURL("icons/icon-128.png"), title: say(notice.title), message: say(notice.message) }).catch(() => {});
}

// Stores what the core holds now (nothing if it faulted meanwhile: the last good copy stays).
function persist(area, key, read) {
  write(async () => {
    const value = await callCore(read);
    if (value) await area.set({ [key]: value });
  });
}

async function applyOutcome(outcome, tabId) {
  if (outcome.record) await record(outcome.record);
  if (outcome.persist) persist(api.storage.session, STATE_KEY, (c) => c.state());
  if (outcome.history_changed) persist(api.storage.local, HISTORY_KEY, (c) => c.history());
  if (outcome.alarm_at_ms) api.alarms.create(BACKSTOP_ALARM, { when: outcome.alarm_at_ms });
  if (outcome.silence_check_at_ms) api.alarms.create(SILENCE_ALARM, { when: outcome.silence_check_at_ms });
  if (outcome.badge) setBadge(tabId, outcome.badge);
  if (outcome.notice) notify(outcome.notice);
}

// What the core found without a message from the tab (alarms): applied, and its view sent to the tab.
async function deliver(found) {
  for (const { tab_id: tabId, outcome } of found || []) {
    await applyOutcome(outcome, tabId);
    if (outcome.reply) api.tabs.sendMessage(tabId, outcome.reply).catch(() => {});
  }
}

api.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (sender.id !== api.runtime.id) return false;
  const fromOwnPage = !sender.tab || (sender.url || "").startsWith(api.runtime.getURL(""));
  (async () => {
    if (fromOwnPage) {
      const reply = await callCore((c) => c.handleUi(message));
      if (reply && reply.saved) await api.storage.sync.set({ [SETTINGS_KEY]: reply.settings });
      if (reply && reply.type === P.types.bgPause) applyPause(reply);
      sendResponse(reply);
      return;
    }
    const from = { tab_id: sender.tab.id, frame_id: sender.frameId || 0, incognito: Boolean(sender.tab.incognito), now_ms: Date.now(), local_hour: new Date().getHours() };
    const outcome = await callCore((c) => c.handle(message, from));
    if (!outcome) { sendResponse(null); return; }
    await applyOutcome(outcome, sender.tab.id);
    sendResponse(outcome.reply);
  })().catch(() => sendResponse(null));
  return true;
});

// Settings changed on another device (storage.sync) or in the options page.
api.storage.onChanged.addListener((changes, area) => {
  if (area === "sync" && changes[SETTINGS_KEY]) callCore((c) => c.applyStoredSettings(changes[SETTINGS_KEY].newValue));
});

api.alarms.onAlarm.addListener((alarm) => {
  // Backstop for a timer the page did not run (a throttled hidden tab): the core acts for it.
  if (alarm.name === BACKSTOP_ALARM) callCore((c) => c.overdue(Date.now())).then(deliver);
  if (alarm.name === PAUSE_ALARM) callCore((c) => c.pauseState(Date.now())).then((pause) => pause && applyPause(pause));
  // Streams that went silent past the server's heartbeat limit: the core names them dead.
  if (alarm.name === SILENCE_ALARM) {
    callCore((c) => c.stalled(Date.now())).then((result) => {
      if (result && result.next_check_at_ms) api.alarms.create(SILENCE_ALARM, { when: result.next_check_at_ms });
      return deliver(result && result.found);
    });
  }
});

api.tabs.onRemoved.addListener((tabId) => {
  callCore((c) => c.forgetTab(tabId)).then(() => persist(api.storage.session, STATE_KEY, (c) => c.state()));
});

// Unbusy's background (Chromium: module service worker; Firefox: module background script).
// It only connects the browser to the Rust core: every decision is made in `Core`.
import "./generated/protocol.js";
import init, { Core, reinitCore } from "./core/unbusy.js";

const api = globalThis.browser || globalThis.chrome;
const P = globalThis.UnbusyProtocol;
const { hubState: STATE_KEY, busyHistory: HISTORY_KEY, settings: SETTINGS_KEY, coreFaults: FAULTS_KEY, recentEvents: RECENT_EVENTS_KEY } = P.storage;
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

// What the core asked for (src/effects.rs), carried out in order; resolves once its writes are done.
const EFFECTS = {
  record: ({ event }) => write(async () => {
    const stored = await api.storage.session.get(RECENT_EVENTS_KEY);
    await api.storage.session.set({ [RECENT_EVENTS_KEY]: [event, ...(stored[RECENT_EVENTS_KEY] || [])].slice(0, P.caps.recentEvents) });
  }),
  store: ({ area, key, value }) => write(() => api.storage[area].set({ [key]: value })),
  alarm: ({ name, at_ms: at }) => (at ? api.alarms.create(name, { when: at }) : api.alarms.clear(name)),
  badge: ({ text, color }) => Promise.all([api.action.setBadgeText(text), color && api.action.setBadgeBackgroundColor(color)]),
  // Asked for only if the user turned notifications on; the permission may be gone since.
  notify: ({ notice }) => api.notifications && api.notifications.create(notice.id, {
    type: "basic", iconUrl: api.runtime.getURL("icons/icon-128.png"),
    title: api.i18n.getMessage(notice.title.key, notice.title.args), message: api.i18n.getMessage(notice.message.key, notice.message.args),
  }),
  send: ({ tab_id: tabId, message }) => api.tabs.sendMessage(tabId, message),
  // The panel works only with the token of its opening (ui/src/panel.rs takes it once).
  open_panel: async ({ tab_id: tabId }) => {
    const token = crypto.randomUUID();
    await api.storage.session.set({ [`${P.storage.apiPanel}:${token}`]: tabId });
    const url = api.runtime.getURL(`panel.html#${token}`);
    return api.windows ? api.windows.create({ url, type: "popup", width: 560, height: 720 }) : api.tabs.create({ url });
  },
};
function perform(effects) {
  // Each started now, in order (a throw or a rejection stops only its own effect).
  for (const effect of effects || []) new Promise((done) => done(EFFECTS[effect.do](effect))).catch(() => {});
  return writing;
}

api.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (sender.id !== api.runtime.id) return false;
  const fromOwnPage = !sender.tab || (sender.url || "").startsWith(api.runtime.getURL(""));
  const from = !fromOwnPage && { tab_id: sender.tab.id, frame_id: sender.frameId || 0, incognito: Boolean(sender.tab.incognito), now_ms: Date.now(), local_hour: new Date().getHours() };
  callCore((c) => (fromOwnPage ? c.handleUi(message) : c.handle(message, from)))
    .then(async (result) => { await perform(result && result.effects); sendResponse(result ? result.reply : null); })
    .catch(() => sendResponse(null));
  return true;
});

// Settings changed on another device (storage.sync) or in the options page.
api.storage.onChanged.addListener((changes, area) => {
  if (area === "sync" && changes[SETTINGS_KEY]) callCore((c) => c.applyStoredSettings(changes[SETTINGS_KEY].newValue));
});

api.alarms.onAlarm.addListener((alarm) => { callCore((c) => c.alarm(alarm.name, Date.now())).then(perform); });

api.tabs.onRemoved.addListener((tabId) => { callCore((c) => c.forgetTab(tabId)).then(perform); });

// The popup: it gathers what the browser lets it see (each part only with its permission), asks
// the background for what only it knows (ui_facts), has its own WASM module (ui/) build the whole
// view from both, and renders it. The analysis and ranking are in Rust.
import init, { diagnose } from "./ui/unbusy_ui.js";

const api = globalThis.browser || globalThis.chrome;
const ready = init();
// Not `typeof browser`: recent Chromium defines `browser` too.
const IS_FIREFOX = api.runtime.getURL("").startsWith("moz-extension:");
const CHAT = "https://chat.deepseek.com/*";
const STATUS_ORIGIN = "https://status.deepseek.com/*";
const t = (key, args) => api.i18n.getMessage(key, (args || []).map(String)) || key;
const $ = (id) => document.getElementById(id);

for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
document.documentElement.lang = api.i18n.getUILanguage();

let lastView = null;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const hasPermission = (permissions) => api.permissions.contains(permissions).catch(() => false);

async function gather() {
  const [session, local, platform] = await Promise.all([
    api.storage.session.get(["recentEvents", "statusIncident"]),
    api.storage.local.get("cookieFirstSeen"),
    api.runtime.getPlatformInfo(),
  ]);
  const input = {
    recent: session.recentEvents || [],
    first_seen: local.cookieFirstSeen || {},
    os: platform.os,
    now_ms: Date.now(),
    self_id: api.runtime.id,
    version: api.runtime.getManifest().version,
    status_incident: session.statusIncident ?? null,
    // A tab Unbusy never heard from was open before it was installed (or updated): the core says so.
    // Only loaded tabs: one still loading, or restored but not loaded yet, has not run Unbusy's scripts yet.
    chat_tabs: (await chatTabs()).filter((tab) => !tab.discarded && tab.status === "complete").map((tab) => tab.id),
  };
  if (api.management && (await hasPermission({ permissions: ["management"] }))) {
    input.extensions = (await api.management.getAll()).map((e) => ({
      id: e.id, name: e.name, enabled: e.enabled, type: e.type, permissions: e.permissions || [], hostPermissions: e.hostPermissions || [],
    }));
  }
  if (api.cookies) {
    // Names, places and sizes only: cookie values never leave this function.
    const jar = await api.cookies.getAll({ domain: "deepseek.com" }).catch(() => null);
    if (jar) input.cookies = jar.map((c) => ({ name: c.name, domain: c.domain, path: c.path, size: c.name.length + c.value.length, expires_ms: c.session ? null : c.expirationDate * 1000 }));
  }
  return input;
}

async function refresh() {
  const [input, reply] = await Promise.all([gather(), api.runtime.sendMessage({ type: globalThis.UnbusyProtocol.types.uiFacts }), ready]);
  if (!reply || reply.type !== globalThis.UnbusyProtocol.types.bgFacts) return;
  const built = diagnose(input, reply.facts);
  await api.storage.local.set({ cookieFirstSeen: built.first_seen });
  lastView = built.view;
  render(built.view);
}

function notice(text) { $("notice").textContent = text; }

function actionButton(action) {
  const button = el("button", "", t(`action_${action.kind}`));
  button.type = "button";
  button.dataset.action = action.kind;
  button.addEventListener("click", () => run(action).catch(() => notice(t("permissionDenied"))));
  return button;
}

function card(item, list) {
  const li = el("li");
  li.dataset.id = item.id;
  const title = el("span", "title", t(item.title, item.args));
  const tag = el("span", "tag", t(`likelihood_${item.likelihood}`));
  tag.dataset.likelihood = item.likelihood;
  li.append(title, tag, el("p", "why", t(item.why)));
  const copy = item.actions.find((a) => a.kind === "copy_text");
  if (copy) li.append(el("code", "", copy.text));
  if (item.actions.length) {
    const row = el("div", "row");
    row.append(...item.actions.map(actionButton));
    li.append(row);
  }
  list.append(li);
}

function render(view) {
  $("glance").dataset.tone = view.glance.tone;
  $("glance-text").textContent = t(view.glance.sentence, view.glance.args);

  const paused = view.paused_until_ms > 0;
  $("pause-text").textContent = paused ? t("popupPausedUntil", [new Date(view.paused_until_ms).toLocaleTimeString(api.i18n.getUILanguage(), { hour: "2-digit", minute: "2-digit" })]) : "";
  $("pause-button").textContent = t(paused ? "popupResume" : "popupPauseHour");
  $("pause-button").dataset.paused = String(paused);

  $("retries-section").hidden = view.retries.length === 0;
  $("retries").replaceChildren(...view.retries.map((r) => el("li", "", t("popupRetryLine", [r.tab_id, r.attempt, Math.max(0, Math.ceil((r.due_ms - Date.now()) / 1000))]))));

  const findings = $("findings");
  findings.replaceChildren();
  view.findings.forEach((f) => card(f, findings));
  $("no-findings").hidden = view.findings.length > 0;

  // Fixes that are unlikely to help stay one click away, still with their "why".
  const fixes = $("fixes");
  const moreFixes = $("more-fixes");
  fixes.replaceChildren();
  moreFixes.replaceChildren();
  view.fixes.forEach((f) => card(f, f.likelihood === "unlikely" ? moreFixes : fixes));
  $("more-fixes-box").hidden = moreFixes.children.length === 0;

  const chart = $("chart");
  chart.replaceChildren();
  const known = view.chart.filter((h) => h.total >= 3).length;
  $("chart-empty").hidden = known > 0;
  chart.hidden = known === 0;
  chart.setAttribute("aria-label", known ? view.chart.map((h, hour) => (h.total ? `${hour}:00 ${Math.round((100 * h.busy) / h.total)}%` : "")).filter(Boolean).join(", ") : t("popupChartEmpty"));
  view.chart.forEach((h) => {
    const bar = el("div", "bar");
    bar.dataset.known = String(h.total >= 3);
    bar.style.height = `${h.total ? Math.max(4, Math.round((100 * h.busy) / h.total)) : 4}%`;
    chart.append(bar);
  });

  const events = $("events");
  events.replaceChildren();
  $("empty").hidden = view.recent.length > 0;
  for (const line of view.recent) {
    const item = el("li");
    const time = el("time", "", new Date(line.at_ms).toLocaleTimeString());
    time.dateTime = new Date(line.at_ms).toISOString();
    const what = el("span", "label", [t(line.what.key, line.what.args), line.ended && t(line.ended.key, line.ended.args)].filter(Boolean).join(" — "));
    what.dataset.tone = line.tone;
    item.append(time, what, el("span", "route", line.place));
    events.append(item);
  }
}

async function chatTabs() {
  return api.tabs.query({ url: CHAT });
}

async function clearSiteData() {
  const dialog = $("clear-dialog");
  $("clear-text").textContent = t(IS_FIREFOX ? "clearFirefox" : "clearChrome");
  dialog.showModal();
  const confirmed = await new Promise((resolve) => {
    $("clear-confirm").onclick = () => { dialog.close(); resolve(true); };
    $("clear-cancel").onclick = () => { dialog.close(); resolve(false); };
    dialog.oncancel = () => resolve(false);
  });
  if (!confirmed) return;
  // Asked on this click only (optional permission).
  if (!(await api.permissions.request({ permissions: ["browsingData"] }))) return notice(t("permissionDenied"));
  const what = { cookies: true, localStorage: true };
  if (IS_FIREFOX) {
    await api.browsingData.remove({ hostnames: ["deepseek.com", "chat.deepseek.com"] }, what);
  } else {
    await api.browsingData.remove({ origins: ["https://chat.deepseek.com", "https://deepseek.com"] }, { ...what, cacheStorage: true, cache: true, serviceWorkers: true, indexedDB: true });
  }
  notice(t("clearDone"));
  await refresh();
}

async function checkStatus() {
  if (!(await api.permissions.request({ origins: [STATUS_ORIGIN] }))) return notice(t("permissionDenied"));
  try {
    // Statuspage's public summary; the one request Unbusy makes itself, once per click.
    const response = await fetch("https://status.deepseek.com/api/v2/status.json", { credentials: "omit", cache: "no-store" });
    const body = await response.json();
    const incident = Boolean(body.status && body.status.indicator && body.status.indicator !== "none");
    await api.storage.session.set({ statusIncident: incident });
    notice(t(incident ? "statusResultIncident" : "statusResultOk"));
  } catch {
    notice(t("statusResultFailed"));
  }
  await refresh();
}

async function run(action) {
  switch (action.kind) {
    case "check_extensions":
      if (!(await api.permissions.request({ permissions: ["management"] }))) return notice(t("permissionDenied"));
      return refresh();
    case "open_extension":
      if (IS_FIREFOX) return notice(t("firefoxExtensionSteps"));
      return api.tabs.create({ url: `chrome://extensions/?id=${encodeURIComponent(action.id)}` });
    case "clear_site_data":
      return clearSiteData();
    case "hard_refresh":
      for (const tab of await chatTabs()) await api.tabs.reload(tab.id, { bypassCache: true });
      return;
    case "new_chat": {
      const [tab] = await chatTabs();
      return tab ? api.tabs.update(tab.id, { url: "https://chat.deepseek.com/", active: true }) : api.tabs.create({ url: "https://chat.deepseek.com/" });
    }
    case "copy_text":
      await navigator.clipboard.writeText(action.text);
      return notice(t("popupCopied"));
    case "check_status":
      return checkStatus();
    case "open_url":
      return api.tabs.create({ url: action.url });
    default:
      return undefined;
  }
}

// One click pauses every automatic retry for an hour; the next ends the pause.
$("pause-button").addEventListener("click", async () => {
  const types = globalThis.UnbusyProtocol.types;
  await api.runtime.sendMessage($("pause-button").dataset.paused === "true" ? { type: types.uiResume } : { type: types.uiPause, minutes: 60 });
  await refresh();
});

$("copy-report").addEventListener("click", async () => {
  if (!lastView) return;
  await navigator.clipboard.writeText(lastView.report).then(() => notice(t("popupCopied")), () => notice(lastView.report));
});

refresh();
api.storage.onChanged.addListener((changes, area) => { if (area === "session" && changes.recentEvents) refresh(); });

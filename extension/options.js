// Options: every change is sent to the background, where the core validates it; it is saved
// (storage.sync) only if valid, and applied at once without a reload.
const api = globalThis.browser || globalThis.chrome;
const form = document.getElementById("settings");
const result = document.getElementById("result");

for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = api.i18n.getMessage(node.dataset.i18n) || node.textContent;
document.documentElement.lang = api.i18n.getUILanguage();

function fill(settings) {
  form.auto_retry.checked = settings.auto_retry;
  form.max_attempts.value = settings.max_attempts;
  form.delay_scale.value = settings.delay_scale;
  form.deadline_minutes.value = settings.deadline_minutes;
  form.hidden_tabs.value = settings.hidden_tabs;
  form.notify.checked = settings.notify;
}

function read() {
  return {
    auto_retry: form.auto_retry.checked,
    max_attempts: Number(form.max_attempts.value),
    delay_scale: Number(form.delay_scale.value),
    deadline_minutes: Number(form.deadline_minutes.value),
    hidden_tabs: form.hidden_tabs.value,
    notify: form.notify.checked,
  };
}

async function save() {
  const settings = read();
  // Notifications are an optional permission, asked for on this click only.
  if (settings.notify && api.permissions) {
    const granted = await api.permissions.request({ permissions: ["notifications"] }).catch(() => false);
    if (!granted) { settings.notify = false; form.notify.checked = false; result.textContent = api.i18n.getMessage("optPermissionDenied"); }
  }
  const reply = await api.runtime.sendMessage({ type: globalThis.UnbusyProtocol.types.uiSaveSettings, settings });
  if (!reply) return;
  if (reply.saved) {
    if (!settings.notify || result.textContent === "") result.textContent = api.i18n.getMessage("optSaved");
  } else {
    result.textContent = reply.problems.map((p) => api.i18n.getMessage("optRejected", [p.field, p.message])).join(" ");
    fill(reply.settings);
  }
}

form.addEventListener("change", () => { result.textContent = ""; save(); });
form.addEventListener("submit", (event) => event.preventDefault());
api.runtime.sendMessage({ type: globalThis.UnbusyProtocol.types.uiGetSettings }).then((reply) => reply && fill(reply.settings));

// The popup: recent verdicts, as the background recorded them.
const api = globalThis.browser || globalThis.chrome;

for (const node of document.querySelectorAll("[data-i18n]")) {
  node.textContent = api.i18n.getMessage(node.dataset.i18n) || node.textContent;
}
document.documentElement.lang = api.i18n.getUILanguage();

function render(events) {
  const list = document.getElementById("events");
  list.replaceChildren();
  document.getElementById("empty").hidden = events.length > 0;
  for (const event of events) {
    const item = document.createElement("li");
    const time = document.createElement("time");
    time.dateTime = new Date(event.at_ms).toISOString();
    time.textContent = new Date(event.at_ms).toLocaleTimeString();
    const label = document.createElement("span");
    label.className = "label";
    label.dataset.kind = event.verdict.kind;
    label.textContent = event.label;
    const route = document.createElement("span");
    route.className = "route";
    route.textContent = `${event.route} · ${event.transport} · tab ${event.tab_id}`;
    item.append(time, label, route);
    list.append(item);
  }
}

const KEY = "recentEvents";
api.storage.session.get(KEY).then((stored) => render(stored[KEY] || []));
api.storage.onChanged.addListener((changes, area) => { if (area === "session" && changes[KEY]) render(changes[KEY].newValue || []); });

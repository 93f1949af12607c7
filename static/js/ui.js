// DOM helpers. Everything a caller or operator typed goes in as text, never as HTML: hostile
// input stays inert (no innerHTML anywhere in the consoles).

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "className") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function byId(id) {
  return document.getElementById(id);
}

// Times are shown in WIB whatever the workstation's clock zone.
const timeFormat = new Intl.DateTimeFormat(document.documentElement.lang || "id", {
  timeZone: "Asia/Jakarta",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  day: "2-digit",
  month: "short",
});

export function wib(iso) {
  return iso ? `${timeFormat.format(new Date(iso))} WIB` : "—";
}

export function age(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - new Date(iso)) / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

export const STATUS_LABELS = () => ({
  new: gettext("New"),
  dispatched: gettext("Dispatched"),
  in_progress: gettext("In progress"),
  resolved: gettext("Resolved"),
  closed: gettext("Closed"),
  cancelled: gettext("Cancelled"),
  pending: gettext("Awaiting acknowledgement"),
  acknowledged: gettext("Acknowledged"),
  en_route: gettext("En route"),
  on_scene: gettext("On scene"),
  completed: gettext("Completed"),
  declined: gettext("Declined"),
  ringing: gettext("Ringing"),
  "in-progress": gettext("In call"),
  received: gettext("SMS received"),
  busy: gettext("Busy"),
  failed: gettext("Failed"),
  "no-answer": gettext("No answer"),
  canceled: gettext("Hung up"),
  queued: gettext("Queued"),
});

export function statusLabel(status) {
  return STATUS_LABELS()[status] || status;
}

export function badge(status) {
  return el("span", { className: `badge s-${status}` }, statusLabel(status));
}

// Re-render at most once per frame however many events arrive.
export function scheduler(render) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      render();
    });
  };
}

// One timeline entry, worded for people.
export function timelineItem(event) {
  const data = event.data || {};
  const what = data.assignment
    ? `${data.assignment.agency}: ${statusLabel(data.assignment.status)}`
    : data.call
      ? `${gettext("Call")} ${data.call.from_number}: ${statusLabel(data.call.status)}`
      : data.incident
        ? statusLabel(data.incident.status)
        : "";
  const note = data.note ? ` — ${data.note}` : "";
  return el(
    "li",
    { dataset: { seq: event.seq } },
    el("time", { datetime: event.at }, wib(event.at)),
    " ",
    el("code", {}, event.event || event.type),
    " ",
    what + note,
    event.actor ? el("span", { className: "actor" }, ` · ${event.actor}`) : null,
  );
}

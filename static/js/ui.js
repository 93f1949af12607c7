// DOM helpers. Everything a caller or operator typed goes in as text, never as HTML: hostile
// input stays inert (no innerHTML anywhere in the consoles).

import { label } from "./config.js";

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

// A value's label from the server, kind as in config.js's label().
export function badge(kind, status) {
  return el("span", { className: `badge s-${status}` }, label(kind, status));
}

// Rebuild a list only when what it shows changed, and give back the focus a rebuild took away
// (an operator tabbing through callers must not lose their place to an unrelated event).
export function patchList(list, signature, build) {
  if (list.dataset.signature === signature) return;
  list.dataset.signature = signature;
  const active = list.contains(document.activeElement) ? document.activeElement : null;
  list.replaceChildren(...build());
  if (!active) return;
  // The same element (a form is kept), else its successor with the same data-focus.
  const again = active.isConnected ? active : active.dataset.focus && list.querySelector(`[data-focus="${active.dataset.focus}"]`);
  again?.focus();
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

// Elapsed and remaining times that keep counting: a span marked with data-since (time since)
// or data-until (time left); one ticker a second rewrites only these texts, never the lists.
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(hours ? 2 : 1, "0");
  const ss = String(s % 60).padStart(2, "0");
  return hours ? `${hours}:${mm}:${ss}` : `${mm}:${ss}`;
}

function secondsSince(iso) {
  return (Date.now() - new Date(iso).getTime()) / 1000;
}

const TICK_FORMATS = {
  age: (iso) => age(iso),
  clock: (iso) => clock(secondsSince(iso)),
  left: (iso) => clock(-secondsSince(iso)),
};

function tickText(node) {
  const { since, until, format } = node.dataset;
  if (until) return TICK_FORMATS.left(until);
  return (TICK_FORMATS[format] || TICK_FORMATS.age)(since);
}

// <span data-since=ISO> "42s" (format "age") or "0:42" (format "clock"); <span data-until=ISO>
// "1:05" left.
export function ticking(iso, { format = "age", until = false, className = "tick" } = {}) {
  const node = el("span", { className, dataset: until ? { until: iso } : { since: iso, format } });
  node.textContent = tickText(node);
  return node;
}

export function startTicker(onTick = () => {}) {
  const tick = () => {
    document.querySelectorAll("[data-since], [data-until]").forEach((node) => {
      const text = tickText(node);
      if (node.textContent !== text) node.textContent = text;
    });
    onTick();
  };
  tick();
  return setInterval(tick, 1000);
}

// One timeline entry, worded for people: a sentence, with the event's code kept in data-event
// (and the title) for tests and for whoever debugs. Every event, live, replayed or fetched with
// the timeline, has the same envelope; its `event` is the timeline type.
export function timelineItem(event, previousCall) {
  const code = event.event;
  return el(
    "li",
    { dataset: { seq: event.seq, event: code }, title: code },
    el("time", { datetime: event.at }, wib(event.at)),
    " ",
    describeEvent(event, previousCall),
    event.actor ? el("span", { className: "actor" }, ` · ${event.actor}`) : null,
  );
}

function say(format, values) {
  return interpolate(format, values, true);
}

// A translated sentence with nodes in its %(name)s places (a reference kept on one line, a
// ticking age), for el(); the translation decides the word order.
export function sayWith(format, values) {
  return format.split(/(%\(\w+\)s)/).map((part) => {
    const name = /^%\((\w+)\)s$/.exec(part)?.[1];
    return name && name in values ? values[name] : part;
  });
}

export function callerNumber(call) {
  return call.direction === "outbound" ? call.to_number : call.from_number;
}

const ESCALATION_SENTENCES = () => ({
  notify_agency: gettext("%(agency)s has not acknowledged — the agency's console is alerted again"),
  sms_agency: gettext("%(agency)s has not acknowledged — SMS to the duty officer sent"),
  notify_supervisors: gettext("%(agency)s has not acknowledged — supervisors alerted"),
  call_agency: gettext("%(agency)s has not acknowledged — calling the duty officer"),
  reroute: gettext("%(agency)s has not acknowledged — incident taken back"),
});

const ASSIGNMENT_SENTENCES = () => ({
  created: gettext("%(agency)s notified: waiting for acknowledgement"),
  acknowledged: gettext("%(agency)s acknowledged"),
  en_route: gettext("%(agency)s is on the way"),
  on_scene: gettext("%(agency)s is on scene"),
  completed: gettext("%(agency)s completed its work"),
  declined: gettext("%(agency)s declined"),
  cancelled: gettext("%(agency)s's assignment cancelled"),
});

const INCIDENT_SENTENCES = () => ({
  created: gettext("Incident opened"),
  new: gettext("Incident reopened"),
  dispatched: gettext("Incident dispatched"),
  in_progress: gettext("Incident in progress"),
  resolved: gettext("Incident resolved"),
  closed: gettext("Incident closed"),
  cancelled: gettext("Incident cancelled"),
  merged: gettext("Closed as a duplicate of another incident"),
  unroutable: gettext("No routing rule matches: choose the agencies by hand."),
});

const FIELD_NAMES = () => ({
  category: gettext("category"),
  priority: gettext("priority"),
  area: gettext("location"),
  address: gettext("address"),
  description: gettext("description"),
  caller_name: gettext("caller name"),
  caller_phone: gettext("caller phone"),
  status: gettext("status"),
});

function describeCall(event, previous) {
  const call = event.data.call;
  const number = callerNumber(call);
  const before = previous || {};
  if (event.event === "call.created" || !previous) {
    if (call.channel === "sms") return say(gettext("SMS from %(number)s"), { number });
    if (call.direction === "outbound") return say(gettext("Calling %(number)s back"), { number });
    if (event.event === "call.created") return say(gettext("Call from %(number)s"), { number });
  }
  if (call.classification && call.classification !== before.classification) {
    return say(gettext("Call from %(number)s classified as %(classification)s"), {
      number,
      classification: label("classification", call.classification),
    });
  }
  if (before.missed && !call.missed) {
    if (call.missed_settlement === "resolved") {
      return say(gettext("Missed call from %(number)s resolved: %(reason)s"), { number, reason: call.missed_reason });
    }
    return say(gettext("Missed call from %(number)s settled: the caller was reached"), { number });
  }
  if (call.missed && !before.missed) return say(gettext("Missed call: %(number)s hung up before anybody answered"), { number });
  if (call.queue_state !== before.queue_state || call.picked_up_by !== before.picked_up_by) {
    if (call.queue_state === "connected" && call.direction === "outbound") {
      return say(gettext("Call-back to %(number)s connected (%(user)s)"), { number, user: call.picked_up_by });
    }
    // Picked up (the operator's phone rings), then connected (they talk).
    if (call.queue_state === "connecting") {
      return say(gettext("Call from %(number)s picked up by %(user)s"), { number, user: call.picked_up_by });
    }
    if (call.queue_state === "connected") {
      return say(gettext("Call from %(number)s connected to %(user)s"), { number, user: call.picked_up_by });
    }
    if (call.queue_state === "waiting" && before.queue_state) {
      return say(gettext("Caller %(number)s is back in the queue"), { number });
    }
    if (call.queue_state === "waiting") return say(gettext("Caller %(number)s is waiting for an operator"), { number });
    if (call.queue_state === "ended") return say(gettext("Call with %(number)s ended"), { number });
  }
  return say(gettext("Call from %(number)s: %(status)s"), { number, status: label("call", call.status) });
}

function describeNotification(notification) {
  const values = { recipient: notification.recipient || "—", error: notification.error || "" };
  const sms = notification.channel === "sms";
  if (notification.status === "sent") {
    return say(sms ? gettext("SMS to %(recipient)s delivered") : gettext("Call to %(recipient)s placed"), values);
  }
  if (notification.status === "failed") {
    return say(sms ? gettext("SMS to %(recipient)s failed: %(error)s") : gettext("Call to %(recipient)s failed: %(error)s"), values);
  }
  return say(sms ? gettext("SMS to %(recipient)s will be tried again") : gettext("Call to %(recipient)s will be tried again"), values);
}

// A text of the conversation, in the timeline: its first words, so the timeline reads as a
// record without repeating the conversation panel.
function describeMessage(action, message) {
  const words = message.body.length > 60 ? `${message.body.slice(0, 60)}…` : message.body;
  if (action === "message_received") return say(gettext("SMS from the caller: “%(text)s”"), { text: words });
  if (action === "message_sent") return say(gettext("SMS to the caller: “%(text)s”"), { text: words });
  return say(gettext("SMS to the caller: %(status)s"), { status: label("message", message.status) });
}

export function describeEvent(event, previousCall) {
  const data = event.data || {};
  const code = event.event;
  const [kind, action] = code.split(".");
  const note = data.note ? ` — ${data.note}` : "";
  if (kind === "escalation") {
    const sentence = ESCALATION_SENTENCES()[data.step?.action] || gettext("%(agency)s has not acknowledged — escalated");
    return say(sentence, { agency: data.assignment?.agency || "" });
  }
  if (kind === "notification" && data.notification) return describeNotification(data.notification);
  if (kind === "call" && data.call) return describeCall(event, previousCall);
  if (kind === "assignment" && data.assignment) {
    const agency = data.assignment.agency;
    if (action === "cancelled" && data.reason === "escalation") {
      return say(gettext("Taken back from %(agency)s: not acknowledged in time"), { agency });
    }
    if (action === "created" && data.rerouted_from) return say(gettext("Rerouted to %(agency)s"), { agency });
    const sentence = ASSIGNMENT_SENTENCES()[action] || gettext("%(agency)s: %(status)s");
    return say(sentence, { agency, status: label("assignment", data.assignment.status) }) + note;
  }
  if (kind === "incident") {
    if (action.startsWith("message_") && data.message) return describeMessage(action, data.message);
    if (action === "dispatched") {
      const agencies = (data.agencies || []).join(", ");
      return agencies ? say(gettext("Incident dispatched to %(agencies)s"), { agencies }) : INCIDENT_SENTENCES().dispatched;
    }
    if (action === "updated") return describeUpdate(data);
    if (action === "closed" && data.incident?.close_reason) {
      return say(gettext("Incident closed: %(reason)s"), { reason: label("close_reason", data.incident.close_reason) }) + note;
    }
    return (INCIDENT_SENTENCES()[action] || label("incident", data.incident?.status || action)) + note;
  }
  return gettext("Update") + note;
}

// An operator's edit names its fields; a handset position, a merge and a linked call say what
// happened instead.
function describeUpdate(data) {
  const changed = data.changed || [];
  if (changed.includes("aml_at")) return gettext("Position received from the caller's handset (AML)");
  if (data.merged_from) return gettext("A duplicate incident was merged into this one");
  if (data.calls && !changed.length) return gettext("Another call joined this incident");
  const names = FIELD_NAMES();
  const fields = changed.map((field) => names[field] || field).join(", ");
  return fields ? say(gettext("Details changed: %(fields)s"), { fields }) : gettext("Details changed");
}

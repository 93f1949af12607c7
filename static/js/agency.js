// The agency console: this agency's queue. A new assignment stands out and sounds an alert
// until someone acknowledges it; staff then report progress or decline with a reason.

import { api, explain, fetchAll } from "./api.js";
import { config, label } from "./config.js";
import { LiveFeed, showConnection } from "./live.js";
import { IncidentMap } from "./map.js";
import { storeIncident, Timeline, upsert } from "./store.js";
import { badge, byId, el, scheduler, startTicker, ticking, wib } from "./ui.js";
import { Alarm } from "./alarm.js";

const ACTIVE = config.assignment.active;
const FINISHED = Object.keys(config.assignment.labels).filter((status) => !ACTIVE.includes(status));
// How many finished assignments the console keeps to look back on.
const DONE_SHOWN = 50;

// The reports the server accepts from this status. It takes progress on a waiting assignment
// too, but here progress starts with an acknowledgement: one stray click must not close a
// waiting incident.
function allowedReports(assignment) {
  const reports = config.assignment.reports[assignment.status] || [];
  return assignment.status === "pending" ? reports.filter((report) => report === "declined") : reports;
}

const state = {
  assignments: new Map(),
  incidents: new Map(),
  areas: new Map(),
  categories: new Map(),
  selectedId: null,
};
const alarm = new Alarm({ onChange: () => rerender() });
const timeline = new Timeline();
const incidentMap = new IncidentMap(byId("a-map"));

function areaLabel(code) {
  const area = state.areas.get(code);
  if (!area) return code || "—";
  const parent = state.areas.get(area.parent);
  const kecamatan = (name) => interpolate(gettext("Kec. %(name)s"), { name }, true);
  return parent ? `${area.name}, ${kecamatan(parent.name)}` : kecamatan(area.name);
}

function categoryLabel(code) {
  return state.categories.get(code)?.name || code || "—";
}

async function ensureIncident(id) {
  if (!state.incidents.has(id)) storeIncident(state, await api(`/api/v1/incidents/${id}/`));
}

function queue() {
  const rank = (a) => (a.status === "pending" ? 0 : 1);
  return [...state.assignments.values()]
    .filter((a) => ACTIVE.includes(a.status))
    .sort((a, b) => rank(a) - rank(b) || a.created_at.localeCompare(b.created_at));
}

function waiting() {
  return queue().filter((a) => a.status === "pending");
}

function finished() {
  const at = (a) => a.completed_at || a.declined_at || a.updated_at;
  return [...state.assignments.values()]
    .filter((a) => FINISHED.includes(a.status))
    .sort((a, b) => at(b).localeCompare(at(a)))
    .slice(0, DONE_SHOWN);
}

// Unacknowledged work fills the top of the screen, flashing, each card with its wait ticking
// and the key that takes it: nobody can overlook it beside an empty panel.
function renderWaitingWork() {
  const cards = waiting();
  byId("waiting-work").hidden = cards.length === 0;
  byId("waiting-cards").replaceChildren(
    ...cards.map((a) => {
      const incident = state.incidents.get(a.incident) || {};
      return el(
        "li",
        { className: "waiting-card", dataset: { waitingAssignment: a.id, reference: a.incident_reference } },
        el(
          "div",
          { className: "card-head" },
          el("strong", { className: "ref" }, a.incident_reference),
          incident.priority ? el("span", { className: `prio p${incident.priority}` }, `P${incident.priority}`) : null,
          a.escalation_level ? el("span", { className: "tag escalated" }, `${gettext("escalated")} ${a.escalation_level}`) : null,
          ticking(a.created_at, { format: "clock", className: "tick wait" }),
        ),
        el("div", { className: "what" }, categoryLabel(incident.category), " · ", areaLabel(incident.area)),
        incident.address ? el("div", { className: "where" }, incident.address) : null,
        incident.description ? el("div", { className: "pre clip" }, incident.description) : null,
        el("button", { type: "button", className: "primary big", dataset: { acknowledge: a.id } }, gettext("Acknowledge"), " ", el("kbd", {}, "A")),
      );
    }),
  );
}

function renderCounts() {
  const counts = new Map();
  for (const a of state.assignments.values()) counts.set(a.status, (counts.get(a.status) || 0) + 1);
  byId("status-counts").replaceChildren(
    ...ACTIVE.map((status) =>
      el("span", { className: `count-chip s-${status}`, dataset: { status, count: counts.get(status) || 0 } }, `${label("assignment", status)} `, el("strong", {}, String(counts.get(status) || 0))),
    ),
  );
}

function renderDone() {
  const done = finished();
  byId("done-count").textContent = String(done.length);
  byId("done-list").replaceChildren(
    ...done.map((a) =>
      el(
        "li",
        { className: `item assignment s-${a.status}${a.id === state.selectedId ? " selected" : ""}`, dataset: { assignmentId: a.id, reference: a.incident_reference, status: a.status }, tabindex: 0 },
        el("strong", {}, a.incident_reference),
        " ",
        badge("assignment", a.status),
        el("div", { className: "meta" }, wib(a.completed_at || a.declined_at || a.updated_at)),
        a.note ? el("div", { className: "pre clip" }, a.note) : null,
      ),
    ),
  );
}

function renderQueue() {
  byId("queue").replaceChildren(
    ...queue().map((a) => {
      const incident = state.incidents.get(a.incident) || {};
      return el(
        "li",
        {
          className: `item assignment s-${a.status}${a.status === "pending" ? " alerting" : ""}${a.id === state.selectedId ? " selected" : ""}`,
          dataset: { assignmentId: a.id, reference: a.incident_reference, status: a.status },
          tabindex: 0,
        },
        el("strong", {}, a.incident_reference),
        a.escalation_level && a.status === "pending"
          ? el("span", { className: "tag escalated" }, `${gettext("escalated")} ${a.escalation_level}`)
          : null,
        incident.priority ? el("span", { className: `prio p${incident.priority}` }, `P${incident.priority}`) : null,
        " ",
        badge("assignment", a.status),
        el("div", { className: "meta" }, categoryLabel(incident.category), " · ", areaLabel(incident.area), " · ", ticking(a.created_at)),
        incident.description ? el("div", { className: "pre clip" }, incident.description) : null,
      );
    }),
  );
  const pending = waiting().length > 0;
  alarm.set(pending);
  document.body.dataset.alerting = pending ? "true" : "false";
  byId("enable-sound").hidden = !alarm.blocked();
}

function renderPanel() {
  const assignment = state.assignments.get(state.selectedId);
  byId("assignment-panel").hidden = !assignment;
  byId("no-selection").hidden = Boolean(assignment);
  if (!assignment) return;
  const incident = state.incidents.get(assignment.incident) || {};
  byId("a-reference").textContent = assignment.incident_reference;
  byId("a-status").replaceWith(Object.assign(badge("assignment", assignment.status), { id: "a-status" }));
  byId("a-category").textContent = categoryLabel(incident.category);
  byId("a-priority").textContent = incident.priority ? `P${incident.priority}` : "—";
  byId("a-location").textContent = areaLabel(incident.area);
  byId("a-address").textContent = incident.address || "—";
  byId("a-description").textContent = incident.description || "—";
  byId("a-caller").textContent = [incident.caller_name, incident.caller_phone].filter(Boolean).join(" · ") || "—";
  byId("a-created").textContent = wib(assignment.created_at);
  incidentMap.show(incident.id ? incident : null);
  // Only while it waits: a greyed "Acknowledge A" beside another task's banner reads as if A
  // were refused.
  byId("acknowledge").hidden = assignment.status !== "pending";
  const reports = allowedReports(assignment);
  document.querySelectorAll("[data-progress]").forEach((button) => {
    button.disabled = !reports.includes(button.dataset.progress);
  });
  byId("decline").disabled = !reports.includes("declined");
}

const rerender = scheduler(() => {
  renderWaitingWork();
  renderQueue();
  renderCounts();
  renderDone();
  renderPanel();
});

async function select(assignmentId) {
  state.selectedId = assignmentId;
  timeline.clear();
  byId("a-errors").textContent = "";
  const assignment = state.assignments.get(assignmentId);
  rerender();
  try {
    await ensureIncident(assignment.incident);
    const events = await fetchAll(`/api/v1/incidents/${assignment.incident}/events/?page_size=500`);
    if (state.selectedId === assignmentId) events.forEach((event) => timeline.add(event));
  } catch (error) {
    byId("a-errors").textContent = explain(error);
  }
  rerender();
}

async function act(path, body) {
  byId("a-errors").textContent = "";
  try {
    upsert(state.assignments, await api(path, { method: "POST", body }));
    rerender();
  } catch (error) {
    byId("a-errors").textContent = explain(error, (field) =>
      field === "note" ? byId("a-note").closest("label").firstChild.textContent.trim() : field,
    );
  }
}

// The selected assignment if it is waiting, else the one waiting longest: pressing A always
// answers an alarm, never a finished assignment that happens to be selected.
function assignmentToAcknowledge() {
  const selected = state.assignments.get(state.selectedId);
  if (selected && selected.status === "pending") return selected;
  return queue().find((a) => a.status === "pending");
}

function acknowledge(assignment = assignmentToAcknowledge()) {
  if (!assignment) return;
  alarm.unlock();
  if (assignment.id !== state.selectedId) select(assignment.id);
  act(`/api/v1/assignments/${assignment.id}/acknowledge/`);
}

function report(status) {
  const note = byId("a-note").value;
  act(`/api/v1/assignments/${state.selectedId}/status/`, { status, note }).then(() => {
    if (!byId("a-errors").textContent) byId("a-note").value = "";
  });
}

function bindControls() {
  document.addEventListener("click", (event) => {
    alarm.unlock();
    const button = event.target.closest("[data-acknowledge]");
    if (button) return acknowledge(state.assignments.get(Number(button.dataset.acknowledge)));
    const item = event.target.closest("[data-assignment-id]");
    if (item) select(Number(item.dataset.assignmentId));
  });
  document.addEventListener("keydown", (event) => {
    const item = event.target.closest?.("[data-assignment-id]");
    if (event.key === "Enter" && item) select(Number(item.dataset.assignmentId));
    else if (
      (event.key === "a" || event.key === "A") &&
      !(event.ctrlKey || event.metaKey || event.altKey) &&
      !["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName)
    )
      acknowledge();
  });
  byId("acknowledge").addEventListener("click", () => acknowledge());
  document.querySelectorAll("[data-progress]").forEach((button) =>
    button.addEventListener("click", () => report(button.dataset.progress)),
  );
  byId("decline").addEventListener("click", () => report("declined"));
  byId("enable-sound").addEventListener("click", () => {
    alarm.unlock();
    rerender();
  });
}

async function loadReferenceData() {
  const [areas, categories] = await Promise.all([
    fetchAll("/api/v1/areas/?page_size=500"),
    fetchAll("/api/v1/categories/?page_size=500"),
  ]);
  areas.forEach((area) => state.areas.set(area.code, area));
  incidentMap.setAreas(areas);
  categories.forEach((category) => state.categories.set(category.code, category));
}

async function loadState() {
  const assignments = await fetchAll(`/api/v1/assignments/?status=${ACTIVE.join(",")}&page_size=200`);
  assignments.forEach((a) => upsert(state.assignments, a));
  const done = await api(`/api/v1/assignments/?status=${FINISHED.join(",")}&page_size=${DONE_SHOWN}`);
  done.results.forEach((a) => upsert(state.assignments, a));
  const incidents = await fetchAll("/api/v1/incidents/?open=1&page_size=200");
  incidents.forEach((incident) => storeIncident(state, incident));
  rerender();
  selectFromLink();
}

function onEvent(envelope) {
  const data = envelope.data || {};
  if (data.incident) storeIncident(state, data.incident);
  if (data.assignment) {
    upsert(state.assignments, data.assignment);
    ensureIncident(data.assignment.incident).then(rerender);
  }
  const selected = state.assignments.get(state.selectedId);
  if (selected && envelope.incident === selected.incident) timeline.add(envelope);
  rerender();
}

// An SMS from an escalation links to /?assignment=<id>: open it straight away.
function selectFromLink() {
  const linked = Number(new URLSearchParams(window.location.search).get("assignment"));
  if (linked && state.assignments.has(linked)) select(linked);
}

async function main() {
  bindControls();
  alarm.unlockQuietly(); // where the browser allows it, the alarm sounds without a click

  await loadReferenceData();
  const feed = new LiveFeed({ onEvent, onReady: loadState, onConnection: showConnection });
  feed.start();
  startTicker(); // ages count every second without re-rendering the queue
}

main();

// The wall display (/wall/): the command centre at a glance, in type read from across the room —
// callers waiting and the oldest wait, open incidents by status, today's share of calls picked
// up within 15 s, and the assignments nobody acknowledged in time. Live; nothing to click.

import { api, fetchAll } from "./api.js";
import { config, label } from "./config.js";
import { LiveFeed, showConnection } from "./live.js";
import { storeIncident, upsert } from "./store.js";
import { byId, el, scheduler, startTicker, ticking } from "./ui.js";

const settings = JSON.parse(byId("reports-config").textContent);
const OPEN = config.incident.open;
const WAITING = "waiting";
const SHARE_REFRESH_MS = 60_000;
const SHOWN = 12;

const state = { calls: new Map(), incidents: new Map(), assignments: new Map(), names: new Map() };

function waitingCallers() {
  return [...state.calls.values()].filter((call) => call.queue_state === WAITING).sort((a, b) => a.started_at.localeCompare(b.started_at));
}

function openIncidents() {
  return [...state.incidents.values()]
    .filter((incident) => OPEN.includes(incident.status))
    .sort((a, b) => (a.priority || 9) - (b.priority || 9) || a.created_at.localeCompare(b.created_at));
}

function overdue() {
  return [...state.assignments.values()].filter((a) => a.status === "pending" && a.escalation_level > 0);
}

function figure(id, value, detail) {
  byId(id).querySelector(".value").textContent = String(value);
  const slot = byId(id).querySelector(".detail");
  if (detail !== undefined) slot.replaceChildren(...[].concat(detail));
}

function render() {
  const waiting = waitingCallers();
  figure("w-waiting", waiting.length, waiting.length ? [gettext("oldest"), " ", ticking(waiting[0].started_at, { format: "clock" })] : []);
  byId("w-waiting").classList.toggle("alarm", waiting.length > 0);
  const open = openIncidents();
  const byStatus = OPEN.map((status) => `${label("incident", status)} ${open.filter((i) => i.status === status).length}`).join(" · ");
  figure("w-open", open.length, byStatus);
  const late = overdue();
  figure("w-escalations", late.length);
  byId("w-escalations").classList.toggle("alarm", late.length > 0);
  byId("w-incidents").replaceChildren(
    ...open.slice(0, SHOWN).map((incident) =>
      el(
        "li",
        { className: `p-${incident.priority || "none"}`, dataset: { reference: incident.reference } },
        el("strong", {}, incident.reference),
        incident.priority ? el("span", { className: `prio p${incident.priority}` }, `P${incident.priority}`) : null,
        " ",
        state.names.get(incident.category) || "—",
        " · ",
        state.names.get(incident.area) || "—",
        " · ",
        label("incident", incident.status),
        " · ",
        ticking(incident.created_at),
      ),
    ),
  );
  byId("w-escalation-list").replaceChildren(
    ...late.map((a) =>
      el("li", { dataset: { assignmentId: a.id } }, el("strong", {}, a.agency), " · ", a.incident_reference, " · ", `${gettext("level")} ${a.escalation_level}`, " · ", ticking(a.created_at, { format: "clock" })),
    ),
  );
}
const rerender = scheduler(render);

// Today in WIB, midnight to midnight: a date alone is its midnight WIB for the API.
async function refreshShare() {
  const today = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Jakarta", year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
  const tomorrow = new Date(Date.parse(`${today}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  try {
    const summary = await api(`${settings.summary_url}?since=${today}&until=${tomorrow}`);
    const share = summary.calls.share_picked_up_within_15s;
    figure("w-share", share === null ? "—" : `${Math.round(share * 100)} %`);
    byId("w-share").classList.toggle("missed", share !== null && share < settings.goals.within_15s);
  } catch (error) {
    console.warn("today's share could not be fetched", error);
  }
}

async function loadState() {
  const [waiting, open, late, categories, areas] = await Promise.all([
    fetchAll(`/api/v1/calls/?queue_state=${WAITING}&page_size=200`),
    fetchAll(`/api/v1/incidents/?status=${OPEN.join(",")}&page_size=200`),
    fetchAll("/api/v1/assignments/?escalated=1&status=pending&page_size=200"),
    fetchAll("/api/v1/categories/?page_size=500"),
    fetchAll("/api/v1/areas/?page_size=500"),
  ]);
  [...categories, ...areas].forEach((item) => state.names.set(item.code, item.name));
  waiting.forEach((call) => upsert(state.calls, call));
  open.forEach((incident) => storeIncident(state, incident));
  late.forEach((assignment) => upsert(state.assignments, assignment));
  refreshShare();
  rerender();
}

function onEvent(envelope) {
  const data = envelope.data || {};
  if (data.call) upsert(state.calls, data.call);
  if (data.incident) storeIncident(state, data.incident);
  if (data.assignment) upsert(state.assignments, data.assignment);
  rerender();
}

new LiveFeed({ onEvent, onReady: loadState, onConnection: showConnection }).start();
startTicker();
setInterval(refreshShare, SHARE_REFRESH_MS);

// The command-centre console: live calls, the incident board, and the incident panel where an
// operator classifies, fills in and dispatches an incident.

import { api, explain, fetchAll, labelIn } from "./api.js";
import { Alarm } from "./alarm.js";
import { EscalationBoard } from "./escalations.js";
import { LiveFeed, showConnection } from "./live.js";
import { storeIncident, Timeline, upsert } from "./store.js";
import { age, badge, byId, el, scheduler, statusLabel, wib } from "./ui.js";

const BOARD_STATUSES = ["new", "dispatched", "in_progress", "resolved"];
const alarm = new Alarm();
const timeline = new Timeline();
const escalations = new EscalationBoard({
  onAlert: () => alarm.once(),
  incidentStatus: (id) => state.incidents.get(id)?.status,
});

const state = {
  calls: new Map(),
  incidents: new Map(),
  assignments: new Map(),
  categories: [],
  agencies: [],
  kecamatan: [],
  kelurahan: [],
  selectedId: null,
  dirty: false,
};

function byUrgency(a, b) {
  return (a.priority || 9) - (b.priority || 9) || a.created_at.localeCompare(b.created_at);
}

function areaName(code) {
  const area = state.kelurahan.find((a) => a.code === code) || state.kecamatan.find((a) => a.code === code);
  return area ? area.name : "";
}

function categoryName(code) {
  return state.categories.find((c) => c.code === code)?.name || gettext("no category");
}

function renderCalls() {
  const calls = [...state.calls.values()].sort((a, b) => b.started_at.localeCompare(a.started_at));
  byId("call-list").replaceChildren(
    ...calls.slice(0, 50).map((call) => {
      const incident = state.incidents.get(call.incident);
      return el(
        "li",
        {
          className: `item call s-${call.status}`,
          dataset: { callId: call.id, incidentId: call.incident || "" },
          tabindex: 0,
        },
        el("strong", { className: "phone" }, call.from_number),
        " ",
        badge(call.status),
        call.channel === "sms" ? el("span", { className: "tag" }, "SMS") : null,
        el("div", { className: "meta" }, wib(call.started_at), incident ? ` · ${incident.reference}` : ""),
        call.body ? el("div", { className: "sms pre clip", title: call.body }, call.body) : null,
      );
    }),
  );
}

function incidentCard(incident) {
  const assignments = [...state.assignments.values()].filter((a) => a.incident === incident.id);
  return el(
    "li",
    {
      className: `item incident p-${incident.priority || "none"}${incident.id === state.selectedId ? " selected" : ""}`,
      dataset: { incidentId: incident.id, reference: incident.reference },
      tabindex: 0,
    },
    el("strong", {}, incident.reference),
    incident.priority ? el("span", { className: `prio p${incident.priority}` }, `P${incident.priority}`) : null,
    incident.unroutable ? el("span", { className: "tag warn" }, gettext("unroutable")) : null,
    el("div", { className: "meta" }, categoryName(incident.category), " · ", areaName(incident.area) || "—", " · ", age(incident.created_at)),
    el("div", { className: "agencies" }, assignments.map((a) => el("span", { className: `chip s-${a.status}` }, `${a.agency} ${statusLabel(a.status)}`))),
  );
}

function boardOrder() {
  return BOARD_STATUSES.flatMap((status) =>
    [...state.incidents.values()].filter((i) => i.status === status).sort(byUrgency),
  );
}

function renderBoard() {
  for (const status of BOARD_STATUSES) {
    const incidents = [...state.incidents.values()].filter((i) => i.status === status).sort(byUrgency);
    byId(`col-${status}`).replaceChildren(...incidents.map(incidentCard));
  }
}

function latestCallOf(incidentId) {
  return [...state.calls.values()]
    .filter((call) => call.incident === incidentId)
    .sort((a, b) => b.started_at.localeCompare(a.started_at))[0];
}

function fillSelect(select, options, value) {
  select.replaceChildren(el("option", { value: "" }, "—"), ...options.map(([code, label]) => el("option", { value: code }, label)));
  select.value = value || "";
}

function fillKelurahan(kecamatanCode, value) {
  const options = state.kelurahan.filter((a) => a.parent === kecamatanCode).map((a) => [a.code, a.name]);
  fillSelect(byId("f-kelurahan"), options, value);
}

function fillForm(incident) {
  const area = state.kelurahan.find((a) => a.code === incident.area);
  const kecamatanCode = area ? area.parent : incident.area;
  byId("f-category").value = incident.category || "";
  byId("f-priority").value = incident.priority || "";
  byId("f-kecamatan").value = kecamatanCode || "";
  fillKelurahan(kecamatanCode, area ? area.code : "");
  byId("f-address").value = incident.address;
  byId("f-description").value = incident.description;
  byId("f-caller-name").value = incident.caller_name;
  byId("f-caller-phone").value = incident.caller_phone;
  const call = latestCallOf(incident.id);
  document.querySelectorAll("input[name=classification]").forEach((radio) => {
    radio.checked = Boolean(call) && radio.value === call.classification;
    radio.disabled = !call;
  });
  state.dirty = false;
  byId("form-errors").textContent = "";
}

function renderPanel() {
  const incident = state.incidents.get(state.selectedId);
  const panel = byId("incident-panel");
  panel.hidden = !incident;
  byId("no-selection").hidden = Boolean(incident);
  if (!incident) return;
  byId("detail-reference").textContent = incident.reference;
  byId("detail-status").replaceWith(Object.assign(badge(incident.status), { id: "detail-status" }));
  const silent = [...state.assignments.values()].filter(
    (a) => a.incident === incident.id && a.status === "cancelled" && a.escalation_level > 0,
  );
  byId("detail-flag").hidden = !incident.unroutable;
  byId("taken-back").hidden = !(incident.status === "new" && silent.length);
  byId("taken-back").textContent = `${gettext("Taken back from")} ${silent.map((a) => a.agency).join(", ")}: ${gettext("they did not acknowledge in time. Choose another agency.")}`;
  const open = ["new", "dispatched", "in_progress"].includes(incident.status);
  byId("dispatch").disabled = !open;
  byId("close-incident").disabled = incident.status === "closed";
  if (!state.dirty) fillForm(incident);
  const assignments = [...state.assignments.values()].filter((a) => a.incident === incident.id);
  byId("assignment-list").replaceChildren(
    ...assignments.map((a) =>
      el(
        "li",
        { className: `item s-${a.status}`, dataset: { agency: a.agency, status: a.status } },
        el("strong", {}, a.agency),
        " ",
        badge(a.status),
        el("div", { className: "meta" }, a.acknowledged_at ? `${gettext("acknowledged")} ${wib(a.acknowledged_at)} · ${a.acknowledged_by || ""}` : `${gettext("since")} ${wib(a.created_at)}`),
        a.note ? el("div", { className: "pre" }, a.note) : null,
      ),
    ),
  );
}

function render() {
  renderCalls();
  renderBoard();
  renderPanel();
  escalations.render();
}
const rerender = scheduler(render);

async function select(incidentId) {
  if (state.selectedId !== incidentId && state.dirty) {
    if (!window.confirm(gettext("Discard the changes you have not saved?"))) return;
  }
  if (state.selectedId !== incidentId) state.dirty = false;
  state.selectedId = incidentId;
  timeline.clear();
  render();
  try {
    if (!state.incidents.has(incidentId)) storeIncident(state, await api(`/api/v1/incidents/${incidentId}/`));
    const events = await fetchAll(`/api/v1/incidents/${incidentId}/events/?page_size=500`);
    if (state.selectedId === incidentId) events.forEach((event) => timeline.add(event));
  } catch (error) {
    byId("form-errors").textContent = explainForm(error);
  }
  render();
  refreshPreview();
}

function chosenArea() {
  return byId("f-kelurahan").value || byId("f-kecamatan").value || null;
}

function formValues() {
  const priority = byId("f-priority").value;
  return {
    category: byId("f-category").value || null,
    priority: priority ? Number(priority) : null,
    area: chosenArea(),
    address: byId("f-address").value,
    description: byId("f-description").value,
    caller_name: byId("f-caller-name").value,
    caller_phone: byId("f-caller-phone").value,
  };
}

async function refreshPreview() {
  const id = state.selectedId;
  if (!id) return;
  const params = new URLSearchParams();
  params.set("category", byId("f-category").value);
  params.set("area", chosenArea() || "");
  try {
    const preview = await api(`/api/v1/incidents/${id}/routing/?${params}`);
    byId("routing-preview").textContent = preview.agencies.length
      ? preview.agencies.join(", ")
      : gettext("no agency: the command centre handles it");
    byId("override-agencies").querySelectorAll("input").forEach((box) => {
      box.checked = preview.agencies.includes(box.value);
    });
    state.preview = preview.agencies;
  } catch (error) {
    byId("routing-preview").textContent = explainForm(error);
  }
}

async function save() {
  const id = state.selectedId;
  byId("form-errors").textContent = "";
  try {
    storeIncident(state, await api(`/api/v1/incidents/${id}/`, { method: "PATCH", body: formValues() }));
    state.dirty = false;
    rerender();
    return true;
  } catch (error) {
    byId("form-errors").textContent = explainForm(error);
    return false;
  }
}

function explainForm(error) {
  return explain(error, (field) => labelIn(byId("incident-form"), field, { area: "kelurahan" }));
}

function overrideAgencies() {
  if (!byId("override").open) return null;
  const chosen = [...byId("override-agencies").querySelectorAll("input:checked")].map((box) => box.value);
  const preview = state.preview || [];
  const same = chosen.length === preview.length && chosen.every((code) => preview.includes(code));
  return same ? null : chosen;
}

async function dispatchSelected() {
  const button = byId("dispatch");
  if (button.disabled) return; // a second press while the first is under way
  button.disabled = true;
  try {
    await saveAndDispatch();
  } finally {
    renderPanel();
  }
}

async function saveAndDispatch() {
  if (!(await save())) return;
  const agencies = overrideAgencies();
  try {
    const incident = await api(`/api/v1/incidents/${state.selectedId}/dispatch/`, {
      method: "POST",
      body: agencies ? { agencies } : {},
    });
    storeIncident(state, incident);
    if (incident.unroutable) byId("form-errors").textContent = gettext("No routing rule matched: choose the agencies.");
    rerender();
  } catch (error) {
    byId("form-errors").textContent = explainForm(error);
  }
}

async function classify(value) {
  const call = latestCallOf(state.selectedId);
  if (!call) return;
  try {
    upsert(state.calls, await api(`/api/v1/calls/${call.id}/`, { method: "PATCH", body: { classification: value } }));
  } catch (error) {
    byId("form-errors").textContent = explainForm(error);
  }
}

async function closeSelected() {
  try {
    storeIncident(state, await api(`/api/v1/incidents/${state.selectedId}/`, { method: "PATCH", body: { status: "closed" } }));
    rerender();
  } catch (error) {
    byId("form-errors").textContent = explainForm(error);
  }
}

function moveSelection(step) {
  const order = boardOrder();
  if (!order.length) return;
  const index = order.findIndex((incident) => incident.id === state.selectedId);
  const next = order[Math.min(order.length - 1, Math.max(0, index + step))];
  select(next.id);
  document.querySelector(`[data-incident-id="${next.id}"].incident`)?.scrollIntoView({ block: "nearest" });
}

function typing(target) {
  return ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

function bindControls() {
  document.addEventListener("click", (event) => {
    alarm.unlock();
    const item = event.target.closest("[data-incident-id]");
    if (item && item.dataset.incidentId) select(Number(item.dataset.incidentId));
  });
  document.addEventListener("keydown", (event) => {
    const item = event.target.closest?.("[data-incident-id]");
    if (event.key === "Enter" && item && item.dataset.incidentId) select(Number(item.dataset.incidentId));
    else if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && state.selectedId) {
      event.preventDefault();
      dispatchSelected();
    } else if ((event.ctrlKey || event.metaKey) && event.key === "s" && state.selectedId) {
      event.preventDefault();
      save();
    } else if (!typing(event.target) && (event.key === "j" || event.key === "k")) {
      moveSelection(event.key === "j" ? 1 : -1);
    } else if (event.key === "Escape" && typing(event.target)) {
      event.target.blur();
    }
  });
  const form = byId("incident-form");
  form.addEventListener("input", () => {
    state.dirty = true;
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  byId("f-kecamatan").addEventListener("change", (event) => {
    fillKelurahan(event.target.value, "");
    refreshPreview();
  });
  byId("f-kelurahan").addEventListener("change", refreshPreview);
  byId("f-category").addEventListener("change", (event) => {
    const category = state.categories.find((c) => c.code === event.target.value);
    if (category && !byId("f-priority").value) byId("f-priority").value = category.default_priority;
    refreshPreview();
  });
  byId("dispatch").addEventListener("click", dispatchSelected);
  byId("close-incident").addEventListener("click", closeSelected);
  document.querySelectorAll("input[name=classification]").forEach((radio) =>
    radio.addEventListener("change", (event) => classify(event.target.value)),
  );
}

async function loadReferenceData() {
  const [categories, areas, agencies] = await Promise.all([
    fetchAll("/api/v1/categories/?page_size=500"),
    fetchAll("/api/v1/areas/?page_size=500"),
    fetchAll("/api/v1/agencies/?page_size=500"),
  ]);
  state.categories = categories;
  state.kecamatan = areas.filter((a) => a.kind === "kecamatan");
  state.kelurahan = areas.filter((a) => a.kind === "kelurahan");
  state.agencies = agencies.filter((a) => a.is_active);
  fillSelect(byId("f-category"), categories.map((c) => [c.code, `${c.name}`]));
  fillSelect(byId("f-kecamatan"), state.kecamatan.map((a) => [a.code, a.name]));
  byId("override-agencies").replaceChildren(
    ...state.agencies.map((a) => el("label", {}, el("input", { type: "checkbox", value: a.code }), ` ${a.code}`)),
  );
}

async function loadState() {
  const [calls, open, resolved] = await Promise.all([
    api("/api/v1/calls/?page_size=50"),
    fetchAll("/api/v1/incidents/?status=new,dispatched,in_progress&page_size=200"),
    api("/api/v1/incidents/?status=resolved&page_size=30"),
  ]);
  calls.results.forEach((call) => upsert(state.calls, call));
  [...open, ...resolved.results].forEach((incident) => storeIncident(state, incident));
  await escalations.load();
  render();
}

function onEvent(envelope) {
  const data = envelope.data || {};
  if (data.call) upsert(state.calls, data.call);
  if (data.incident) storeIncident(state, data.incident);
  if (data.assignment) upsert(state.assignments, data.assignment);
  escalations.apply(envelope);
  if (envelope.incident && envelope.incident === state.selectedId) timeline.add(envelope);
  rerender();
}

async function main() {
  bindControls();
  await loadReferenceData();
  const feed = new LiveFeed({ onEvent, onReady: loadState, onConnection: showConnection });
  feed.start();
  setInterval(rerender, 15000); // ages on the board and the escalation panel keep counting
  window.addEventListener("beforeunload", (event) => {
    if (state.dirty) event.preventDefault();
  });
}

main();

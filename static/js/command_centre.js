// The command-centre console: the callers waiting for an operator, missed calls, the incident
// board, and the incident panel where an operator classifies, fills in and dispatches an
// incident — all of it workable from the keyboard (≤ 10 keys from a ringing caller to a
// dispatched incident: A, N, k e b, Enter, c i t, Ctrl+Enter).

import { api, explain, fetchAll, labelIn } from "./api.js";
import { Alarm } from "./alarm.js";
import { askCloseReason } from "./close_reason.js";
import { Combobox } from "./combobox.js";
import { config, label, takenBack } from "./config.js";
import { Conversation } from "./conversation.js";
import { DuplicateHints } from "./duplicates.js";
import { EscalationBoard } from "./escalations.js";
import { LiveFeed, showConnection } from "./live.js";
import { handsetBadge, renderHandsetPosition } from "./location.js";
import { ConsoleMaps } from "./map.js";
import { PhonePanel } from "./phone_panel.js";
import { storeIncident, Timeline, upsert } from "./store.js";
import {
  badge,
  byId,
  callerNumber,
  clock,
  el,
  patchList,
  scheduler,
  startTicker,
  ticking,
  wib,
} from "./ui.js";

const BOARD_STATUSES = config.incident.board;
const QUEUE_STATES = config.call.live_queue_states;
const CLASSIFY_KEYS = { n: "normal", g: "ghost", p: "prank", i: "info" };

const state = {
  me: document.body.dataset.user || null,
  calls: new Map(),
  incidents: new Map(),
  assignments: new Map(),
  categories: [],
  agencies: [],
  kecamatan: [],
  kelurahan: [],
  selectedId: null,
  dirty: false,
  priorityByHand: false, // the operator chose the priority: a new category no longer changes it
  preview: null, // { id, agencies } of the selected incident
  unseenTexts: new Set(), // incidents whose caller texted live since this operator looked
  resolving: null, // id of the missed call whose "resolve" form is open
  loaded: false,
};

const alarm = new Alarm({ onChange: () => rerender() });
const timeline = new Timeline();
const phone = new PhonePanel({
  configured: document.body.dataset.softphoneConfigured === "true",
  onChange: () => rerender(),
});
const escalations = new EscalationBoard({
  onAlert: () => alarm.once(),
  incidentStatus: (id) => state.incidents.get(id)?.status,
});
const conversation = new Conversation({
  onChange: () => rerender(),
  onCallerText: (message) => {
    if (message.incident !== state.selectedId) state.unseenTexts.add(message.incident);
    alarm.once();
  },
});
const duplicates = new DuplicateHints({
  incidentOf: (id) => state.incidents.get(id),
  callsOf: (id) => [...state.calls.values()].filter((call) => call.incident === id),
  latestCallOf: (id) => latestCallOf(id),
  describe: (incident) => `${categoryName(incident.category)} · ${areaName(incident.area) || "—"}`,
  select: (id) => select(id),
  merged: (target) => storeIncident(state, target),
  linked: (call) => upsert(state.calls, call),
});
const maps = new ConsoleMaps({
  select: (id) => select(id),
  placed: (incident) => {
    storeIncident(state, incident);
    rerender();
  },
});
const baseTitle = document.title;

const NO_RULE = () => gettext("No routing rule matches: choose the agencies by hand.");

// --- reference data and labels ---------------------------------------------------------------

function areaName(code) {
  const area = state.kelurahan.find((a) => a.code === code) || state.kecamatan.find((a) => a.code === code);
  return area ? area.name : "";
}

function categoryName(code) {
  return state.categories.find((c) => c.code === code)?.name || gettext("no category");
}

function aliasesOf(area) {
  return (area.aliases || "").split(",").map((alias) => alias.trim()).filter(Boolean);
}

function categoryOptions() {
  return [...state.categories]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((category) => ({
      value: category.code,
      label: category.name,
      detail: `P${category.default_priority}`,
      terms: [category.code],
      priority: category.default_priority,
    }));
}

// Kelurahan first (the more precise choice), each also found by its kecamatan's name; then the
// kecamatan themselves, for when only the kecamatan is known.
function locationOptions() {
  const kecamatan = new Map(state.kecamatan.map((k) => [k.code, k]));
  const kelurahan = state.kelurahan.map((area) => {
    const parent = kecamatan.get(area.parent);
    const parentName = parent ? interpolate(gettext("Kec. %(name)s"), { name: parent.name }, true) : "";
    return {
      value: area.code,
      label: area.name,
      display: parent ? `${area.name}, ${parentName}` : area.name,
      detail: parentName,
      terms: [...aliasesOf(area), ...(parent ? [parent.name, ...aliasesOf(parent)] : [])],
    };
  });
  const whole = state.kecamatan.map((area) => ({
    value: area.code,
    label: interpolate(gettext("Kec. %(name)s"), { name: area.name }, true),
    detail: gettext("whole kecamatan"),
    terms: [area.name, ...aliasesOf(area)],
  }));
  return [...kelurahan, ...whole];
}

const categoryBox = new Combobox(byId("f-category"), {
  onCommit: categoryChosen,
  noMatch: gettext("No category matches"),
});
const locationBox = new Combobox(byId("f-area"), {
  onCommit: locationChosen,
  noMatch: gettext("No kelurahan or kecamatan matches"),
});

// --- calls: waiting, held, missed -------------------------------------------------------------

function isLive(call) {
  return call.channel === "voice" && QUEUE_STATES.includes(call.queue_state);
}

function waitingCallers() {
  return [...state.calls.values()]
    .filter((call) => isLive(call) && call.queue_state === "waiting")
    .sort((a, b) => a.started_at.localeCompare(b.started_at));
}

function heldCalls() {
  return [...state.calls.values()]
    .filter((call) => isLive(call) && call.queue_state !== "waiting")
    .sort((a, b) => (a.picked_up_at || a.started_at).localeCompare(b.picked_up_at || b.started_at));
}

function missedCalls() {
  return [...state.calls.values()].filter((call) => call.missed).sort((a, b) => b.started_at.localeCompare(a.started_at));
}

function historyText(history) {
  if (!history || !history.calls) return "";
  const calls = interpolate(
    ngettext("%(n)s call in 90 days", "%(n)s calls in 90 days", history.calls),
    { n: history.calls },
    true,
  );
  if (!history.pranks) return calls;
  return `${calls} · ${interpolate(ngettext("%(n)s prank", "%(n)s pranks", history.pranks), { n: history.pranks }, true)}`;
}

function historyNote(call) {
  const text = historyText(call.caller_history);
  if (!text) return null;
  return el(
    "div",
    { className: `history${call.caller_history.pranks ? " pranks" : ""}`, title: gettext("A warning, never a reason to refuse: a prank caller may have a real emergency today.") },
    text,
  );
}

function callSignature(calls) {
  return calls.map((c) => `${c.id}:${c.updated_at || ""}:${c.queue_state}:${c.picked_up_by}:${c.incident}`).join("|");
}

function incidentRef(call) {
  const incident = state.incidents.get(call.incident);
  return incident ? incident.reference : "";
}

function renderWaiting() {
  const waiting = waitingCallers();
  const held = heldCalls();
  byId("waiting-count").textContent = String(waiting.length);
  byId("no-waiting").hidden = waiting.length + held.length > 0;
  byId("waiting").classList.toggle("alerting", waiting.length > 0);
  const signature = `${state.me}#${callSignature(waiting)}#${callSignature(held)}#${[...waiting, ...held].map(incidentRef).join(",")}`;
  patchList(byId("waiting-list"), signature, () => [
    ...waiting.map((call, index) =>
      el(
        "li",
        { className: "item caller q-waiting", dataset: { callId: call.id, queueState: call.queue_state } },
        el(
          "div",
          { className: "caller-top" },
          el("strong", { className: "phone" }, callerNumber(call)),
          ticking(call.started_at, { format: "clock", className: "wait" }),
        ),
        el(
          "div",
          { className: "caller-actions" },
          historyNote(call) || el("span", { className: "meta", title: gettext("No other call from this number in 90 days") }, gettext("first call")),
          el(
            "button",
            { type: "button", className: "primary", dataset: { pickUp: call.id, focus: `pick-${call.id}` } },
            gettext("Pick up"),
            index === 0 ? " " : null,
            index === 0 ? el("kbd", {}, "A") : null,
          ),
        ),
      ),
    ),
    ...held.map((call) => {
      const mine = call.picked_up_by === state.me;
      return el(
        "li",
        {
          className: `item caller q-${call.queue_state}${mine ? " mine" : ""}`,
          // The operator's own caller: a click opens the caller's incident.
          dataset: { callId: call.id, queueState: call.queue_state, pickedUpBy: call.picked_up_by || "", incidentId: mine && call.incident ? call.incident : "" },
          title: mine && incidentRef(call) ? incidentRef(call) : null,
        },
        el(
          "div",
          { className: "caller-top" },
          el("strong", { className: "phone" }, callerNumber(call)),
          call.picked_up_at ? ticking(call.picked_up_at, { format: "clock", className: "talk" }) : null,
        ),
        el(
          "div",
          { className: "meta state", dataset: { testid: "held-by" } },
          `${queueStateLabel(call)} · ${call.picked_up_by || "—"}`,
          call.direction === "outbound" ? ` · ${gettext("call-back")}` : "",
        ),
        mine
          ? el(
              "div",
              { className: "caller-actions" },
              el("button", { type: "button", className: "danger", dataset: { endCall: call.id, focus: `end-${call.id}` }, title: gettext("End the call with this caller") }, gettext("End call"), " ", el("kbd", {}, "H")),
              call.direction === "inbound"
                ? el("button", { type: "button", dataset: { release: call.id, focus: `release-${call.id}` }, title: gettext("Put the caller back in the queue, first in line") }, gettext("Release"))
                : null,
            )
          : null,
      );
    }),
  ]);
}

function queueStateLabel(call) {
  return label("queue_state", call.queue_state);
}

function renderMissed() {
  const missed = missedCalls();
  byId("missed-count").textContent = String(missed.length);
  byId("no-missed").hidden = missed.length > 0;
  byId("missed").classList.toggle("has-missed", missed.length > 0);
  if (state.resolving && !missed.some((call) => call.id === state.resolving)) state.resolving = null;
  const signature = `${state.resolving}#${callSignature(missed)}`;
  patchList(byId("missed-list"), signature, () =>
    missed.map((call) =>
      el(
        "li",
        { className: "item missed-call", dataset: { callId: call.id } },
        el("strong", { className: "phone" }, callerNumber(call)),
        el("div", { className: "meta" }, wib(call.started_at)),
        el(
          "div",
          { className: "meta" },
          call.wait_seconds !== null && call.wait_seconds !== undefined
            ? interpolate(gettext("hung up after waiting %(wait)s"), { wait: clock(call.wait_seconds) }, true)
            : gettext("hung up while waiting"),
        ),
        historyNote(call),
        state.resolving === call.id
          ? resolveForm(call)
          : el(
              "div",
              { className: "caller-actions" },
              el("button", { type: "button", className: "primary", dataset: { callback: call.id, focus: `callback-${call.id}` } }, gettext("Call back")),
              el("button", { type: "button", dataset: { resolve: call.id, focus: `resolve-${call.id}` } }, gettext("Resolve…")),
            ),
      ),
    ),
  );
}

// The reason form stays the same element across re-renders: what the operator typed survives.
let reasonForm = null;
function resolveForm(call) {
  if (!reasonForm || Number(reasonForm.dataset.callId) !== call.id) {
    reasonForm = el(
      "form",
      { className: "resolve-form", dataset: { callId: call.id } },
      el(
        "label",
        {},
        gettext("Why is no call-back needed?"),
        el("input", { id: "resolve-reason", name: "reason", maxlength: 300, required: true, placeholder: gettext("e.g. reached by SMS, wrong number") }),
      ),
      el(
        "div",
        { className: "caller-actions" },
        el("button", { type: "submit", className: "primary" }, gettext("Resolve")),
        el("button", { type: "button", dataset: { cancelResolve: call.id } }, gettext("Cancel")),
      ),
    );
  }
  return reasonForm;
}

function renderMyCall() {
  const mine = heldCalls().filter((call) => call.picked_up_by === state.me);
  const box = byId("my-call");
  box.hidden = !mine.length;
  const call = mine[0];
  const signature = call ? `${call.id}:${call.queue_state}` : "";
  if (box.dataset.signature === signature) return;
  box.dataset.signature = signature;
  box.replaceChildren(
    ...(call
      ? [
          el("span", {}, call.queue_state === "connected" ? gettext("On the line:") : gettext("Connecting:")),
          " ",
          el("strong", {}, callerNumber(call)),
          " ",
          call.picked_up_at ? ticking(call.picked_up_at, { format: "clock" }) : null,
        ]
      : []),
  );
}

// Where the caller is: waiting, with an operator, missed — else Twilio's status of the call.
function callBadge(call) {
  if (call.missed) return el("span", { className: "badge s-missed" }, gettext("missed"));
  if (isLive(call)) return el("span", { className: `badge q-${call.queue_state}` }, queueStateLabel(call));
  return badge("call", call.status);
}

function renderCalls() {
  const calls = [...state.calls.values()].sort((a, b) => b.started_at.localeCompare(a.started_at)).slice(0, 50);
  byId("call-list").replaceChildren(
    ...calls.map((call) => {
      const incident = state.incidents.get(call.incident);
      return el(
        "li",
        {
          className: `item call s-${call.status}${call.queue_state ? ` q-${call.queue_state}` : ""}${call.channel === "sms" && state.unseenTexts.has(call.incident) ? " unseen" : ""}`,
          dataset: { callId: call.id, incidentId: call.incident || "" },
          tabindex: 0,
        },
        el("strong", { className: "phone" }, callerNumber(call)),
        " ",
        callBadge(call),
        call.channel === "sms" ? el("span", { className: "tag" }, "SMS") : null,
        call.direction === "outbound" ? el("span", { className: "tag" }, gettext("call-back")) : null,
        el("div", { className: "meta" }, wib(call.started_at), incident ? ` · ${incident.reference}` : ""),
        call.body ? el("div", { className: "sms pre clip", title: call.body }, call.body) : null,
      );
    }),
  );
}

// Heard and seen: a beep while anybody waits unanswered (or the softphone cannot ring), the
// count in the title, the oldest caller's wait in large type.
function renderAttention() {
  const waiting = waitingCallers();
  const count = waiting.length + state.unseenTexts.size;
  const title = count ? `(${count}) ${baseTitle}` : baseTitle;
  if (document.title !== title) document.title = title;
  document.body.dataset.waiting = String(waiting.length);
  const oldest = waiting[0];
  byId("oldest-wait").hidden = !oldest;
  const time = byId("oldest-wait-time");
  if (oldest && time.dataset.since !== oldest.started_at) {
    time.dataset.since = oldest.started_at;
    time.dataset.format = "clock";
    time.textContent = clock((Date.now() - new Date(oldest.started_at)) / 1000);
  } else if (!oldest) delete time.dataset.since;
  alarm.set(state.loaded && (waiting.length > 0 || phone.down()));
  byId("enable-sound").hidden = !alarm.blocked();
}

// --- the board -------------------------------------------------------------------------------

function byUrgency(a, b) {
  return (a.priority || 9) - (b.priority || 9) || a.created_at.localeCompare(b.created_at);
}

function incidentCard(incident) {
  const assignments = [...state.assignments.values()].filter((a) => a.incident === incident.id);
  return el(
    "li",
    {
      className: `item incident p-${incident.priority || "none"}${incident.id === state.selectedId ? " selected" : ""}`,
      dataset: { incidentId: incident.id, reference: incident.reference, priority: incident.priority || "", focus: `incident-${incident.id}` },
      tabindex: 0,
    },
    el(
      "div",
      { className: "card-top" },
      el("strong", { className: "ref", title: incident.reference }, incident.reference),
    ),
    incident.unroutable ? el("span", { className: "tag warn" }, gettext("unroutable")) : null,
    state.unseenTexts.has(incident.id) ? el("span", { className: "tag new-text" }, gettext("new SMS")) : null,
    handsetBadge(incident),
    // The priority leads the second line: the whole reference keeps the first at 1366 px.
    el(
      "div",
      { className: "meta" },
      incident.priority ? el("span", { className: `prio p${incident.priority}` }, `P${incident.priority}`) : null,
      incident.priority ? " · " : null,
      categoryName(incident.category),
      " · ",
      areaName(incident.area) || "—",
      " · ",
      ticking(incident.created_at),
    ),
    assignments.length
      ? el("div", { className: "agencies" }, assignments.map((a) => el("span", { className: `chip s-${a.status}` }, `${a.agency} ${label("assignment", a.status)}`)))
      : null,
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
    byId(`count-${status}`).textContent = String(incidents.length);
    const signature = incidents
      .map((i) => `${i.id}:${i.updated_at}:${i.id === state.selectedId}:${i.priority}:${i.unroutable}:${state.unseenTexts.has(i.id)}`)
      .concat([...state.assignments.values()].filter((a) => a.incident && incidents.some((i) => i.id === a.incident)).map((a) => `${a.id}:${a.status}`))
      .join("|");
    patchList(byId(`col-${status}`), signature, () => incidents.map(incidentCard));
  }
}

// --- the incident panel ----------------------------------------------------------------------

// The caller's call behind an incident (not a call-back to them).
function latestCallOf(incidentId) {
  return [...state.calls.values()]
    .filter((call) => call.incident === incidentId && call.direction !== "outbound")
    .sort((a, b) => b.started_at.localeCompare(a.started_at))[0];
}

function fillForm(incident) {
  categoryBox.value = incident.category || "";
  byId("f-priority").value = incident.priority || "";
  locationBox.value = incident.area || "";
  byId("f-address").value = incident.address;
  byId("f-description").value = incident.description;
  byId("f-caller-name").value = incident.caller_name;
  byId("f-caller-phone").value = incident.caller_phone;
  state.dirty = false;
  state.priorityByHand = false;
  byId("form-errors").textContent = "";
}

// While the operator's choice is on its way to the server, a re-render (a live event about the
// same call) shows that choice, not the call's old classification.
function fillClassification(call) {
  const pending = state.pendingClassification;
  const shown = call && pending?.callId === call.id ? pending.value : call?.classification;
  document.querySelectorAll("input[name=classification]").forEach((radio) => {
    radio.checked = Boolean(call) && radio.value === shown;
    radio.disabled = !call;
  });
}

// What stands between this incident and a dispatch, said the same way in the preview and on
// Ctrl+Enter. `focus` is where the operator can fix it.
function dispatchBlocker() {
  const call = latestCallOf(state.selectedId);
  if (call && !call.classification) {
    return { message: gettext("Classify the call first: N normal, G ghost, P prank, I information."), focus: "classification" };
  }
  if (call && call.classification !== "normal") {
    return {
      message: interpolate(gettext("Only a normal call is dispatched; this one is classified %(classification)s."), { classification: label("classification", call.classification) }, true),
      focus: "classification",
    };
  }
  if (!categoryBox.value) return { message: gettext("Choose a category first (C)."), focus: "category" };
  return null;
}

function previewText() {
  const blocker = dispatchBlocker();
  if (blocker) return blocker.message;
  const preview = state.preview;
  if (!preview || preview.id !== state.selectedId) return "…";
  return preview.agencies.length ? preview.agencies.join(", ") : NO_RULE();
}

function renderPanel() {
  const incident = state.incidents.get(state.selectedId);
  const panel = byId("incident-panel");
  panel.hidden = !incident;
  byId("no-selection").hidden = Boolean(incident);
  if (!incident) {
    conversation.render(null);
    return;
  }
  byId("detail-reference").textContent = incident.reference;
  byId("detail-status").replaceWith(Object.assign(badge("incident", incident.status), { id: "detail-status" }));
  const call = latestCallOf(incident.id);
  byId("detail-caller").textContent = call ? callerNumber(call) : "";
  renderHandsetPosition(byId("detail-position"), incident);
  duplicates.render();
  const history = call ? historyText(call.caller_history) : "";
  byId("detail-history").hidden = !history;
  byId("detail-history").textContent = history ? `${gettext("Caller history:")} ${history} — ${gettext("a warning, not a reason to refuse.")}` : "";
  const silent = [...state.assignments.values()].filter((a) => a.incident === incident.id && takenBack(a));
  byId("detail-flag").hidden = !incident.unroutable;
  byId("taken-back").hidden = !(incident.status === "new" && silent.length);
  byId("taken-back").textContent = `${gettext("Taken back from")} ${silent.map((a) => a.agency).join(", ")}: ${gettext("they did not acknowledge in time. Choose another agency.")}`;
  const open = config.incident.open.includes(incident.status);
  if (!state.dispatching) byId("dispatch").disabled = !open;
  byId("close-incident").disabled = incident.status === "closed";
  // Refill only when the incident changed on the server, so a re-render leaves an open list alone.
  const version = `${incident.id}:${incident.updated_at}`;
  if (!state.dirty && state.filled !== version) {
    fillForm(incident);
    state.filled = version;
  }
  fillClassification(call);
  conversation.render(incident);
  const preview = byId("routing-preview");
  preview.textContent = previewText();
  preview.classList.toggle("blocked", Boolean(dispatchBlocker()) || state.preview?.agencies?.length === 0);
  const assignments = [...state.assignments.values()].filter((a) => a.incident === incident.id);
  byId("assignment-list").replaceChildren(
    ...assignments.map((a) =>
      el(
        "li",
        { className: `item s-${a.status}`, dataset: { agency: a.agency, status: a.status } },
        el("strong", {}, a.agency),
        " ",
        badge("assignment", a.status),
        el(
          "div",
          { className: "meta" },
          a.acknowledged_at
            ? `${gettext("acknowledged")} ${wib(a.acknowledged_at)} · ${a.acknowledged_by || ""}`
            : [`${gettext("since")} ${wib(a.created_at)} · `, ticking(a.created_at)],
        ),
        a.note ? el("div", { className: "pre" }, a.note) : null,
      ),
    ),
  );
}

function render() {
  renderWaiting();
  renderMissed();
  renderMyCall();
  renderCalls();
  renderBoard();
  renderPanel();
  renderAttention();
  escalations.render();
  maps.render([...state.incidents.values()], state.selectedId);
}
const rerender = scheduler(render);

function focusPanel() {
  if (!byId("incident-panel").hidden) byId("detail-title").focus({ preventScroll: false });
}

async function select(incidentId) {
  if (state.selectedId !== incidentId && state.dirty) {
    if (!window.confirm(gettext("Discard the changes you have not saved?"))) return false;
  }
  if (state.selectedId !== incidentId) {
    state.dirty = false;
    state.preview = null;
    state.filled = null;
    conversation.reset();
    conversation.open(incidentId);
  }
  state.selectedId = incidentId;
  state.unseenTexts.delete(incidentId);
  timeline.clear();
  duplicates.follow(incidentId);
  render();
  try {
    if (!state.incidents.has(incidentId)) storeIncident(state, await api(`/api/v1/incidents/${incidentId}/`));
    const events = await fetchAll(`/api/v1/incidents/${incidentId}/events/?page_size=500`);
    if (state.selectedId === incidentId) events.forEach((event) => timeline.add(event));
  } catch (error) {
    formError(explainForm(error));
  }
  render();
  refreshPreview();
  return true;
}

function formValues() {
  const priority = byId("f-priority").value;
  return {
    category: categoryBox.value || null,
    priority: priority ? Number(priority) : null,
    area: locationBox.value || null,
    address: byId("f-address").value,
    description: byId("f-description").value,
    caller_name: byId("f-caller-name").value,
    caller_phone: byId("f-caller-phone").value,
  };
}

async function refreshPreview() {
  const id = state.selectedId;
  if (!id) return;
  const params = new URLSearchParams({ category: categoryBox.value, area: locationBox.value });
  try {
    const preview = await api(`/api/v1/incidents/${id}/routing/?${params}`);
    if (state.selectedId !== id) return;
    state.preview = { id, agencies: preview.agencies };
    byId("override-agencies").querySelectorAll("input").forEach((box) => {
      box.checked = preview.agencies.includes(box.value);
    });
  } catch (error) {
    state.preview = null;
    formError(explainForm(error));
  }
  rerender();
}

function categoryChosen(option, how, changed) {
  if (changed) state.dirty = true;
  // The priority follows the category finally chosen, unless the operator set it by hand.
  if (option && !state.priorityByHand && (changed || !byId("f-priority").value)) {
    byId("f-priority").value = String(option.priority);
    state.dirty = true;
  }
  refreshPreview();
  if (how === "enter") locationBox.input.focus();
}

function locationChosen(_option, how, changed) {
  if (changed) state.dirty = true;
  refreshPreview();
  if (how === "enter") byId("f-address").focus();
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
    formError(explainForm(error));
    return false;
  }
}

function explainForm(error) {
  return explain(error, (field) => labelIn(byId("incident-form"), field));
}

function overrideAgencies() {
  if (!byId("override").open) return null;
  const chosen = [...byId("override-agencies").querySelectorAll("input:checked")].map((box) => box.value);
  const preview = state.preview?.agencies || [];
  const same = chosen.length === preview.length && chosen.every((code) => preview.includes(code));
  return same ? null : chosen;
}

// What stops the incident's save or dispatch, scrolled into sight: the panel scrolls, and the
// message would otherwise sit out of view behind the sticky buttons.
function formError(message) {
  const box = byId("form-errors");
  box.textContent = message;
  box.scrollIntoView({ block: "center" });
}

function block(message, focus) {
  formError(message);
  if (focus === "classification") byId("classification").querySelector("input")?.focus();
  else if (focus === "category") categoryBox.input.focus();
  else if (focus === "override") {
    byId("override").open = true;
    byId("override-agencies").querySelector("input")?.focus();
  }
}

async function dispatchSelected() {
  const button = byId("dispatch");
  if (state.dispatching || button.disabled) return; // a second press while the first is under way
  state.dispatching = true;
  button.disabled = true;
  const id = state.selectedId;
  let done = false;
  try {
    done = await saveAndDispatch();
  } finally {
    state.dispatching = false;
    renderPanel();
  }
  if (done) nextWork(id);
}

async function saveAndDispatch() {
  await state.classifying;
  // Ctrl+Enter takes a highlighted match the operator has not confirmed yet.
  categoryBox.acceptPending("ctrl");
  locationBox.acceptPending("ctrl");
  const blocker = dispatchBlocker();
  if (blocker) {
    block(blocker.message, blocker.focus);
    return false;
  }
  if (!(await save())) return false;
  let agencies = overrideAgencies();
  try {
    if (agencies === null) {
      const preview = await api(`/api/v1/incidents/${state.selectedId}/routing/`);
      state.preview = { id: state.selectedId, agencies: preview.agencies };
      if (!preview.agencies.length) {
        block(NO_RULE(), "override");
        return false;
      }
    } else if (!agencies.length) {
      block(NO_RULE(), "override");
      return false;
    }
    const incident = await api(`/api/v1/incidents/${state.selectedId}/dispatch/`, {
      method: "POST",
      body: agencies ? { agencies } : {},
    });
    storeIncident(state, incident);
    byId("override").open = false;
    agencies = null;
    rerender();
    return true;
  } catch (error) {
    formError(explainForm(error));
    return false;
  }
}

// The classification under way, awaited by a dispatch that follows it at once (N … Ctrl+Enter).
function classify(value) {
  state.classifying = sendClassification(value);
  return state.classifying;
}

async function sendClassification(value) {
  const call = latestCallOf(state.selectedId);
  if (!call) {
    formError(gettext("This incident has no call to classify."));
    return false;
  }
  byId("form-errors").textContent = "";
  const pending = { callId: call.id, value };
  state.pendingClassification = pending;
  try {
    upsert(state.calls, await api(`/api/v1/calls/${call.id}/`, { method: "PATCH", body: { classification: value } }));
    return true;
  } catch (error) {
    formError(explainForm(error));
    return false;
  } finally {
    if (state.pendingClassification === pending) state.pendingClassification = null;
    rerender();
  }
}

// N: a real emergency, straight on to the category. G/P/I close the incident (Cilegon SOP):
// then the call is to be ended (H), and on to the next caller or incident.
async function classifyByKey(value) {
  await state.pickingUp; // A then N: the classification is for the caller just picked up
  if (!state.selectedId) return;
  const radio = byId("classification").querySelector(`input[value=${value}]`);
  if (radio && !radio.disabled) radio.checked = true;
  if (value === "normal") categoryBox.input.focus();
  const done = await classify(value);
  if (done && value !== "normal") nextWork(state.selectedId);
}

async function closeSelected() {
  const reason = await askCloseReason();
  if (!reason) return;
  try {
    const body = { status: "closed", close_reason: reason };
    storeIncident(state, await api(`/api/v1/incidents/${state.selectedId}/`, { method: "PATCH", body }));
    rerender();
  } catch (error) {
    formError(explainForm(error));
  }
}

// After a dispatch (or a call that needs none): while the operator is still on the call, ending
// it (H); then the caller waiting longest, else the most urgent new incident, else stay.
function nextWork(doneId) {
  render();
  if (remindOfHeldCall(gettext("Still on the call: H ends it, then Enter picks up the next caller."))) {
    focusPanel();
    return;
  }
  const pick = byId("waiting-list").querySelector("[data-pick-up]");
  if (pick) {
    pick.focus();
    return;
  }
  const fresh = boardOrder().find((incident) => incident.status === "new" && incident.id !== doneId);
  if (fresh) {
    select(fresh.id).then((selected) => selected && focusPanel());
    return;
  }
  if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
}

function moveSelection(step) {
  const order = boardOrder();
  if (!order.length) return;
  const index = order.findIndex((incident) => incident.id === state.selectedId);
  const next = order[Math.min(order.length - 1, Math.max(0, index + step))];
  select(next.id);
  document.querySelector(`[data-incident-id="${next.id}"].incident`)?.scrollIntoView({ block: "nearest" });
}

// --- picking up, releasing, missed calls ------------------------------------------------------

function say(id, message) {
  byId(id).textContent = message;
}

function pickUp(callId) {
  state.pickingUp = sendPickUp(callId);
  return state.pickingUp;
}

async function sendPickUp(callId) {
  alarm.unlock();
  say("waiting-message", "");
  try {
    const call = await api(`/api/v1/calls/${callId}/pick-up/`, { method: "POST" });
    upsert(state.calls, call);
    rerender();
    if (call.incident && (await select(call.incident))) focusPanel();
  } catch (error) {
    if (error.status === 409) {
      say("waiting-message", gettext("Another operator picked up this caller."));
      await loadQueue();
    } else say("waiting-message", explain(error));
  }
}

// A: answer the ringing softphone; else pick up the caller waiting longest.
function myHeldCall() {
  return heldCalls().find((call) => call.picked_up_by === state.me && ["connecting", "connected"].includes(call.queue_state));
}

// One caller at a time (the server refuses a second): while the operator holds a call, say how
// to end it, and leave the focus off the end button, where a reflex Enter would hang up on a
// 112 caller. Ending it takes its own key, H.
function remindOfHeldCall(message) {
  const held = myHeldCall();
  if (!held) return false;
  say("waiting-message", message);
  return true;
}

function answerOrPickUp() {
  if (phone.ringing) {
    phone.answer();
    return;
  }
  if (remindOfHeldCall(gettext("You are on a call: end it (H) or release it before you pick up the next caller."))) return;
  const oldest = waitingCallers()[0];
  if (oldest) pickUp(oldest.id);
}

async function release(callId) {
  say("waiting-message", "");
  try {
    upsert(state.calls, await api(`/api/v1/calls/${callId}/release/`, { method: "POST" }));
  } catch (error) {
    say("waiting-message", explain(error));
  }
  rerender();
}

async function endCall(callId) {
  say("waiting-message", "");
  try {
    upsert(state.calls, await api(`/api/v1/calls/${callId}/hang-up/`, { method: "POST" }));
  } catch (error) {
    say("waiting-message", explain(error));
  }
  render();
  byId("waiting-list").querySelector("[data-pick-up]")?.focus(); // the next caller, one Enter away
}

// H: the softphone's own hang-up when it rings or talks; otherwise end the call this operator
// holds (a desk phone, or the demo's console backend, where nothing rings in the browser).
function hangUp() {
  if (["ringing", "in-call"].includes(phone.status)) {
    phone.hangUp();
    return;
  }
  const held = myHeldCall();
  if (held) endCall(held.id);
}

async function callBack(callId) {
  say("missed-message", "");
  try {
    const callback = await api(`/api/v1/calls/${callId}/callback/`, { method: "POST" });
    upsert(state.calls, callback);
  } catch (error) {
    say("missed-message", error.status === 409 ? gettext("This call was already settled by another operator.") : explain(error));
    await loadMissed();
  }
  rerender();
}

async function resolveMissed(callId, reason) {
  say("missed-message", "");
  try {
    upsert(state.calls, await api(`/api/v1/calls/${callId}/resolve-missed/`, { method: "POST", body: { reason } }));
    state.resolving = null;
    reasonForm = null;
  } catch (error) {
    say("missed-message", error.status === 409 ? gettext("This call was already settled by another operator.") : explain(error));
    if (error.status === 409) await loadMissed();
  }
  rerender();
}

// --- controls ----------------------------------------------------------------------------------

// Fields where letters are text; elsewhere a letter is a hotkey.
function textEntry(target) {
  if (!target || !target.tagName) return false;
  if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
  return target.tagName === "INPUT" && !["radio", "checkbox", "button", "submit", "reset"].includes(target.type);
}

function onKey(event) {
  const ctrl = event.ctrlKey || event.metaKey;
  if (ctrl && event.key === "Enter" && state.selectedId) {
    event.preventDefault();
    dispatchSelected();
    return;
  }
  if (ctrl && (event.key === "s" || event.key === "S") && state.selectedId) {
    event.preventDefault();
    save();
    return;
  }
  if (ctrl || event.altKey) return;
  if (event.key === "Enter" && event.target.matches?.("li[data-incident-id]") && event.target.dataset.incidentId) {
    select(Number(event.target.dataset.incidentId));
    return;
  }
  if (event.key === "Escape" && textEntry(event.target)) {
    event.target.blur();
    return;
  }
  if (textEntry(event.target) || event.repeat) return;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  if (key === "a") {
    event.preventDefault();
    answerOrPickUp();
  } else if (CLASSIFY_KEYS[key] && state.selectedId) {
    event.preventDefault(); // the letter must not land in the field that gets the focus
    classifyByKey(CLASSIFY_KEYS[key]);
  } else if (key === "c" && state.selectedId) {
    event.preventDefault();
    categoryBox.input.focus();
  } else if (key === "l" && state.selectedId) {
    event.preventDefault();
    locationBox.input.focus();
  } else if (key === "d" && state.selectedId) {
    if (duplicates.focus()) event.preventDefault();
  } else if (key === "j" || key === "k") {
    moveSelection(key === "j" ? 1 : -1);
  } else if (key === "r" && state.selectedId) {
    event.preventDefault();
    conversation.focus();
  } else if (key === "h") {
    hangUp();
  } else if (key === "m") {
    phone.toggleMute();
  }
}

function onClick(event) {
  alarm.unlock();
  const button = event.target.closest("button");
  if (button?.dataset.pickUp) return pickUp(Number(button.dataset.pickUp));
  if (button?.dataset.release) return release(Number(button.dataset.release));
  if (button?.dataset.endCall) return endCall(Number(button.dataset.endCall));
  if (button?.dataset.callback) return callBack(Number(button.dataset.callback));
  if (button?.dataset.resolve) {
    state.resolving = Number(button.dataset.resolve);
    reasonForm = null;
    renderMissed();
    byId("resolve-reason")?.focus();
    return;
  }
  if (button?.dataset.cancelResolve) {
    state.resolving = null;
    reasonForm = null;
    renderMissed();
    return;
  }
  if (button?.id === "pick-oldest") return answerOrPickUp();
  if (button?.id === "enable-sound") {
    rerender();
    return;
  }
  const item = event.target.closest("[data-incident-id]");
  if (item && item.dataset.incidentId) select(Number(item.dataset.incidentId));
}

// The key help is a reminder, not a place to stay: open, it covers the waiting callers, so Esc
// or a click anywhere else closes it.
function bindKeyHelp() {
  const help = document.querySelector("details.keys");
  if (!help) return;
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && help.open) help.open = false;
  });
  document.addEventListener("click", (event) => {
    if (help.open && !help.contains(event.target)) help.open = false;
  });
}

function bindControls() {
  conversation.bind();
  bindKeyHelp();
  document.addEventListener("click", onClick);
  document.addEventListener("keydown", onKey);
  document.addEventListener("submit", (event) => {
    const form = event.target.closest(".resolve-form");
    if (!form) return;
    event.preventDefault();
    const reason = form.querySelector("input").value.trim();
    if (reason) resolveMissed(Number(form.dataset.callId), reason);
  });
  const form = byId("incident-form");
  form.addEventListener("input", () => {
    state.dirty = true;
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  byId("f-priority").addEventListener("change", () => {
    state.priorityByHand = true;
  });
  byId("dispatch").addEventListener("click", dispatchSelected);
  byId("close-incident").addEventListener("click", closeSelected);
  document.querySelectorAll("input[name=classification]").forEach((radio) =>
    radio.addEventListener("change", (event) => classify(event.target.value)),
  );
}

// --- loading and live events ------------------------------------------------------------------

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
  maps.setAreas(areas);
  categoryBox.setOptions(categoryOptions());
  locationBox.setOptions(locationOptions());
  byId("override-agencies").replaceChildren(
    ...state.agencies.map((a) => el("label", {}, el("input", { type: "checkbox", value: a.code }), ` ${a.code}`)),
  );
}

async function loadQueue() {
  const calls = await fetchAll(`/api/v1/calls/?queue_state=${QUEUE_STATES.join(",")}&page_size=200`);
  calls.forEach((call) => upsert(state.calls, call));
  rerender();
}

async function loadMissed() {
  const calls = await fetchAll("/api/v1/calls/?missed=true&page_size=200");
  calls.forEach((call) => upsert(state.calls, call));
  rerender();
}

async function loadState(user) {
  if (user?.username) state.me = user.username;
  const [calls, open, resolved] = await Promise.all([
    api("/api/v1/calls/?page_size=50"),
    fetchAll(`/api/v1/incidents/?status=${config.incident.open.join(",")}&page_size=200`),
    // The board's columns past the open ones (resolved): only the latest few.
    api(`/api/v1/incidents/?status=${BOARD_STATUSES.filter((s) => !config.incident.open.includes(s)).join(",")}&page_size=30`),
    loadQueue(),
    loadMissed(),
  ]);
  calls.results.forEach((call) => upsert(state.calls, call));
  [...open, ...resolved.results].forEach((incident) => storeIncident(state, incident));
  await escalations.load();
  state.loaded = true;
  render();
}

function onEvent(envelope) {
  const data = envelope.data || {};
  if (data.call) upsert(state.calls, data.call);
  if (data.incident) {
    storeIncident(state, data.incident);
    duplicates.observe(data.incident);
  }
  if (data.assignment) upsert(state.assignments, data.assignment);
  escalations.apply(envelope);
  conversation.apply(envelope);
  if (envelope.incident && envelope.incident === state.selectedId) timeline.add(envelope);
  // A text to an incident that has ended (closed, merged) no longer waits for anybody.
  for (const id of state.unseenTexts) {
    const incident = state.incidents.get(id);
    if (incident && !config.incident.open.includes(incident.status)) state.unseenTexts.delete(id);
  }
  rerender();
}

async function main() {
  bindControls();
  alarm.unlockQuietly(); // kiosk set-ups allow sound at once; elsewhere the hint asks for a click
  phone.start();
  await loadReferenceData();
  const feed = new LiveFeed({ onEvent, onReady: loadState, onConnection: showConnection });
  feed.start();
  // One ticker: every wait, age and countdown on the page counts each second; the softphone's
  // "still registering" turns into a warning; nothing else is re-rendered.
  startTicker(() => {
    phone.render();
    renderAttention();
  });
  window.addEventListener("beforeunload", (event) => {
    if (state.dirty) event.preventDefault();
  });
}

main();

// The history page: the server lists the ended incidents; choosing one shows its whole timeline
// (the consoles' Timeline and wording) and, for the command centre, a Reopen button.

import { api, explain, fetchAll } from "./api.js";
import { config, label } from "./config.js";
import { Timeline } from "./store.js";
import { badge, byId, el } from "./ui.js";

const canReopen = document.body.dataset.canReopen === "true";
const timeline = new Timeline();
let shown = null; // the incident in the panel

function fact(term, value) {
  return value ? [el("dt", {}, term), el("dd", { className: "pre" }, value)] : [];
}

function showIncident(incident) {
  shown = incident;
  byId("detail-reference").textContent = incident.reference;
  byId("detail-status").replaceWith(Object.assign(badge("incident", incident.status), { id: "detail-status" }));
  byId("detail-reason").textContent = incident.close_reason
    ? interpolate(gettext("Closed as: %(reason)s"), { reason: label("close_reason", incident.close_reason) }, true)
    : "";
  byId("detail-facts").replaceChildren(
    ...fact(gettext("Caller"), [incident.caller_name, incident.caller_phone].filter(Boolean).join(" · ")),
    ...fact(gettext("Address"), incident.address),
    ...fact(gettext("Description"), incident.description),
  );
  if (canReopen) byId("reopen").hidden = !config.incident.ended.includes(incident.status);
  document.querySelectorAll("tr[data-incident-id]").forEach((row) => {
    row.classList.toggle("selected", Number(row.dataset.incidentId) === incident.id);
  });
}

async function open(incidentId) {
  byId("detail-error").textContent = "";
  try {
    const [incident, events] = await Promise.all([
      api(`/api/v1/incidents/${incidentId}/`),
      fetchAll(`/api/v1/incidents/${incidentId}/events/?page_size=500`),
    ]);
    byId("detail-empty").hidden = true;
    byId("detail-body").hidden = false;
    showIncident(incident);
    timeline.clear();
    events.forEach((event) => timeline.add(event));
    byId("detail-title").focus();
  } catch (error) {
    byId("detail-error").textContent = explain(error);
  }
}

async function reopen() {
  byId("detail-error").textContent = "";
  try {
    await api(`/api/v1/incidents/${shown.id}/`, { method: "PATCH", body: { status: "new" } });
    await open(shown.id);
    const badge = document.querySelector(`tr[data-incident-id="${shown.id}"] .badge`);
    badge?.replaceWith(badge("incident", shown.status));
  } catch (error) {
    byId("detail-error").textContent = explain(error);
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-open]");
  if (button) open(Number(button.dataset.open));
});
if (canReopen) byId("reopen").addEventListener("click", reopen);

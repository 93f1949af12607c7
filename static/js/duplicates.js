// Incidents that may be the same emergency as the selected one (CONTRACT §10 `similar/`): a
// warning at the top of the incident panel, so one fire is not dispatched twice, with the two
// ways to join them: merge the selected incident into the other one, or move only its latest
// call there. Each asks once more inline (a second press, focused, so Enter Enter does it):
// a merge closes an incident, and a stressed operator must see which way it goes.

import { api, explain } from "./api.js";
import { config } from "./config.js";
import { badge, byId, callerNumber, el, patchList, sayWith, ticking } from "./ui.js";

// Live events come in bursts (one merge writes several): one request after the burst.
const REFRESH_DELAY_MS = 300;

function isOpen(incident) {
  return Boolean(incident) && config.incident.open.includes(incident.status);
}

function reasonWords(reasons) {
  return reasons.map((reason) => config.incident.similar_reasons[reason] || reason).join(" · ");
}

// What the server's similarity depends on; a change anywhere may add or drop a hint.
function similarityKey(incident) {
  return [incident.status, incident.category, incident.area, incident.caller_phone, incident.aml_at].join("|");
}

export class DuplicateHints {
  // incidentOf(id), callsOf(id) and latestCallOf(id) read the console's store;
  // describe(incident) names its category and area; select(id) opens an incident;
  // merged(target) and linked(call) store what the server answered.
  constructor({ incidentOf, callsOf, latestCallOf, describe, select, merged, linked }) {
    Object.assign(this, { incidentOf, callsOf, latestCallOf, describe, select, merged, linked });
    this.selectedId = null;
    this.found = []; // [{ ...summary, reasons }] similar to selectedId
    this.confirming = null; // { id, action: "merge" | "link" } waiting for the second press
    this.message = ""; // why a merge or a link failed; stays until the next try
    this.fetchError = ""; // why the hints could not be fetched; gone with the next fetch
    this.keys = new Map(); // incident id → similarityKey last seen
    this.requests = 0;
    this.box = byId("similar");
    this.box.addEventListener("click", (event) => this.onClick(event));
    byId("merged-into").addEventListener("click", (event) => this.onClick(event));
    this.box.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.confirming) this.ask(null);
    });
  }

  // A new selection (or the same one again): forget the old hints, fetch its own.
  follow(incidentId) {
    if (incidentId !== this.selectedId) {
      this.selectedId = incidentId;
      this.found = [];
      this.confirming = null;
      this.message = "";
      this.fetchError = "";
    }
    this.refresh();
  }

  // An incident from a live event: refetch when something similarity depends on changed.
  observe(incident) {
    const key = similarityKey(incident);
    if (this.keys.get(incident.id) === key) return;
    this.keys.set(incident.id, key);
    if (!this.selectedId) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), REFRESH_DELAY_MS);
  }

  async refresh() {
    const id = this.selectedId;
    const request = ++this.requests;
    try {
      const page = await api(`/api/v1/incidents/${id}/similar/?page_size=20`);
      if (request === this.requests) [this.found, this.fetchError] = [page.results, ""];
    } catch (error) {
      if (request === this.requests) this.fetchError = explain(error);
    }
    if (request === this.requests) this.render();
  }

  // D: to the first hint's merge button (one Enter asks, a second one merges).
  focus() {
    const button = this.box.querySelector("[data-merge]");
    button?.focus();
    return Boolean(button);
  }

  // The hints still open, each with the store's fresher copy over the fetched one.
  hints() {
    return this.found.map((hit) => ({ ...hit, ...this.incidentOf(hit.id), reasons: hit.reasons })).filter(isOpen);
  }

  render() {
    const selected = this.incidentOf(this.selectedId);
    this.renderMerged(selected);
    const hints = isOpen(selected) ? this.hints() : [];
    const message = this.message || this.fetchError;
    this.box.hidden = !hints.length && !message;
    byId("similar-message").textContent = message;
    // Moving the latest call differs from a merge only when the incident holds other calls too
    // (a lone call's incident is merged either way: calls/linking.py). Counted from the calls
    // themselves: the incident's event after a merge names its calls from before the move.
    const canLink = this.callsOf(this.selectedId).length > 1 && Boolean(this.latestCallOf(this.selectedId));
    const signature = JSON.stringify([
      this.selectedId,
      canLink,
      this.confirming,
      hints.map((h) => [h.id, h.updated_at, h.status, h.reasons]),
    ]);
    patchList(byId("similar-list"), signature, () => hints.map((hint) => this.item(selected, hint, canLink)));
  }

  renderMerged(selected) {
    const note = byId("merged-into");
    const target = selected?.merged_into ? this.incidentOf(selected.merged_into) : null;
    note.hidden = !selected?.merged_into;
    const signature = note.hidden ? "" : `${selected.merged_into}:${target?.reference}`;
    if (note.dataset.signature === signature) return;
    note.dataset.signature = signature;
    const reference = target?.reference || `#${selected?.merged_into}`;
    note.replaceChildren(
      ...(note.hidden
        ? []
        : [
            interpolate(gettext("Merged into %(reference)s as a duplicate."), { reference }, true),
            " ",
            el("button", { type: "button", dataset: { open: selected.merged_into } }, interpolate(gettext("Open %(reference)s"), { reference }, true)),
          ]),
    );
  }

  item(selected, hint, canLink) {
    const asking = this.confirming?.id === hint.id ? this.confirming.action : null;
    return el(
      "li",
      { className: `item similar-item p-${hint.priority || "none"}`, dataset: { similarId: hint.id, reference: hint.reference } },
      el("div", { className: "card-top" }, el("strong", { className: "ref" }, hint.reference), " ", badge("incident", hint.status), " ", ticking(hint.created_at)),
      el("div", {}, el("span", { className: "reasons" }, reasonWords(hint.reasons)), el("span", { className: "meta" }, ` · ${this.describe(hint)}`)),
      asking ? this.confirmation(selected, hint, asking) : this.actions(hint, canLink),
    );
  }

  actions(hint, canLink) {
    return el(
      "div",
      { className: "similar-actions" },
      el(
        "button",
        { type: "button", className: "primary", dataset: { merge: hint.id, focus: `merge-${hint.id}` }, title: gettext("Close this incident as a duplicate: its calls move there") },
        gettext("Merge into it"),
      ),
      canLink
        ? el("button", { type: "button", dataset: { link: hint.id, focus: `link-${hint.id}` }, title: gettext("Only the latest call moves there; this incident stays open") }, gettext("Link the call to it"))
        : null,
      el("button", { type: "button", dataset: { open: hint.id, focus: `open-${hint.id}` } }, gettext("Open")),
    );
  }

  // The second press, worded with both references so the direction is plain. Its buttons take
  // the focus name of the button that asked: the focus lands on "Yes" and comes back after.
  confirmation(selected, hint, action) {
    const focus = `${action}-${hint.id}`;
    // References stay whole on their line: a reference cut at a hyphen reads as another one.
    const reference = (text) => el("span", { className: "nowrap" }, text);
    const question =
      action === "merge"
        ? sayWith(gettext("Merge %(duplicate)s into %(target)s? Its calls move there and it is closed."), {
            duplicate: reference(selected.reference),
            target: reference(hint.reference),
          })
        : sayWith(gettext("Link the call from %(number)s to %(target)s? %(incident)s stays open."), {
            number: reference(callerNumber(this.latestCallOf(this.selectedId))),
            target: reference(hint.reference),
            incident: reference(selected.reference),
          });
    return el(
      "div",
      { className: "confirm", role: "group" },
      el("p", {}, question),
      el(
        "div",
        { className: "similar-actions" },
        el(
          "button",
          { type: "button", className: "primary", dataset: { confirm: hint.id, focus } },
          action === "merge" ? gettext("Yes, merge") : gettext("Yes, link the call"),
        ),
        el("button", { type: "button", dataset: { cancel: hint.id, focus } }, gettext("Cancel")),
      ),
    );
  }

  ask(confirming) {
    this.confirming = confirming;
    this.message = "";
    this.render();
  }

  onClick(event) {
    const button = event.target.closest("button");
    if (!button) return;
    const { merge, link, confirm, cancel, open } = button.dataset;
    if (merge) this.ask({ id: Number(merge), action: "merge" });
    else if (link) this.ask({ id: Number(link), action: "link" });
    else if (cancel) this.ask(null);
    else if (confirm) this.join(this.confirming);
    else if (open) this.select(Number(open));
  }

  async join({ id, action }) {
    if (this.joining) return; // a second "Yes" while the first is on its way
    this.joining = true;
    const source = this.selectedId;
    try {
      if (action === "merge") {
        this.merged(await api(`/api/v1/incidents/${source}/merge/`, { method: "POST", body: { into: id } }));
      } else {
        const call = this.latestCallOf(source);
        this.linked(await api(`/api/v1/calls/${call.id}/link/`, { method: "POST", body: { incident: id } }));
      }
      this.confirming = null;
      this.select(id);
    } catch (error) {
      const format = action === "merge" ? gettext("Not merged: %(reason)s") : gettext("Not linked: %(reason)s");
      this.confirming = null;
      this.message = interpolate(format, { reason: explain(error) }, true);
      this.render();
      this.refresh();
    } finally {
      this.joining = false;
    }
  }
}

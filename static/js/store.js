// What both consoles keep in memory: objects by id, applied from fetches and live events in any
// order, and the timeline of the selected incident.

import { byId, timelineItem } from "./ui.js";

// Keep whichever copy of an object is newer: a replayed old event must not undo a fresh fetch.
export function upsert(map, object) {
  const current = map.get(object.id);
  if (current && current.updated_at && object.updated_at && current.updated_at > object.updated_at) {
    return;
  }
  map.set(object.id, { ...current, ...object });
}

// An incident from the API carries its (visible) assignments; they are kept on their own.
export function storeIncident(state, incident) {
  const { assignments, ...summary } = incident;
  upsert(state.incidents, summary);
  (assignments || []).forEach((assignment) => upsert(state.assignments, assignment));
}

// The #timeline list: fetched entries and live ones, each shown once.
export class Timeline {
  constructor() {
    this.seqs = new Set();
  }

  clear() {
    this.seqs = new Set();
    byId("timeline").replaceChildren();
  }

  add(event) {
    if (this.seqs.has(event.seq)) return;
    this.seqs.add(event.seq);
    byId("timeline").append(timelineItem(event));
  }
}

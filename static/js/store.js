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

// The #timeline list: fetched entries and live ones, each shown once. A call event carries the
// whole call; the call's previous entry says what changed ("picked up by", "classified as").
export class Timeline {
  constructor() {
    this.seqs = new Set();
    this.calls = new Map();
  }

  clear() {
    this.seqs = new Set();
    this.calls = new Map();
    byId("timeline").replaceChildren();
  }

  add(event) {
    if (this.seqs.has(event.seq)) return;
    this.seqs.add(event.seq);
    const call = event.data?.call;
    const previous = call ? this.calls.get(call.id) : undefined;
    if (call) this.calls.set(call.id, call);
    // In seq order, also for a live event that arrives after a later one.
    const list = byId("timeline");
    const later = [...list.children].find((item) => Number(item.dataset.seq) > event.seq);
    list.insertBefore(timelineItem(event, previous), later || null);
  }
}

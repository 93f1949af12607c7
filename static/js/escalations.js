// The supervisor's view on the command-centre console: assignments that nobody acknowledged
// in time, which escalation step fired when, who was notified and whether it was delivered.

import { api, fetchAll } from "./api.js";
import { label, takenBack } from "./config.js";
import { byId, el, ticking, wib } from "./ui.js";

// The next step and when it falls due: the server's deadline (`escalate_at`, null once the
// agency acknowledged or every step fired) with the action of the step it belongs to.
export function nextStep(assignment) {
  const step = (assignment.escalation_steps || [])[assignment.escalation_level];
  if (!step || !assignment.escalate_at) return null;
  return { action: step.action, due_at: assignment.escalate_at };
}

export class EscalationBoard {
  constructor({ onAlert, incidentStatus }) {
    this.items = new Map(); // assignment id → { assignment, steps: Map, notifications: Map }
    this.onAlert = onAlert;
    this.incidentStatus = incidentStatus;
  }

  // Waiting for the agency, or taken back and still waiting for a new dispatch.
  needsAttention({ assignment }) {
    if (assignment.status === "pending") return true;
    return takenBack(assignment) && this.incidentStatus(assignment.incident) === "new";
  }

  entry(assignment) {
    const current = this.items.get(assignment.id) || { steps: new Map(), notifications: new Map() };
    current.assignment = { ...current.assignment, ...assignment };
    this.items.set(assignment.id, current);
    return current;
  }

  // The escalated assignments still pending, and the cancelled ones whose incident is still
  // new (the only ones that can be taken back and waiting): not every cancelled one in history.
  async load() {
    const [pending, cancelled, notifications] = await Promise.all([
      fetchAll("/api/v1/assignments/?escalated=1&status=pending&page_size=200"),
      fetchAll("/api/v1/assignments/?escalated=1&status=cancelled&incident_status=new&page_size=200"),
      api("/api/v1/notifications/?page_size=200"),
    ]);
    for (const assignment of [...pending, ...cancelled.filter(takenBack)]) {
      const entry = this.entry(assignment);
      assignment.escalation_steps.slice(0, assignment.escalation_level).forEach((step, index) => {
        entry.steps.set(index, { index, action: step.action, fired_at: null });
      });
    }
    // A fired step's time is its first notification's: every handler notifies someone.
    for (const notification of notifications.results) {
      const entry = this.items.get(notification.assignment);
      if (!entry) continue;
      entry.notifications.set(notification.id, notification);
      const step = entry.steps.get(notification.step);
      if (step && (!step.fired_at || notification.created_at < step.fired_at)) step.fired_at = notification.created_at;
    }
  }

  apply(envelope) {
    const data = envelope.data || {};
    if (envelope.event === "escalation.triggered") {
      const entry = this.entry(data.assignment);
      entry.steps.set(data.step.index, data.step);
      (data.notifications || []).forEach((n) => entry.notifications.set(n.id, n));
      entry.freshUntil = Date.now() + 6000;
      this.onAlert(data);
    } else if (data.notification) {
      this.items.get(data.notification.assignment)?.notifications.set(data.notification.id, data.notification);
    } else if (data.assignment && this.items.has(data.assignment.id)) {
      this.entry(data.assignment);
    }
  }

  countdown(assignment) {
    const next = nextStep(assignment);
    if (!next) return null;
    return el(
      "div",
      { className: "next-step", dataset: { action: next.action } },
      `${interpolate(gettext("Next: %(action)s in"), { action: label("action", next.action) }, true)} `,
      ticking(next.due_at, { until: true, className: "countdown" }),
    );
  }

  render() {
    const open = [...this.items.values()].filter((item) => this.needsAttention(item));
    byId("escalation-count").textContent = open.length ? String(open.length) : "";
    byId("no-escalations").hidden = open.length > 0;
    byId("escalation-list").replaceChildren(
      ...open
        .sort((a, b) => a.assignment.created_at.localeCompare(b.assignment.created_at))
        .map(({ assignment, steps, notifications, freshUntil }) =>
          el(
            "li",
            {
              className: `item escalation${freshUntil > Date.now() ? " fresh" : ""}`,
              dataset: { incidentId: assignment.incident, assignmentId: assignment.id, level: assignment.escalation_level },
            },
            el("strong", {}, assignment.incident_reference),
            ` · ${assignment.agency} · `,
            el("span", { className: "tag escalated" }, `${gettext("level")} ${assignment.escalation_level}`),
            el(
              "div",
              { className: takenBack(assignment) ? "flag" : "meta" },
              takenBack(assignment)
                ? gettext("Taken back: dispatch it to another agency")
                : [`${gettext("waiting")} `, ticking(assignment.created_at, { format: "clock" })],
            ),
            this.countdown(assignment),
            el(
              "ol",
              {},
              [...steps.values()]
                .sort((a, b) => a.index - b.index)
                .map((step) => el("li", { dataset: { action: step.action } }, `${label("action", step.action)} · ${wib(step.fired_at || step.due_at)}`)),
            ),
            el(
              "ul",
              { className: "list" },
              [...notifications.values()]
                .filter((n) => n.channel !== "console")
                .map((n) =>
                  el(
                    "li",
                    { className: `n-${n.status}`, dataset: { channel: n.channel, status: n.status } },
                    `${n.channel.toUpperCase()} → ${n.recipient || "—"}: ${label("delivery", n.status)}` +
                      (n.provider_id.startsWith("console-") ? ` (${gettext("simulated")})` : "") +
                      (n.error ? ` (${n.error})` : ""),
                  ),
                ),
            ),
          ),
        ),
    );
  }
}

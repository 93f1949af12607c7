// The supervisor's view on the command-centre console: assignments that nobody acknowledged
// in time, which escalation step fired when, who was notified and whether it was delivered.

import { api, fetchAll } from "./api.js";
import { byId, el, ticking, wib } from "./ui.js";

const ACTION_LABELS = () => ({
  notify_agency: gettext("Re-alert the agency"),
  notify_supervisors: gettext("Alert supervisors"),
  sms_agency: gettext("SMS to the duty phone"),
  call_agency: gettext("Call the duty officer"),
  reroute: gettext("Reroute"),
});

const DELIVERY_LABELS = () => ({
  queued: gettext("queued"),
  sending: gettext("sending"),
  sent: gettext("sent"),
  failed: gettext("failed"),
});

// When the assignment's next escalation step falls due (steps count from its creation), or null.
export function nextStep(assignment) {
  if (assignment.status !== "pending") return null;
  const step = (assignment.escalation_steps || [])[assignment.escalation_level];
  if (!step) return null;
  const due = new Date(new Date(assignment.created_at).getTime() + step.after_seconds * 1000);
  return { action: step.action, due_at: due.toISOString() };
}

// An assignment the escalation took back from a silent agency: the incident waits for the
// command centre to dispatch it again.
function rerouted(assignment) {
  const last = assignment.escalation_steps[assignment.escalation_level - 1];
  return assignment.status === "cancelled" && last?.action === "reroute";
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
    return rerouted(assignment) && this.incidentStatus(assignment.incident) === "new";
  }

  entry(assignment) {
    const current = this.items.get(assignment.id) || { steps: new Map(), notifications: new Map() };
    current.assignment = { ...current.assignment, ...assignment };
    this.items.set(assignment.id, current);
    return current;
  }

  async load() {
    const [assignments, notifications] = await Promise.all([
      fetchAll("/api/v1/assignments/?escalated=1&status=pending,cancelled&page_size=200"),
      api("/api/v1/notifications/?page_size=200"),
    ]);
    for (const assignment of assignments.filter((a) => a.status === "pending" || rerouted(a))) {
      const entry = this.entry(assignment);
      assignment.escalation_steps.slice(0, assignment.escalation_level).forEach((step, index) => {
        const due = new Date(new Date(assignment.created_at).getTime() + step.after_seconds * 1000);
        entry.steps.set(index, { index, action: step.action, due_at: due.toISOString(), fired_at: null });
      });
    }
    for (const notification of notifications.results) {
      this.items.get(notification.assignment)?.notifications.set(notification.id, notification);
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

  countdown(assignment, labels) {
    const next = nextStep(assignment);
    if (!next) return null;
    return el(
      "div",
      { className: "next-step", dataset: { action: next.action } },
      `${interpolate(gettext("Next: %(action)s in"), { action: labels[next.action] || next.action }, true)} `,
      ticking(next.due_at, { until: true, className: "countdown" }),
    );
  }

  render() {
    const open = [...this.items.values()].filter((item) => this.needsAttention(item));
    byId("escalation-count").textContent = open.length ? String(open.length) : "";
    byId("no-escalations").hidden = open.length > 0;
    const labels = ACTION_LABELS();
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
              { className: rerouted(assignment) ? "flag" : "meta" },
              rerouted(assignment)
                ? gettext("Taken back: dispatch it to another agency")
                : [`${gettext("waiting")} `, ticking(assignment.created_at, { format: "clock" })],
            ),
            this.countdown(assignment, labels),
            el(
              "ol",
              {},
              [...steps.values()]
                .sort((a, b) => a.index - b.index)
                .map((step) => el("li", { dataset: { action: step.action } }, `${labels[step.action] || step.action} · ${wib(step.fired_at || step.due_at)}`)),
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
                    `${n.channel.toUpperCase()} → ${n.recipient || "—"}: ${DELIVERY_LABELS()[n.status] || n.status}` +
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

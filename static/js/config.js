// The rules and labels the server serves once, in the page (dispatch.views.console_config,
// rendered with json_script): the status sets, the board's columns, which reports each
// assignment status allows, what "taken back" means, and every label in the page's language.
// The consoles keep no copy of them.

export const config = JSON.parse(document.getElementById("console-config").textContent);

const LABELS = {
  incident: config.incident.labels,
  close_reason: config.incident.close_reasons,
  assignment: config.assignment.labels,
  call: config.call.labels,
  queue_state: config.call.queue_states,
  classification: config.call.classifications,
  action: config.escalation.actions,
  delivery: config.delivery,
  message: config.message.labels,
};

// The label of a value of one kind ("incident", "close_reason", "assignment", "call", "queue_state",
// "classification", "action", "delivery", "message"); the value itself when the server has none.
export function label(kind, value) {
  return LABELS[kind]?.[value] ?? value;
}

// An assignment the escalation took back from a silent agency (dispatch.escalation.TAKEN_BACK).
export function takenBack(assignment) {
  const rule = config.escalation.taken_back;
  const last = (assignment.escalation_steps || [])[assignment.escalation_level - 1];
  return assignment.status === rule.status && last?.action === rule.last_action;
}

// The escalation policy's steps as rows (/config/policies/…): "Add a step" appends a row made
// from the form set's empty form. The rows are checked on the server, by the one validator
// every policy passes (agencies.models.validate_escalation_steps).
const rows = document.getElementById("step-rows");
const template = document.getElementById("step-template");
const total = document.getElementById("id_steps-TOTAL_FORMS");

function renumber() {
  rows.querySelectorAll(".step-number").forEach((cell, index) => {
    cell.textContent = String(index + 1);
  });
}

document.getElementById("add-step").addEventListener("click", () => {
  const index = Number(total.value);
  rows.insertAdjacentHTML("beforeend", template.innerHTML.replaceAll("__prefix__", String(index)));
  total.value = String(index + 1);
  renumber();
  rows.lastElementChild.querySelector("input")?.focus();
});

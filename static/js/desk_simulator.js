// The routing simulator beside the rules (/config/routing/): where the rules send a category
// in a place, asked of GET /api/v1/routing/simulate/ (CONTRACT §11), which answers with the
// function dispatch routes with. The winning rule's row is marked in the table.
import { api, explain } from "./api.js";

const category = document.getElementById("sim-category");
const area = document.getElementById("sim-area");
const result = document.getElementById("sim-result");

function chosenName(select) {
  return select.selectedOptions[0]?.dataset.name ?? select.value;
}

function markRule(ruleId) {
  for (const row of document.querySelectorAll("tr[data-rule]")) {
    row.classList.toggle("matched", row.dataset.rule === String(ruleId));
  }
}

function sentence(answer) {
  const names = {
    category: chosenName(category),
    area: chosenName(area),
    rule: answer.rule,
    agencies: answer.agencies.join(", "),
  };
  if (answer.rule === null) {
    return interpolate(
      gettext("%(category)s in %(area)s: no rule matches; the incident stays with the command centre."),
      names,
      true,
    );
  }
  if (answer.agencies.length === 0) {
    return interpolate(
      gettext(
        "%(category)s in %(area)s: rule #%(rule)s matches, but none of its agencies is active; the incident stays with the command centre.",
      ),
      names,
      true,
    );
  }
  return interpolate(gettext("%(category)s in %(area)s goes to %(agencies)s by rule #%(rule)s."), names, true);
}

// Only the answer to the latest choice is shown, whatever order the answers arrive in.
let latest = 0;

async function simulate() {
  if (!category.value || !area.value) {
    result.textContent = gettext("Choose a category and a place.");
    markRule(null);
    return;
  }
  const question = ++latest;
  const query = new URLSearchParams({ category: category.value, area: area.value });
  let text;
  let rule = null;
  try {
    const answer = await api(`/api/v1/routing/simulate/?${query}`);
    text = sentence(answer);
    rule = answer.rule;
  } catch (error) {
    text = explain(error);
  }
  if (question !== latest) return;
  result.textContent = text;
  markRule(rule);
}

category.addEventListener("change", simulate);
area.addEventListener("change", simulate);
simulate();

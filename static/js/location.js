// Where the caller's handset says it is (Advanced Mobile Location, CONTRACT §10): a block in the
// incident panel and a badge on the incident's card. Words only; the map comes later.

import { config } from "./config.js";
import { el, sayWith, ticking, wib } from "./ui.js";

export function hasHandsetPosition(incident) {
  return incident.aml_latitude !== null && incident.aml_latitude !== undefined;
}

// How far from the point the caller may be: "± 50 m", "± 1.5 km".
function radius(metres) {
  if (metres === null || metres === undefined) return "";
  return metres < 1000 ? `± ${metres} m` : `± ${Number((metres / 1000).toFixed(1))} km`;
}

// AML sends five decimals (about a metre); the API pads them to six.
function coordinates(latitude, longitude) {
  return `${Number(latitude).toFixed(5)}, ${Number(longitude).toFixed(5)}`;
}

function method(incident) {
  return config.incident.aml_methods[incident.aml_method] || "";
}

// The handset's position is the incident's unless someone placed the incident otherwise: an
// operator's own coordinates are kept, the handset's beside them.
function positionInUse(incident) {
  if (incident.location_source === "aml") return gettext("This is the incident's position.");
  return interpolate(
    gettext("The incident keeps its position from %(source)s (%(coordinates)s); the handset's is shown beside it."),
    {
      source: config.incident.location_sources[incident.location_source] || "—",
      coordinates: coordinates(incident.latitude, incident.longitude),
    },
    true,
  );
}

function positionSignature(incident) {
  return ["aml_latitude", "aml_longitude", "aml_accuracy_m", "aml_at", "aml_method", "location_source", "latitude", "longitude"]
    .map((field) => incident[field])
    .join("|");
}

// The panel's block, rebuilt only when the position changed (its age ticks on its own).
export function renderHandsetPosition(box, incident) {
  box.hidden = !hasHandsetPosition(incident);
  const signature = box.hidden ? "" : positionSignature(incident);
  if (box.dataset.signature === signature) return;
  box.dataset.signature = signature;
  if (box.hidden) {
    box.replaceChildren();
    return;
  }
  box.dataset.source = incident.location_source;
  box.replaceChildren(
    el(
      "div",
      {},
      el("strong", {}, gettext("Caller's handset (AML)")),
      " ",
      el("strong", { className: "accuracy", title: gettext("The caller is within this distance of the point") }, radius(incident.aml_accuracy_m)),
      method(incident) ? ` · ${method(incident)}` : "",
    ),
    el("div", { className: "coordinates" }, coordinates(incident.aml_latitude, incident.aml_longitude)),
    el(
      "div",
      { className: "position-time" },
      el("time", { datetime: incident.aml_at }, wib(incident.aml_at)),
      " · ",
      sayWith(gettext("%(age)s ago"), { age: ticking(incident.aml_at) }),
    ),
    el("div", { className: "position-use" }, positionInUse(incident)),
  );
}

// On the board: which incidents the handset located, and how precisely.
export function handsetBadge(incident) {
  if (!hasHandsetPosition(incident)) return null;
  const accuracy = radius(incident.aml_accuracy_m);
  return el(
    "span",
    { className: "tag aml", title: [gettext("Caller's handset (AML)"), accuracy, method(incident)].filter(Boolean).join(" · ") },
    `AML ${accuracy}`,
  );
}

// The consoles' maps (Leaflet, vendored in static/vendor/leaflet/ as the global `L`): kecamatan
// and kelurahan as labelled points, incidents where they are — drawn by where that position
// came from — and the selected incident highlighted. On the command centre: the overview beside
// the board (a click on a pin selects its incident) and the small map in the incident panel,
// where a click places the selected incident (PATCH latitude/longitude; the server then marks
// the position as the operator's). Only the panel's map places: on the overview a click that
// just missed a pin would move the selected incident across the city. The agency console shows
// its incident on a small map that only looks.
// Without a tile server (MAP_TILE_URL empty) the points alone still make a map.

import { api, explain } from "./api.js";
import { config } from "./config.js";
import { byId, el } from "./ui.js";

const L = window.L;

// 43 kelurahan names over a 12 km city hide each other: below this zoom only the kecamatan
// are named (the kelurahan keep their points).
const KELURAHAN_NAMES_FROM_ZOOM = 14;
const PANEL_ZOOM = 14; // the kelurahan around it still named
const VIEW_KEY = "dispatch.side-view"; // the operator's choice of map or recent calls

// Where the map puts an incident, and how it knows: "aml" (the caller's handset, with its
// accuracy), "operator" (placed by hand), or "area" (nothing better: its kelurahan's or
// kecamatan's centre, approximate). Null when none of them is known.
function placeOf(incident, areas) {
  if (incident.latitude !== null && incident.latitude !== undefined) {
    const source = { aml: "aml", kelurahan: "area" }[incident.location_source] || "operator";
    const latlng = [Number(incident.latitude), Number(incident.longitude)];
    return { latlng, source, accuracy: incident.location_accuracy_m, area: areas.get(incident.area) };
  }
  const area = areas.get(incident.area);
  if (area && area.latitude !== null) {
    return { latlng: [Number(area.latitude), Number(area.longitude)], source: "area", area };
  }
  return null;
}

// The handset's own fix, drawn beside a position someone placed by hand.
function handsetBeside(incident) {
  if (incident.aml_latitude === null || incident.aml_latitude === undefined) return null;
  if (incident.location_source === "aml") return null;
  return { latlng: [Number(incident.aml_latitude), Number(incident.aml_longitude)], accuracy: incident.aml_accuracy_m };
}

// The setting is plain text ("© OpenStreetMap contributors"); Leaflet writes attributions as
// HTML, so it goes in escaped.
function asHtmlText(text) {
  const node = document.createElement("span");
  node.textContent = text;
  return node.innerHTML;
}

function overlap(a, b) {
  return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}

function accuracyCircle(latlng, metres, className) {
  return L.circle(latlng, { radius: metres, className, interactive: false });
}

function incidentPin(incident, place, selected) {
  const classes = ["incident-pin", `src-${place.source}`, `p-${incident.priority || "none"}`];
  if (selected) classes.push("selected");
  const pin = L.marker(place.latlng, {
    icon: L.divIcon({ className: classes.join(" "), iconSize: selected ? [22, 22] : [16, 16] }),
    title: incident.reference,
    keyboard: false,
    zIndexOffset: selected ? 1000 : 0,
  });
  // Which incident and where, on the element itself: for tests and whoever debugs.
  pin.on("add", () => Object.assign(pin.getElement().dataset, { reference: incident.reference, position: place.latlng.join(",") }));
  return pin;
}

class MapView {
  constructor(container, { onPlace = null } = {}) {
    this.container = container;
    // No keyboard handler: the map would join the Tab order between the panel's fields.
    this.map = L.map(container, { attributionControl: false, keyboard: false, zoomSnap: 0.25 }).setView([0, 0], 2);
    if (config.map.tile_url) {
      L.tileLayer(config.map.tile_url, { maxZoom: 19, attribution: asHtmlText(config.map.attribution) }).addTo(this.map);
      L.control.attribution({ prefix: false }).addTo(this.map);
    }
    this.areaLayer = L.layerGroup().addTo(this.map);
    this.incidentLayer = L.layerGroup().addTo(this.map);
    this.signature = "";
    this.pendingView = null;
    if (onPlace) this.map.on("click", (event) => onPlace(event.latlng));
    this.map.on("zoomend", () => this.nameKelurahanWhenNear());
    this.map.on("moveend", () => this.declutter());
    // A view hidden when it was drawn (the other tab, an empty panel) has no size: Leaflet is
    // told when it gets one, and the view waiting for it is applied then.
    new ResizeObserver(() => {
      if (!this.visible()) return;
      this.map.invalidateSize();
      const view = this.pendingView;
      this.pendingView = null;
      view?.();
    }).observe(container);
  }

  visible() {
    return this.container.clientWidth > 0 && this.container.clientHeight > 0;
  }

  // Apply a change of view now, or when the map is next shown.
  whenShown(view) {
    if (this.visible()) view();
    else this.pendingView = view;
  }

  nameKelurahanWhenNear() {
    this.container.classList.toggle("far", this.map.getZoom() < KELURAHAN_NAMES_FROM_ZOOM);
    this.declutter();
  }

  // Names that would cover one another are left out, the most important kept: the selected
  // incident's, then the kecamatan, then the kelurahan. Their points stay. Redone after every
  // zoom, move and redraw.
  declutter() {
    if (!this.visible()) return;
    const kept = [];
    for (const kind of ["incident-name", "area-name.kecamatan", "area-name.kelurahan"]) {
      for (const label of this.container.querySelectorAll(`.leaflet-tooltip.${kind}`)) {
        label.classList.remove("crowded");
        const box = label.getBoundingClientRect();
        if (!box.width) continue; // not shown at this zoom
        if (kind !== "incident-name" && kept.some((other) => overlap(box, other))) label.classList.add("crowded");
        else kept.push(box);
      }
    }
  }

  drawAreas(areas) {
    this.areaLayer.clearLayers();
    for (const area of areas) {
      if (area.latitude === null) continue;
      const point = L.circleMarker([Number(area.latitude), Number(area.longitude)], {
        radius: area.kind === "kecamatan" ? 5 : 3,
        className: `area-point ${area.kind}`,
        interactive: false,
      });
      point.bindTooltip(el("span", {}, area.name), {
        permanent: true,
        direction: area.kind === "kecamatan" ? "top" : "right",
        className: `area-name ${area.kind}`,
        offset: area.kind === "kecamatan" ? [0, -4] : [2, 0],
      });
      this.areaLayer.addLayer(point);
    }
    this.nameKelurahanWhenNear();
  }

  // Redrawn only when what it shows changed: the console re-renders on every event.
  drawIncidents(signature, draw) {
    if (signature === this.signature) return;
    this.signature = signature;
    this.incidentLayer.clearLayers();
    draw(this.incidentLayer);
    this.declutter();
  }

  setPlacing(on) {
    this.container.classList.toggle("placing", on);
  }
}

function drawIncident(layer, incident, place, { selected, onPick }) {
  if (place.source === "aml" && place.accuracy) layer.addLayer(accuracyCircle(place.latlng, place.accuracy, "accuracy"));
  const beside = selected ? handsetBeside(incident) : null;
  if (beside) {
    if (beside.accuracy) layer.addLayer(accuracyCircle(beside.latlng, beside.accuracy, "accuracy beside"));
    layer.addLayer(L.circleMarker(beside.latlng, { radius: 4, className: "handset-beside", interactive: false }));
  }
  const pin = incidentPin(incident, place, selected);
  if (onPick) pin.on("click", () => onPick(incident.id));
  if (selected) pin.bindTooltip(el("span", {}, incident.reference), { permanent: true, direction: "top", offset: [0, -12], className: "incident-name" });
  layer.addLayer(pin);
}

function cityBounds(areas) {
  const points = areas.filter((a) => a.latitude !== null).map((a) => [Number(a.latitude), Number(a.longitude)]);
  return points.length ? L.latLngBounds(points).pad(0.06) : null;
}

function placeSignature(incident, place, selected) {
  return [incident.id, incident.priority, place?.source, place?.latlng, place?.accuracy, selected, incident.aml_latitude, incident.aml_longitude].join(",");
}

// How the panel's map explains the selected incident's position, and what a click does.
function placeText(place) {
  if (!place) return gettext("No position yet: click the map where the emergency is.");
  if (place.source === "aml") {
    return interpolate(gettext("Caller's handset (AML) ± %(metres)s m. A click on the map places the incident by hand."), { metres: place.accuracy ?? "?" }, true);
  }
  if (place.source === "operator") return gettext("Placed by an operator. A click on the map moves it.");
  return interpolate(gettext("Approximate: the centre of %(area)s. Click the map where the emergency is."), { area: place.area?.name || "—" }, true);
}

// One incident on a small map, centred on it (the whole city while it has no place).
export class IncidentMap {
  constructor(container, { onPlace = null } = {}) {
    this.view = new MapView(container, { onPlace });
    this.areas = new Map();
    this.city = null;
  }

  setAreas(areas) {
    this.areas = new Map(areas.map((area) => [area.code, area]));
    this.city = cityBounds(areas);
    this.view.drawAreas(areas);
  }

  // Draws the incident (or nothing for null); returns its place, and whether that changed.
  show(incident) {
    const place = incident ? placeOf(incident, this.areas) : null;
    const signature = incident ? placeSignature(incident, place, true) : "";
    const moved = signature !== this.view.signature;
    this.view.drawIncidents(signature, (layer) => {
      if (place) drawIncident(layer, incident, place, { selected: true });
    });
    if (moved) this.follow(place);
    return { place, moved };
  }

  follow(place) {
    const map = this.view.map;
    if (place) this.view.whenShown(() => map.setView(place.latlng, PANEL_ZOOM));
    else if (this.city) this.view.whenShown(() => map.fitBounds(this.city));
  }
}

export class ConsoleMaps {
  // select(id): choose an incident, as a click on the board does; placed(incident): the
  // server's copy after a click placed it.
  constructor({ select, placed }) {
    this.select = select;
    this.placed = placed;
    this.areas = new Map();
    this.incident = null; // the selected incident
    this.overview = new MapView(byId("overview-map"));
    this.panel = new IncidentMap(byId("panel-map"), { onPlace: (latlng) => this.place(latlng) });
    this.status = byId("panel-map-status");
    this.bindSideView();
  }

  setAreas(areas) {
    this.areas = new Map(areas.map((area) => [area.code, area]));
    this.panel.setAreas(areas);
    this.overview.drawAreas(areas);
    const city = cityBounds(areas);
    if (city) this.overview.whenShown(() => this.overview.map.fitBounds(city));
  }

  // The open incidents on the overview, the selected one on both maps.
  render(incidents, selectedId) {
    const open = incidents.filter((incident) => config.incident.open.includes(incident.status));
    const selected = incidents.find((incident) => incident.id === selectedId) || null;
    this.incident = selected && config.incident.open.includes(selected.status) ? selected : null;
    const places = new Map(open.map((incident) => [incident.id, placeOf(incident, this.areas)]));
    const onMap = open.filter((incident) => places.get(incident.id));
    const signature = onMap.map((i) => placeSignature(i, places.get(i.id), i.id === selectedId)).join("|");
    this.overview.drawIncidents(signature, (layer) => {
      for (const incident of onMap) {
        drawIncident(layer, incident, places.get(incident.id), { selected: incident.id === selectedId, onPick: this.select });
      }
    });
    this.renderSelected();
  }

  renderSelected() {
    const placing = Boolean(this.incident);
    this.panel.view.setPlacing(placing);
    const { place, moved } = this.panel.show(this.incident);
    if (moved) {
      this.placeError = ""; // about a place that is no longer shown
      // The overview follows only an incident out of its view: the operator may have zoomed.
      const overview = this.overview;
      if (place && overview.visible() && !overview.map.getBounds().contains(place.latlng)) overview.map.panTo(place.latlng);
    }
    if (!this.placeError) this.status.textContent = placing ? placeText(place) : "";
    this.status.classList.toggle("error", Boolean(this.placeError));
    byId("panel-map-box").hidden = !this.incident;
  }

  async place(latlng) {
    const incident = this.incident;
    if (!incident) return;
    this.placeError = "";
    try {
      // The API keeps six decimals (about 10 cm).
      const body = { latitude: latlng.lat.toFixed(6), longitude: latlng.lng.toFixed(6) };
      this.placed(await api(`/api/v1/incidents/${incident.id}/`, { method: "PATCH", body }));
    } catch (error) {
      this.placeError = explain(error);
      this.status.textContent = this.placeError;
      this.status.classList.add("error");
    }
  }

  // The overview takes the place of the recent calls, or gives it back; the choice is kept.
  bindSideView() {
    const show = (view) => {
      byId("map-pane").hidden = view !== "map";
      byId("calls-pane").hidden = view === "map";
      window.localStorage.setItem(VIEW_KEY, view);
    };
    byId("show-calls").addEventListener("click", () => show("calls"));
    byId("show-map").addEventListener("click", () => show("map"));
    show(window.localStorage.getItem(VIEW_KEY) || "map");
  }
}

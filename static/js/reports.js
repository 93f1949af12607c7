// The reports page (CONTRACT §11): the figures of `GET /api/v1/reports/summary/` for a period of
// WIB days, the NENA and NFPA 1225 shares as headline tiles against their goals, and charts
// drawn with the vendored Chart.js (the global `Chart`). The page computes nothing itself: every
// figure is the server's.

import { api, explain, fetchAll } from "./api.js";
import { byId, el } from "./ui.js";

const settings = JSON.parse(byId("reports-config").textContent);
const charts = new Map();
const names = { category: new Map(), area: new Map() };
const number = new Intl.NumberFormat(document.documentElement.lang || "id", { maximumFractionDigits: 1 });
const DAY_MS = 86_400_000;

// A WIB calendar day, "YYYY-MM-DD", `days` from today.
function wibDay(days = 0) {
  const format = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Jakarta", year: "numeric", month: "2-digit", day: "2-digit" });
  return format.format(new Date(Date.now() + days * DAY_MS));
}

function dayAfter(day) {
  return new Date(Date.parse(`${day}T00:00:00Z`) + DAY_MS).toISOString().slice(0, 10);
}

const PRESETS = {
  today: () => [wibDay(), wibDay()],
  yesterday: () => [wibDay(-1), wibDay(-1)],
  7: () => [wibDay(-6), wibDay()],
  30: () => [wibDay(-29), wibDay()],
};

// The API's period is [since, until): a date alone is its midnight WIB, so the last day shown
// ends at the next day's midnight.
function query(format) {
  const params = new URLSearchParams({ since: byId("since").value, until: dayAfter(byId("until").value) });
  if (format) params.set("format", format);
  return `${settings.summary_url}?${params}`;
}

function percent(share) {
  return share === null || share === undefined ? "—" : `${number.format(share * 100)} %`;
}

function seconds(value) {
  return value === null || value === undefined ? "—" : `${number.format(value)} s`;
}

function showTile(id, share, goal) {
  const tile = byId(id);
  tile.querySelector(".value").textContent = percent(share);
  tile.classList.toggle("met", share !== null && share >= goal);
  tile.classList.toggle("missed", share !== null && share < goal);
}

function showHeadlines(summary) {
  const { calls, incidents } = summary;
  showTile("tile-15s", calls.share_picked_up_within_15s, settings.goals.within_15s);
  showTile("tile-20s", calls.share_picked_up_within_20s, settings.goals.within_20s);
  showTile("tile-dispatch", incidents.answer_to_dispatch.share_within_60s, settings.goals.dispatch_60s);
  byId("tile-calls").querySelector(".value").textContent = number.format(calls.total);
  byId("tile-calls-detail").textContent = interpolate(
    gettext("%(voice)s calls · %(sms)s SMS · %(abandoned)s abandoned"),
    { voice: calls.voice, sms: calls.sms, abandoned: calls.abandoned },
    true,
  );
  byId("tile-incidents").querySelector(".value").textContent = number.format(incidents.total);
  byId("tile-incidents-detail").textContent = interpolate(gettext("%(dispatched)s dispatched"), { dispatched: incidents.dispatched }, true);
}

// One Chart.js chart per canvas, replaced when the period changes.
function draw(canvasId, config) {
  charts.get(canvasId)?.destroy();
  const options = { animation: false, responsive: true, maintainAspectRatio: false, plugins: { legend: { display: config.data.datasets.length > 1 } } };
  charts.set(canvasId, new window.Chart(byId(canvasId), { ...config, options: { ...options, ...config.options } }));
}

function bars(canvasId, counts, nameOf, label) {
  const entries = Object.entries(counts).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  draw(canvasId, {
    type: "bar",
    data: { labels: entries.map(([code]) => nameOf(code)), datasets: [{ label, data: entries.map(([, n]) => n), backgroundColor: "#1565c0" }] },
    options: { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
}

function showCharts(summary) {
  const hours = summary.by_hour;
  draw("chart-hours", {
    type: "bar",
    data: {
      labels: hours.map((row) => String(row.hour).padStart(2, "0")),
      datasets: [
        { label: gettext("Calls and SMS"), data: hours.map((row) => row.calls), backgroundColor: "#b71c1c" },
        { label: gettext("Incidents"), data: hours.map((row) => row.incidents), backgroundColor: "#1565c0" },
      ],
    },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
  bars("chart-categories", summary.incidents.by_category, (code) => names.category.get(code) || code, gettext("Incidents"));
  bars("chart-kecamatan", summary.incidents.by_kecamatan, (code) => names.area.get(code) || code, gettext("Incidents"));
  bars("chart-classification", summary.calls.by_classification, (code) => settings.classifications[code] || gettext("not classified"), gettext("Calls"));
}

function showAgencies(summary) {
  byId("agency-rows").replaceChildren(
    ...summary.agencies.map((agency) =>
      el(
        "tr",
        { dataset: { agency: agency.code } },
        el("th", { scope: "row" }, agency.code),
        el("td", {}, number.format(agency.assignments)),
        el("td", {}, number.format(agency.acknowledged)),
        el("td", {}, seconds(agency.ack_seconds_median)),
        el("td", {}, seconds(agency.ack_seconds_p90)),
        el("td", {}, number.format(agency.escalated)),
      ),
    ),
  );
}

async function show() {
  byId("report-error").textContent = "";
  byId("csv").href = query("csv");
  window.history.replaceState(null, "", `?since=${byId("since").value}&until=${byId("until").value}`);
  try {
    const summary = await api(query());
    showHeadlines(summary);
    showCharts(summary);
    showAgencies(summary);
    document.body.dataset.loaded = `${byId("since").value}/${byId("until").value}`;
  } catch (error) {
    byId("report-error").textContent = explain(error);
  }
}

function choose(preset) {
  [byId("since").value, byId("until").value] = PRESETS[preset]();
  show();
}

async function loadNames() {
  const [categories, areas] = await Promise.all([fetchAll("/api/v1/categories/?page_size=500"), fetchAll("/api/v1/areas/?page_size=500")]);
  categories.forEach((category) => names.category.set(category.code, category.name));
  areas.forEach((area) => names.area.set(area.code, area.name));
}

async function main() {
  byId("period").addEventListener("submit", (event) => {
    event.preventDefault();
    show();
  });
  document.querySelectorAll("[data-preset]").forEach((button) => button.addEventListener("click", () => choose(button.dataset.preset)));
  await loadNames();
  const asked = new URLSearchParams(window.location.search);
  if (asked.get("since") && asked.get("until")) {
    byId("since").value = asked.get("since");
    byId("until").value = asked.get("until");
    show();
  } else choose("today");
}

main();

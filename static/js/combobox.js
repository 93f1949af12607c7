// A text field that filters a list as the operator types (WAI-ARIA combobox with a listbox).
//
// Nothing is chosen while typing: "k" highlights Kebakaran but chooses nothing, so no half-typed
// choice (Kriminalitas on the way to Kebakaran) can set anything. A choice is made by Enter,
// Tab, a click, or `acceptPending()` (Ctrl+Enter dispatches with the highlighted match); then
// `onCommit(option, how, changed)` runs. Leaving the field otherwise puts back the last choice.

import { el } from "./ui.js";

const MAX_SHOWN = 60;

// Lower case, without accents or punctuation: "Lebak-Denok" and "lebakdenok" both find
// "Lebak Denok" (aliases carry the run-together spellings).
export function normalize(text) {
  return String(text || "")
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, " ")
    .trim();
}

// 0 the name starts with the query, 1 a word of the name does, 2 another term (parent, alias,
// code) starts with it, 3 the query appears anywhere; null: no match.
function score(option, query) {
  if (!query) return 0;
  const name = normalize(option.label);
  if (name.startsWith(query)) return 0;
  if (name.split(" ").some((word) => word.startsWith(query))) return 1;
  const terms = (option.terms || []).map(normalize);
  if (terms.some((term) => term.startsWith(query) || term.split(" ").some((word) => word.startsWith(query)))) return 2;
  if ([name, ...terms].some((term) => term.includes(query))) return 3;
  return null;
}

let counter = 0;

export class Combobox {
  // options: [{ value, label, display?, detail?, terms? }]; display is the text the field
  // shows once chosen (default: label).
  constructor(input, { options = [], onCommit = () => {}, noMatch = "" } = {}) {
    counter += 1;
    this.input = input;
    this.onCommit = onCommit;
    this.noMatch = noMatch;
    this.options = options;
    this.committed = null; // the chosen option
    this.matches = [];
    this.active = -1;
    this.list = el("ul", { className: "combo-list", role: "listbox", id: `combo-${counter}` });
    this.list.hidden = true;
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", this.list.id);
    input.setAttribute("autocomplete", "off");
    input.setAttribute("spellcheck", "false");
    input.after(this.list);
    input.addEventListener("input", () => this.filter(true));
    input.addEventListener("focus", () => {
      input.select();
      this.filter(false);
    });
    input.addEventListener("blur", () => this.close(true));
    input.addEventListener("keydown", (event) => this.keydown(event));
    // mousedown, not click: the field keeps its focus and the choice is made before any blur.
    this.list.addEventListener("mousedown", (event) => {
      const item = event.target.closest("[data-index]");
      if (!item) return;
      event.preventDefault();
      this.commit(this.matches[Number(item.dataset.index)], "click");
    });
  }

  setOptions(options) {
    this.options = options;
    const value = this.value;
    this.committed = null;
    this.value = value;
  }

  get value() {
    return this.committed ? this.committed.value : "";
  }

  // Set from data (an incident): shows the choice, calls nothing.
  set value(value) {
    this.committed = this.options.find((option) => option.value === value) || null;
    this.input.value = this.shown(this.committed);
    this.close(false);
  }

  shown(option) {
    return option ? option.display || option.label : "";
  }

  // Typed text that is not the current choice, with a match highlighted.
  pending() {
    return this.input.value !== this.shown(this.committed) && this.active >= 0 && !this.list.hidden;
  }

  // Take the highlighted match if the operator typed one and has not confirmed it yet.
  acceptPending(how = "accept") {
    if (this.pending()) this.commit(this.matches[this.active], how);
  }

  filter(typed) {
    const typedText = typed ? this.input.value : "";
    const query = normalize(typedText);
    this.matches = this.options
      .map((option, index) => ({ option, index, rank: score(option, query) }))
      .filter((entry) => entry.rank !== null)
      .sort((a, b) => a.rank - b.rank || a.index - b.index)
      .slice(0, MAX_SHOWN)
      .map((entry) => entry.option);
    if (typed) this.active = this.matches.length ? 0 : -1;
    else this.active = this.matches.indexOf(this.committed);
    this.open();
  }

  open() {
    const items = this.matches.map((option, index) =>
      el(
        "li",
        {
          role: "option",
          id: `${this.list.id}-${index}`,
          className: index === this.active ? "active" : "",
          "aria-selected": index === this.active ? "true" : "false",
          dataset: { index, value: option.value },
        },
        el("span", {}, option.label),
        option.detail ? el("small", {}, option.detail) : null,
      ),
    );
    if (!items.length && this.input.value.trim()) items.push(el("li", { className: "none" }, this.noMatch));
    this.list.replaceChildren(...items);
    this.list.hidden = !items.length;
    this.input.setAttribute("aria-expanded", this.list.hidden ? "false" : "true");
    this.highlight(this.active);
  }

  highlight(index) {
    this.active = index;
    this.list.querySelectorAll("[role=option]").forEach((item) => {
      const on = Number(item.dataset.index) === index;
      item.classList.toggle("active", on);
      item.setAttribute("aria-selected", on ? "true" : "false");
      if (on) item.scrollIntoView({ block: "nearest" });
    });
    if (index >= 0) this.input.setAttribute("aria-activedescendant", `${this.list.id}-${index}`);
    else this.input.removeAttribute("aria-activedescendant");
  }

  close(revert) {
    if (revert && this.input.value !== this.shown(this.committed)) this.input.value = this.shown(this.committed);
    this.list.hidden = true;
    this.active = -1;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  commit(option, how) {
    const changed = (option?.value || "") !== this.value;
    this.committed = option || null;
    this.input.value = this.shown(this.committed);
    this.close(false);
    this.onCommit(this.committed, how, changed);
  }

  keydown(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return; // Ctrl+Enter etc. belong to the page
    const last = this.matches.length - 1;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (this.list.hidden) this.filter(false);
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.highlight(Math.min(last, Math.max(0, this.active + step)));
    } else if (event.key === "Enter") {
      event.preventDefault(); // never submits the form
      if (this.active >= 0 && !this.list.hidden) this.commit(this.matches[this.active], "enter");
      else if (!this.input.value.trim()) this.commit(null, "enter");
      else if (this.input.value === this.shown(this.committed)) this.onCommit(this.committed, "enter", false);
    } else if (event.key === "Tab") {
      this.acceptPending("tab");
    } else if (event.key === "Escape" && !this.list.hidden) {
      event.preventDefault();
      event.stopPropagation();
      this.close(true);
    }
  }
}

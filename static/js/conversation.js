// The selected incident's SMS conversation with its caller (CONTRACT §10): the texts oldest
// first, live, and the operator's reply with quick Indonesian questions. A caller's text is
// data from anybody with a phone: it reaches the page as text nodes only (el()), never markup.

import { api, explain, fetchAll } from "./api.js";
import { config, label } from "./config.js";
import { upsert } from "./store.js";
import { byId, el, wib } from "./ui.js";

export class Conversation {
  // onChange: re-render the console; onCallerText(message): a caller's text arrived live.
  constructor({ onChange = () => {}, onCallerText = () => {} } = {}) {
    this.incidentId = null;
    this.messages = new Map();
    this.onChange = onChange;
    this.onCallerText = onCallerText;
    this.sending = false;
    this.rendered = "";
  }

  bind() {
    byId("quick-replies").replaceChildren(
      ...config.message.quick_replies.map((reply) =>
        el("button", { type: "button", className: "quick", title: reply.text, dataset: { quickReply: reply.text } }, reply.label),
      ),
    );
    byId("quick-replies").addEventListener("click", (event) => {
      const button = event.target.closest("[data-quick-reply]");
      if (button) this.compose(button.dataset.quickReply);
    });
    byId("reply-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    // Enter sends, as in every messenger; Shift+Enter starts a new line.
    byId("reply-body").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        this.send();
      }
    });
    byId("text-caller").addEventListener("click", () => this.focus());
  }

  // Another incident was chosen: its conversation replaces the one shown.
  async open(incidentId) {
    this.incidentId = incidentId;
    this.messages = new Map();
    byId("reply-error").textContent = "";
    if (!incidentId) return;
    try {
      const messages = await fetchAll(`/api/v1/incidents/${incidentId}/messages/?page_size=500`);
      if (this.incidentId === incidentId) messages.forEach((message) => this.store(message));
    } catch (error) {
      byId("reply-error").textContent = explain(error);
    }
    this.onChange();
  }

  // A live event. A conversation moved by a merge is fetched again: its texts kept their ids.
  apply(envelope) {
    const message = envelope.data?.message;
    if (message) {
      if (message.incident === this.incidentId) this.store(message);
      if (envelope.event === "incident.message_received") this.onCallerText(message);
    }
    if (envelope.data?.messages?.length && envelope.incident === this.incidentId) this.open(this.incidentId);
  }

  // The newer copy of a text wins: a fetch that overtook a live status must not undo it.
  store(message) {
    upsert(this.messages, message);
  }

  compose(text) {
    const box = byId("reply-body");
    box.value = text;
    this.focus();
  }

  focus() {
    this.reveal = true;
    this.onChange();
    const box = byId("reply-body");
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  }

  async send() {
    const box = byId("reply-body");
    const body = box.value.trim();
    if (!body || this.sending || !this.incidentId) return;
    this.sending = true;
    byId("reply-send").disabled = true;
    byId("reply-error").textContent = "";
    try {
      this.store(await api(`/api/v1/incidents/${this.incidentId}/messages/`, { method: "POST", body: { body } }));
      box.value = "";
    } catch (error) {
      byId("reply-error").textContent = explain(error);
    } finally {
      this.sending = false;
      byId("reply-send").disabled = false;
      this.onChange();
    }
  }

  // Shown when there is a conversation, or when the operator asked to text (R); otherwise a
  // one-line button, so a voice incident's panel keeps its room.
  render(incident) {
    const texts = [...this.messages.values()].sort((a, b) => a.at.localeCompare(b.at) || a.id - b.id);
    const shown = Boolean(incident) && (texts.length > 0 || this.reveal);
    byId("conversation").hidden = !shown;
    byId("text-caller").hidden = !incident || shown;
    byId("conversation-count").textContent = String(texts.length);
    const signature = texts.map((m) => `${m.id}:${m.status}`).join("|");
    if (signature === this.rendered) return;
    this.rendered = signature;
    const list = byId("conversation-list");
    list.replaceChildren(...texts.map(bubble));
    list.scrollTop = list.scrollHeight; // the newest text in sight
  }

  reset() {
    this.reveal = false;
    this.rendered = "";
  }
}

function bubble(message) {
  const failed = ["failed", "undelivered"].includes(message.status);
  return el(
    "li",
    {
      className: `text ${message.direction}${failed ? " failed" : ""}`,
      dataset: { messageId: message.id, direction: message.direction, status: message.status },
    },
    el("div", { className: "body pre" }, message.body),
    el(
      "div",
      { className: "meta" },
      el("time", { datetime: message.at }, wib(message.at)),
      message.direction === "out" ? ` · ${message.author || ""} · ` : "",
      message.direction === "out" ? el("span", { className: "status" }, label("message", message.status)) : null,
      failed && message.error ? el("span", { className: "error" }, ` — ${message.error}`) : null,
    ),
  );
}

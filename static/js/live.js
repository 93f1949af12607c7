// The live feed: one WebSocket to /ws/dashboard/ with replay, so a screen is never wrong.
//
// Events carry a growing `seq`. The feed remembers the last seq it applied; a jump in seq, a
// heartbeat announcing a newer seq, or a reconnect makes it replay the missed events from
// GET /api/v1/events/?after=<seq>. Agency staff see only some events, so for them a jump is
// often no loss at all: the replay then simply returns nothing new. Events are applied at most
// once (by seq) and always in seq order within a replay; a live event whose seq is below one
// already applied (another process published it a moment later) is applied too, never dropped.
//
// A socket that says nothing is treated as lost: no `hello` within HELLO_TIMEOUT_MS of opening
// (a server that accepted while Redis was away), or no message at all — the server beats every
// 25 s — within SILENCE_TIMEOUT_MS. The feed closes it and reconnects, and the console shows
// the connection as lost meanwhile.

import { fetchAll } from "./api.js";

const MAX_BACKOFF_MS = 30000;
const HELLO_TIMEOUT_MS = 5000;
const SILENCE_TIMEOUT_MS = 60000;

export class LiveFeed {
  constructor({ onEvent, onReady, onConnection }) {
    this.onEvent = onEvent;
    this.onReady = onReady;
    this.onConnection = onConnection;
    this.lastSeq = null;
    this.seen = new Set();
    this.attempt = 0;
    this.replaying = null;
    this.replayAgain = false;
  }

  start() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${window.location.host}/ws/dashboard/`);
    this.socket = socket;
    this.greeted = false;
    socket.addEventListener("open", () => this.watch(socket, HELLO_TIMEOUT_MS));
    socket.addEventListener("message", (message) => {
      this.watch(socket, this.greeted ? SILENCE_TIMEOUT_MS : HELLO_TIMEOUT_MS);
      this.receive(JSON.parse(message.data));
    });
    socket.addEventListener("close", (event) => this.closed(event));
  }

  // (Re)arm the watchdog: if this socket says nothing in time, give up on it.
  watch(socket, milliseconds) {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      console.warn("the live connection is silent; reconnecting");
      socket.close();
    }, milliseconds);
  }

  async receive(message) {
    if (message.type === "hello") {
      this.greeted = true;
      this.watch(this.socket, SILENCE_TIMEOUT_MS);
      this.attempt = 0;
      this.onConnection(true);
      if (this.lastSeq === null) {
        this.lastSeq = message.seq;
        await this.onReady(message.user);
      }
      this.replay();
    } else if (message.type === "heartbeat") {
      if (message.seq > this.lastSeq) this.replay();
    } else if (this.lastSeq !== null) {
      if (message.seq > this.lastSeq + 1) this.replay();
      this.apply(message);
    }
  }

  apply(envelope) {
    if (this.seen.has(envelope.seq)) return;
    this.seen.add(envelope.seq);
    if (envelope.seq > this.lastSeq) this.lastSeq = envelope.seq;
    this.onEvent(envelope);
  }

  // One replay at a time; a request for another while one runs is folded into one more run.
  async replay() {
    if (this.replaying) {
      this.replayAgain = true;
      return;
    }
    this.replaying = (async () => {
      do {
        this.replayAgain = false;
        try {
          const missed = await fetchAll(`/api/v1/events/?after=${this.lastSeq}&page_size=500`);
          missed.forEach((envelope) => this.apply(envelope));
        } catch (error) {
          console.warn("replay failed", error);
        }
      } while (this.replayAgain);
    })();
    await this.replaying;
    this.replaying = null;
  }

  closed(event) {
    clearTimeout(this.watchdog);
    if (event.target !== this.socket) return; // an older socket, already replaced
    this.onConnection(false);
    if (event.code === 4401) {
      window.location.assign("/accounts/login/");
      return;
    }
    const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt += 1;
    setTimeout(() => this.start(), delay);
  }
}

// While the socket is down the console is greyed out and a large banner covers it: a screen
// that stopped updating must not pass for a quiet shift.
export function showConnection(online) {
  const label = document.getElementById("connection");
  label.hidden = online;
  label.textContent = online ? "" : gettext("Connection lost — reconnecting…");
  const overlay = document.getElementById("offline");
  if (overlay) {
    overlay.hidden = online;
    document.getElementById("offline-title").textContent = online ? "" : gettext("Connection lost — reconnecting…");
    document.getElementById("offline-detail").textContent = online
      ? ""
      : gettext("This screen is NOT updating: new callers and changes do not appear until it reconnects.");
  }
  document.body.dataset.online = online ? "true" : "false";
}

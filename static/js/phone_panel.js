// The softphone's strip on the command-centre console: its state in words, answer / mute /
// hold / hang-up buttons, and a loud red banner while a configured softphone cannot ring
// (an operator who cannot hear callers must know it at once).
//
// softphone.js (Twilio Voice SDK) is loaded only when the page says the softphone is
// configured; without it the console works in demo mode: a pick-up connects at once.

import { byId } from "./ui.js";

const STATUS_TEXT = () => ({
  unavailable: gettext("not configured"),
  offline: gettext("NOT CONNECTED"),
  registering: gettext("connecting…"),
  registered: gettext("ready"),
  ringing: gettext("RINGING"),
  "in-call": gettext("in call"),
  error: gettext("NOT WORKING"),
});

// Statuses that mean a caller put through to this operator would not be heard.
const DOWN = new Set(["offline", "error"]);
// A softphone still "registering" after this long is as good as down.
const REGISTERING_GRACE_MS = 10000;

export class PhonePanel {
  constructor({ configured, onChange = () => {} }) {
    this.configured = configured;
    this.onChange = onChange;
    this.phone = null;
    this.state = { status: "unavailable", reason: "", muted: false, onHold: false, caller: null };
    this.registeringSince = null;
  }

  async start() {
    this.bind();
    if (!this.configured) {
      this.render();
      return;
    }
    this.state = { ...this.state, status: "registering" };
    this.registeringSince = Date.now();
    this.render();
    try {
      const { Softphone } = await import("./softphone.js");
      this.phone = new Softphone({ onChange: (state) => this.update(state) });
      await this.phone.start();
    } catch (error) {
      this.update({ ...this.state, status: "error", reason: String(error?.message || error) });
    }
  }

  update(state) {
    if (state.status === "registering" && this.state.status !== "registering") this.registeringSince = Date.now();
    this.state = state;
    this.render();
    this.onChange(state);
  }

  get status() {
    return this.state.status;
  }

  get ringing() {
    return this.state.status === "ringing";
  }

  // Configured but unable to ring: the console warns loudly (banner and sound).
  down() {
    if (!this.configured) return false;
    if (DOWN.has(this.state.status)) return true;
    if (this.state.status === "unavailable") return true; // configured, yet no softphone here
    return this.state.status === "registering" && Date.now() - this.registeringSince > REGISTERING_GRACE_MS;
  }

  answer() {
    return Boolean(this.phone?.answer());
  }

  hangUp() {
    this.phone?.hangUp();
  }

  toggleMute() {
    if (this.state.status === "in-call") this.phone?.mute(!this.state.muted);
  }

  bind() {
    byId("sp-answer").addEventListener("click", () => this.answer());
    byId("sp-hangup").addEventListener("click", () => this.hangUp());
    byId("sp-mute").addEventListener("click", () => this.toggleMute());
    byId("sp-hold").addEventListener("click", () => this.phone?.hold(!this.state.onHold));
    byId("sp-microphone").addEventListener("click", () => this.phone?.requestMicrophone());
  }

  // Called every second too: "registering" turns into a warning after its grace period.
  render() {
    const { status, reason, muted, onHold, caller } = this.state;
    const box = byId("softphone");
    box.dataset.status = this.configured ? status : "demo";
    box.classList.toggle("down", this.down());
    byId("sp-status").textContent = this.configured
      ? STATUS_TEXT()[status] || status
      : gettext("Softphone not configured — demo mode: picked-up calls connect at once");
    byId("sp-caller").textContent = caller && (status === "ringing" || status === "in-call") ? caller : "";
    byId("sp-answer").hidden = status !== "ringing";
    byId("sp-hangup").hidden = !(status === "ringing" || status === "in-call");
    byId("sp-mute").hidden = status !== "in-call";
    byId("sp-hold").hidden = status !== "in-call";
    byId("sp-mute").classList.toggle("on", muted);
    byId("sp-mute").firstChild.textContent = `${muted ? gettext("Unmute") : gettext("Mute")} `;
    byId("sp-hold").classList.toggle("on", onHold);
    byId("sp-hold").textContent = onHold ? gettext("Resume") : gettext("Hold");
    byId("sp-microphone").hidden = !(this.configured && this.state.microphone === "prompt");
    const alert = byId("sp-alert");
    alert.hidden = !this.down();
    alert.textContent = this.down()
      ? `${gettext("SOFTPHONE NOT CONNECTED: callers you pick up cannot reach you.")} ${reason || ""}`.trim()
      : "";
    document.body.dataset.softphone = this.configured ? status : "demo";
  }
}

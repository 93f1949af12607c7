// The operator's browser softphone: Twilio Voice JS SDK 2.x (vendored, global `Twilio`).
//
// INTERFACE (all the console needs)
//
//   The page loads, in this order (classic scripts before the module):
//     <script src="{% url 'javascript-catalog' %}"></script>
//     <script src="{% static 'vendor/twilio-voice-sdk/twilio.min.js' %}"></script>
//     <script type="module" src="{% static 'js/command_centre.js' %}"></script>
//
//   import { Softphone } from "./softphone.js";
//   const phone = new Softphone({ onChange: (state) => render(state) });
//   await phone.start();   // never throws; gets a token, registers; the outcome is in the state
//   phone.answer();        // accept the ringing call            → true if there was one
//   phone.hangUp();        // reject the ringing call or end the call in progress
//   phone.mute(true);      // mute / unmute the operator's microphone
//   phone.hold(true);      // "hold": mute + a flag (see hold() below: no hold music)
//   await phone.requestMicrophone();  // ask for the microphone now (a user gesture, e.g. a
//                                     // button), so the first emergency call does not prompt
//   phone.available        // false when there is no softphone here (status "unavailable")
//   phone.state            // a copy of the latest state
//   phone.destroy();       // unregister and drop every listener
//
//   onChange(state) gets a fresh object on every change:
//     status:  "unavailable"  no softphone: not configured (token endpoint 503), not allowed
//                             (403), SDK not loaded, or no WebRTC in this browser/page
//              "offline"      not registered: no network, background tab paused, token lost;
//                             incoming calls cannot reach this console (a warning to show)
//              "registering"  connecting to Twilio
//              "registered"   ready: calls put through to this operator will ring
//              "ringing"      a call is ringing here (caller in `caller`)
//              "in-call"      talking
//              "error"        needs a person: microphone blocked, token refused, ...
//     reason:  human text (translated) saying why, "" when all is well
//     muted:   bool     onHold: bool
//     caller:  the ringing/connected party's number (Twilio's `From`), or null
//     microphone: "granted" | "prompt" | "denied" | "unknown" (Permissions API unsupported)

import { ApiError, api, explain } from "./api.js";

const TOKEN_PATH = "/api/v1/telephony/token/";
// The SDK warns this long before the token expires. Its reminder is a timer, and a background
// tab's timers can be held back by a minute or more, so leave plenty of margin.
const TOKEN_REFRESH_MS = 5 * 60 * 1000;
// After an unexpected unregistration the SDK retries its websocket itself; this is a backstop
// for when it gave up (e.g. the token expired while the tab slept).
const RETRY_MS = 15 * 1000;

const TOKEN_ERRORS = new Set([20101, 20104, 20151]);
const NETWORK_ERRORS = new Set([31005, 31009, 53001]);
const MICROPHONE_DENIED = 31401;
const MICROPHONE_FAILED = 31402;

export class Softphone {
  constructor({ onChange = () => {} } = {}) {
    this.onChange = onChange;
    this.device = null;
    this.call = null;
    this.permission = null;
    this.retryTimer = null;
    this.destroyed = false;
    this.mutedBeforeHold = false;
    // What is known; `state` is derived from it, so one event cannot hide another (a
    // registration must not clear "microphone blocked").
    this.facts = {
      unavailable: "",
      registration: "unregistered",
      callStatus: null,
      callWarning: "",
      error: "",
      microphone: "unknown",
      muted: false,
      onHold: false,
      caller: null,
    };
    this.current = this.derive();
    this.starting = false;
    // The network returning or a background tab coming back is the moment to re-register;
    // either also changes what the offline reason should say.
    this.wake = () => {
      this.update({});
      this.registerIfIdle();
    };
    this.recheck = () => this.update({});
  }

  get state() {
    return { ...this.current };
  }

  get available() {
    return this.current.status !== "unavailable";
  }

  async start() {
    if (this.device || this.starting || this.destroyed) return;
    this.starting = true;
    try {
      await this.startDevice();
    } finally {
      this.starting = false;
    }
  }

  async startDevice() {
    const Device = window.Twilio?.Device;
    if (!Device) {
      this.update({ unavailable: gettext("The softphone library is not loaded.") });
      return;
    }
    if (!Device.isSupported) {
      this.update({ unavailable: gettext("This browser cannot take calls here (WebRTC needs a secure HTTPS page).") });
      return;
    }
    const token = await this.fetchToken();
    if (!token) {
      // A server or network hiccup should not leave the console without a phone for good.
      if (!this.facts.unavailable && !this.destroyed) this.retryTimer = setTimeout(() => this.start(), RETRY_MS);
      return;
    }
    if (this.destroyed) return;
    await this.watchMicrophone();
    try {
      this.device = new Device(token, {
        tokenRefreshMs: TOKEN_REFRESH_MS,
        // Closing the tab mid-call would drop an emergency caller: ask first.
        closeProtection: true,
        codecPreferences: ["opus", "pcmu"],
        appName: "dispatch-112",
      });
    } catch (error) {
      this.update({ unavailable: error.message || String(error) });
      return;
    }
    this.listenToDevice();
    this.listenToPage();
    await this.registerIfIdle();
  }

  answer() {
    if (!this.call || this.facts.callStatus !== "pending") return false;
    this.call.accept();
    return true;
  }

  hangUp() {
    if (!this.call) return;
    if (this.facts.callStatus === "pending") this.call.reject();
    else this.call.disconnect();
  }

  mute(on) {
    if (!this.call) return;
    this.call.mute(Boolean(on));
    // Unmuting takes the call off "hold": hold is only a mute.
    if (!on) this.update({ onHold: false });
  }

  // The Voice SDK has no hold: a true hold (music for the caller) needs the call moved into a
  // conference on the server, which is out of scope. Here the operator's microphone is muted
  // and the flag shown; the caller hears silence and the operator still hears the caller.
  hold(on) {
    if (!this.call || this.facts.callStatus === "pending") return;
    if (on && !this.facts.onHold) this.mutedBeforeHold = this.facts.muted;
    this.update({ onHold: Boolean(on) });
    this.call.mute(on ? true : this.mutedBeforeHold);
  }

  // Opening and closing the microphone once settles the browser's permission prompt before a
  // call rings, instead of while a caller waits.
  async requestMicrophone() {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      stream.getTracks().forEach((track) => track.stop());
      this.update({ microphone: "granted", error: "" });
      return true;
    } catch (error) {
      const denied = error?.name === "NotAllowedError";
      this.update(denied ? { microphone: "denied" } : { error: gettext("No microphone could be opened. Check that one is connected and not used by another program.") });
      return false;
    }
  }

  destroy() {
    this.destroyed = true;
    clearTimeout(this.retryTimer);
    window.removeEventListener("online", this.wake);
    window.removeEventListener("offline", this.recheck);
    document.removeEventListener("visibilitychange", this.wake);
    if (this.permission) this.permission.onchange = null;
    if (this.device) this.device.destroy();
    this.device = null;
    this.call = null;
  }

  // --- token ---

  async fetchToken() {
    try {
      const { token } = await api(TOKEN_PATH);
      return token;
    } catch (error) {
      this.update(tokenProblem(error));
      return null;
    }
  }

  async refreshToken() {
    const token = await this.fetchToken();
    if (!token || !this.device || this.destroyed) return;
    this.device.updateToken(token);
    this.update({ error: "" });
    await this.registerIfIdle();
  }

  // --- registration ---

  async registerIfIdle() {
    if (!this.device || this.destroyed || this.device.state !== "unregistered") return;
    try {
      await this.device.register();
    } catch (error) {
      // The device's "error" event has already described it; keep the rejection quiet.
      console.info("softphone registration failed", error);
    }
  }

  scheduleRetry() {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.registerIfIdle();
    }, RETRY_MS);
  }

  listenToDevice() {
    const device = this.device;
    device.on("registering", () => this.update({ registration: "registering" }));
    device.on("registered", () => {
      clearTimeout(this.retryTimer);
      this.update({ registration: "registered", error: "" });
    });
    device.on("unregistered", () => {
      this.update({ registration: "unregistered" });
      if (!this.destroyed) this.scheduleRetry();
    });
    device.on("error", (error) => this.onDeviceError(error));
    device.on("incoming", (call) => this.ring(call));
    device.on("tokenWillExpire", () => this.refreshToken());
  }

  listenToPage() {
    window.addEventListener("online", this.wake);
    window.addEventListener("offline", this.recheck);
    document.addEventListener("visibilitychange", this.wake);
  }

  onDeviceError(error) {
    const code = error?.code;
    if (code === 20104) {
      this.refreshToken();
    } else if (TOKEN_ERRORS.has(code)) {
      this.update({ error: gettext("Twilio refused the softphone token. Ask an administrator to check the Twilio settings.") });
    } else if (code === MICROPHONE_DENIED) {
      this.update({ microphone: "denied" });
    } else if (code === MICROPHONE_FAILED) {
      this.update({ error: gettext("No microphone could be opened. Check that one is connected and not used by another program.") });
    } else if (NETWORK_ERRORS.has(code)) {
      this.update({ registration: this.device?.state || "unregistered" });
    } else if (this.call) {
      this.update({ callWarning: error?.message || String(error) });
    } else {
      this.update({ error: error?.message || String(error) });
    }
  }

  // --- calls ---

  ring(call) {
    this.call = call;
    this.mutedBeforeHold = false;
    call.on("accept", () => this.update({ callStatus: "open" }));
    call.on("mute", (muted) => this.update({ muted }));
    call.on("reconnecting", () => this.update({ callWarning: gettext("The call connection is unstable; reconnecting…") }));
    call.on("reconnected", () => this.update({ callWarning: "" }));
    call.on("error", (error) => this.onDeviceError(error));
    ["disconnect", "cancel", "reject"].forEach((name) => call.on(name, () => this.endCall(call)));
    this.update({ callStatus: "pending", caller: callerOf(call), muted: false, onHold: false, callWarning: "" });
  }

  endCall(call) {
    if (this.call !== call) return;
    this.call = null;
    this.update({ callStatus: null, caller: null, muted: false, onHold: false, callWarning: "" });
  }

  // --- microphone ---

  // Firefox and older Safari do not know the "microphone" permission name; there the browser
  // asks on the first call and the state says "unknown".
  async watchMicrophone() {
    try {
      const status = await navigator.permissions.query({ name: "microphone" });
      this.permission = status;
      status.onchange = () => this.update({ microphone: status.state });
      this.update({ microphone: status.state });
    } catch (error) {
      console.info("microphone permission cannot be queried here", error);
    }
  }

  // --- state ---

  update(patch) {
    Object.assign(this.facts, patch);
    const next = this.derive();
    if (JSON.stringify(next) === JSON.stringify(this.current)) return;
    this.current = next;
    this.onChange({ ...next });
  }

  derive() {
    const facts = this.facts;
    const base = { muted: facts.muted, onHold: facts.onHold, caller: facts.caller, microphone: facts.microphone };
    const blocked = microphoneReason(facts.microphone) || facts.error;
    if (facts.unavailable) return { ...base, status: "unavailable", reason: facts.unavailable };
    if (facts.callStatus === "pending") return { ...base, status: "ringing", reason: blocked };
    if (facts.callStatus) return { ...base, status: "in-call", reason: facts.callWarning };
    if (blocked) return { ...base, status: "error", reason: blocked };
    if (facts.registration === "registered") return { ...base, status: "registered", reason: "" };
    if (facts.registration === "registering") return { ...base, status: "registering", reason: "" };
    return { ...base, status: "offline", reason: this.device ? offlineReason() : "" };
  }
}

function tokenProblem(error) {
  if (error instanceof ApiError && (error.status === 503 || error.status === 403)) {
    return { unavailable: error.data?.detail || gettext("The softphone is not available.") };
  }
  return { error: `${gettext("Could not get a softphone token:")} ${explain(error)}` };
}

function microphoneReason(microphone) {
  if (microphone !== "denied") return "";
  return gettext("The microphone is blocked for this site. Allow it in the browser's site settings to take calls.");
}

function offlineReason() {
  if (!navigator.onLine) return gettext("This computer is offline: calls cannot reach this console.");
  if (document.hidden) return gettext("Not registered: the browser may have paused this background tab. Bring the console to the front.");
  return gettext("Not registered: calls cannot reach this console. Reconnecting…");
}

// Twilio's `From` for a call put through by the platform is the citizen's number; a call from
// another browser client reads "client:<identity>".
function callerOf(call) {
  const from = call.parameters?.From || "";
  return from.replace(/^client:/, "") || null;
}
